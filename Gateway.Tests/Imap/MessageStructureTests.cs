using System.Text;
using Gateway.Imap;

namespace Gateway.Tests.Imap;

public class MessageStructureTests
{
    /// <summary>The message with CRLF line breaks (the test texts are written with LF).</summary>
    static byte[] Crlf(string text) => Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n").Replace("\n", "\r\n"));

    static (MessageStructure Structure, MemoryStream Stream) Parse(byte[] octets)
    {
        var stream = new MemoryStream(octets, writable: false);
        return (MessageStructure.Parse(stream), stream);
    }

    static BodySection Section(string spec) =>
        FetchAttributes.Parse(new ImapValue.Atom("BODY[" + spec + "]"))[0].Section!;

    static string Fetch(MessageStructure structure, Stream stream, string spec) =>
        Encoding.UTF8.GetString(structure.Resolve(Section(spec), stream).ToArray(stream));

    const string Simple = """
        From: Alice <alice@example.org>
        To: bob@example.com
        Subject: Hi
        Date: Mon, 2 Feb 2026 10:00:00 +0000
        Message-ID: <1@example.org>

        Hello world

        """;

    const string SimpleHeader = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hi\r\n"
                                + "Date: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n";

    [Fact]
    public void Message_without_content_type_is_text_plain_us_ascii()
    {
        var (s, stream) = Parse(Crlf(Simple));
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL)", s.BodyStructure(true));
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1)", s.BodyStructure(false));
        Assert.Equal("(\"Mon, 2 Feb 2026 10:00:00 +0000\" \"Hi\" ((\"Alice\" NIL \"alice\" \"example.org\")) "
                     + "((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) "
                     + "((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL \"<1@example.org>\")", s.Envelope);
        Assert.Equal(stream.Length, s.Size);
    }

    [Fact]
    public void Sections_of_a_single_part_message()
    {
        var octets = Crlf(Simple);
        var (s, stream) = Parse(octets);
        Assert.Equal(Encoding.UTF8.GetString(octets), Fetch(s, stream, ""));
        Assert.Equal(SimpleHeader, Fetch(s, stream, "HEADER"));
        Assert.Equal("Hello world\r\n", Fetch(s, stream, "TEXT"));
        Assert.Equal("Hello world\r\n", Fetch(s, stream, "1"));
        Assert.Equal(SimpleHeader, Fetch(s, stream, "1.MIME"));
        Assert.Equal(new SectionContent(0, octets.Length), s.Rfc822);
        Assert.Equal(new SectionContent(0, SimpleHeader.Length), s.Rfc822Header);
        Assert.Equal(new SectionContent(SimpleHeader.Length, 13), s.Rfc822Text);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("1.1")]
    [InlineData("1.HEADER")]
    [InlineData("1.TEXT")]
    [InlineData("2.MIME")]
    public void Nonexistent_sections_of_a_single_part_message_are_empty(string spec)
    {
        var (s, stream) = Parse(Crlf(Simple));
        Assert.Equal(0, s.Resolve(Section(spec), stream).Length);
    }

    [Fact]
    public void Header_only_message_without_blank_line_has_an_empty_body()
    {
        var octets = Encoding.ASCII.GetBytes("From: a@example.org\r\nSubject: no body");
        var (s, stream) = Parse(octets);
        Assert.Equal(octets.Length, s.Size);
        Assert.Equal(octets.Length, s.Root.HeaderEnd);
        Assert.Equal("From: a@example.org\r\nSubject: no body", Fetch(s, stream, "HEADER"));
        Assert.Equal("", Fetch(s, stream, "TEXT"));
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)", s.BodyStructure(true));
        Assert.Equal("(NIL \"no body\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
                     + "((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)", s.Envelope);
        Assert.Null(s.Date);
    }

    [Fact]
    public void Empty_message_does_not_break_anything()
    {
        var (s, stream) = Parse([]);
        Assert.Equal(0, s.Size);
        Assert.Equal("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", s.Envelope);
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)", s.BodyStructure(false));
        Assert.Equal("", Fetch(s, stream, "TEXT"));
    }

    const string Complex = """
        From: "Doe, John \"JJ\"" <john@example.org>
        To: Team: ann@example.org, "Bob B" <bob@example.org>;, carol@example.org (Carol C)
        Cc: undisclosed-recipients:;
        Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=
         folded
        Date: Tue, 3 Feb 2026 08:15:00 +0100
        Message-ID: <m2@example.org>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="outer"

        This is the preamble.
        --outer
        Content-Type: multipart/alternative; boundary=inner

        --inner
        Content-Type: text/plain; charset=utf-8

        Plain body
        --inner
        Content-Type: text/html; charset=utf-8
        Content-Transfer-Encoding: quoted-printable

        <p>Html</p>

        --inner--
        --outer
        Content-Type: application/octet-stream; name="data.bin"
        Content-Transfer-Encoding: base64
        Content-Disposition: attachment; filename="data.bin"

        AAECAwQFBgc=
        --outer
        Content-Type: message/rfc822
        Content-Description: forwarded

        From: Carol <carol@example.org>
        Subject: Inner
        Content-Type: text/plain

        Inner body
        line 2
        --outer--
        Epilogue

        """;

    const string InnerEnvelope = "(NIL \"Inner\" ((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL \"carol\" \"example.org\")) "
                                 + "((\"Carol\" NIL \"carol\" \"example.org\")) NIL NIL NIL NIL NIL)";

    [Fact]
    public void Bodystructure_of_nested_multiparts_with_attachment_and_message()
    {
        var (s, _) = Parse(Crlf(Complex));
        var expected =
            "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)"
            + "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 13 1 NIL NIL NIL NIL)"
            + " \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
            + "(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 12 NIL (\"attachment\" (\"filename\" \"data.bin\")) NIL NIL)"
            + "(\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7bit\" 95 " + InnerEnvelope
            + " (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1 NIL NIL NIL NIL) 5 NIL NIL NIL NIL)"
            + " \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)";
        Assert.Equal(expected, s.BodyStructure(true));

        var body =
            "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 0)"
            + "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 13 1) \"alternative\")"
            + "(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 12)"
            + "(\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7bit\" 95 " + InnerEnvelope
            + " (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1) 5) \"mixed\")";
        Assert.Equal(body, s.BodyStructure(false));
    }

    [Fact]
    public void Envelope_with_groups_quoted_names_comments_and_raw_encoded_words()
    {
        var (s, _) = Parse(Crlf(Complex));
        var from = "((\"Doe, John \\\"JJ\\\"\" NIL \"john\" \"example.org\"))";
        Assert.Equal(
            "(\"Tue, 3 Feb 2026 08:15:00 +0100\" \"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= folded\" " + from + " " + from + " " + from + " "
            + "((NIL NIL \"Team\" NIL)(NIL NIL \"ann\" \"example.org\")(\"Bob B\" NIL \"bob\" \"example.org\")(NIL NIL NIL NIL)"
            + "(\"Carol C\" NIL \"carol\" \"example.org\")) "
            + "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL \"<m2@example.org>\")",
            s.Envelope);
        Assert.Equal(new DateTimeOffset(2026, 2, 3, 8, 15, 0, TimeSpan.FromHours(1)), s.Date);
    }

    [Fact]
    public void Part_sections_of_nested_multiparts()
    {
        var (s, stream) = Parse(Crlf(Complex));
        Assert.Equal("Plain body", Fetch(s, stream, "1.1"));
        Assert.Equal("<p>Html</p>\r\n", Fetch(s, stream, "1.2"));
        Assert.Equal("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", Fetch(s, stream, "1.2.MIME"));
        Assert.Equal("Content-Type: multipart/alternative; boundary=inner\r\n\r\n", Fetch(s, stream, "1.MIME"));
        Assert.Equal("--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain body\r\n--inner\r\n"
                     + "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Html</p>\r\n\r\n--inner--",
            Fetch(s, stream, "1"));
        Assert.Equal("AAECAwQFBgc=", Fetch(s, stream, "2"));
        Assert.StartsWith("This is the preamble.\r\n--outer\r\n", Fetch(s, stream, "TEXT"));
        Assert.EndsWith("--outer--\r\nEpilogue\r\n", Fetch(s, stream, "TEXT"));
    }

    [Fact]
    public void Sections_of_an_encapsulated_message()
    {
        var (s, stream) = Parse(Crlf(Complex));
        const string innerHeader = "From: Carol <carol@example.org>\r\nSubject: Inner\r\nContent-Type: text/plain\r\n\r\n";
        Assert.Equal(innerHeader + "Inner body\r\nline 2", Fetch(s, stream, "3"));
        Assert.Equal(innerHeader, Fetch(s, stream, "3.HEADER"));
        Assert.Equal("Inner body\r\nline 2", Fetch(s, stream, "3.TEXT"));
        Assert.Equal("Inner body\r\nline 2", Fetch(s, stream, "3.1"));
        Assert.Equal(innerHeader, Fetch(s, stream, "3.1.MIME"));
        Assert.Equal("Subject: Inner\r\n\r\n", Fetch(s, stream, "3.HEADER.FIELDS (subject)"));
        Assert.Equal("Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n", Fetch(s, stream, "3.MIME"));
    }

    [Theory]
    [InlineData("4")]
    [InlineData("1.3")]
    [InlineData("1.1.1")]
    [InlineData("2.1")]
    [InlineData("2.HEADER")]
    [InlineData("2.TEXT")]
    [InlineData("1.HEADER.FIELDS (Subject)")]
    [InlineData("3.2")]
    [InlineData("3.1.1")]
    [InlineData("99.1")]
    public void Nonexistent_part_numbers_give_the_empty_string(string spec)
    {
        var (s, stream) = Parse(Crlf(Complex));
        var content = s.Resolve(Section(spec), stream);
        Assert.Equal(0, content.Length);
        Assert.Empty(content.ToArray(stream));
    }

    const string Forward = """
        From: a@example.org
        Content-Type: multipart/mixed; boundary=b1

        --b1
        Content-Type: text/plain

        See below.

        --b1
        Content-Type: message/rfc822

        From: sub@example.org
        To: t1@example.org, t2@example.org
        Subject: sub
        Content-Type: multipart/alternative; boundary="b2"

        Prologue
        --b2
        Content-Type: text/html
        Content-Transfer-Encoding: 8bit

        <p>Hi</p>

        --b2
        Content-Type: text/plain
        Content-Transfer-Encoding: ?invalid

        Hi

        --b2--
        Sub epilogue

        --b1--

        """;

    [Fact]
    public void Multipart_inside_an_encapsulated_message()
    {
        var (s, stream) = Parse(Crlf(Forward));
        const string sub = "From: sub@example.org\r\nTo: t1@example.org, t2@example.org\r\nSubject: sub\r\n"
                           + "Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\nPrologue\r\n--b2\r\nContent-Type: text/html\r\n"
                           + "Content-Transfer-Encoding: 8bit\r\n\r\n<p>Hi</p>\r\n\r\n--b2\r\nContent-Type: text/plain\r\n"
                           + "Content-Transfer-Encoding: ?invalid\r\n\r\nHi\r\n\r\n--b2--\r\nSub epilogue\r\n";
        Assert.Equal(sub, Fetch(s, stream, "2"));
        var lines = sub.Count(c => c == '\n');
        var envelope = "(NIL \"sub\" ((NIL NIL \"sub\" \"example.org\")) ((NIL NIL \"sub\" \"example.org\")) ((NIL NIL \"sub\" \"example.org\")) "
                       + "((NIL NIL \"t1\" \"example.org\")(NIL NIL \"t2\" \"example.org\")) NIL NIL NIL NIL)";
        Assert.Equal(
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL)"
            + "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" " + Encoding.ASCII.GetByteCount(sub) + " " + envelope
            + " ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 11 1 NIL NIL NIL NIL)"
            + "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1 NIL NIL NIL NIL)"
            + " \"alternative\" (\"boundary\" \"b2\") NIL NIL NIL) " + lines + " NIL NIL NIL NIL)"
            + " \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
            s.BodyStructure(true));
        Assert.Equal("<p>Hi</p>\r\n", Fetch(s, stream, "2.1"));
        Assert.Equal("Hi\r\n", Fetch(s, stream, "2.2"));
        Assert.Equal("Content-Type: text/plain\r\nContent-Transfer-Encoding: ?invalid\r\n\r\n", Fetch(s, stream, "2.2.MIME"));
        Assert.Equal("Prologue", Fetch(s, stream, "2.TEXT")[..8]);
        Assert.Equal("", Fetch(s, stream, "2.3"));
    }

    [Fact]
    public void Lf_only_line_endings_give_exact_offsets()
    {
        var text = Complex.Replace("\r\n", "\n");
        var octets = Encoding.UTF8.GetBytes(text);
        var (s, stream) = Parse(octets);
        Assert.Equal(octets.Length, s.Size);
        Assert.Equal(text.IndexOf("\n\n", StringComparison.Ordinal) + 2, s.Root.HeaderEnd);
        Assert.Equal("Plain body", Fetch(s, stream, "1.1"));
        Assert.Equal("<p>Html</p>\n", Fetch(s, stream, "1.2"));
        Assert.Equal("AAECAwQFBgc=", Fetch(s, stream, "2"));
        Assert.Equal("Inner body\nline 2", Fetch(s, stream, "3.TEXT"));
        Assert.Equal("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n", Fetch(s, stream, "1.2.MIME"));
        Assert.Contains("\"7bit\" 90 " + InnerEnvelope, s.BodyStructure(true)); // 95 octets less five CRs
        Assert.Equal("Subject: Inner\n\r\n", Fetch(s, stream, "3.HEADER.FIELDS (Subject)"));
    }

    [Fact]
    public void Eight_bit_subject_is_sent_as_a_literal()
    {
        var (s, _) = Parse(Crlf("Subject: Grüße\nFrom: x@example.org\n\nbody\n"));
        Assert.StartsWith("(NIL {7}\r\nGrüße ((NIL NIL \"x\" \"example.org\"))", s.Envelope);
        Assert.Equal("Grüße", s.HeaderValues("subject").Single());
    }

    [Fact]
    public void Latin1_header_octets_are_kept_one_for_one()
    {
        var octets = Encoding.Latin1.GetBytes("Subject: Gr\u00fc\u00dfe\r\n\r\n");
        var (s, _) = Parse(octets);
        Assert.Equal("Gr\u00fc\u00dfe", s.HeaderValues("Subject").Single());
        Assert.StartsWith("(NIL {7}\r\nGrüße NIL", s.Envelope);
    }

    [Fact]
    public void Quoting_escapes_and_literals()
    {
        Assert.Equal("\"a \\\"b\\\" c\\\\\"", ImapQuoting.NString("a \"b\" c\\"));
        Assert.Equal("NIL", ImapQuoting.NString(null));
        Assert.Equal("\"\"", ImapQuoting.NString(""));
        Assert.Equal("{3}\r\na\rb", ImapQuoting.NString("a\rb"));
        Assert.Equal("{2}\r\né", ImapQuoting.NString("é"));
    }

    [Fact]
    public void Address_forms()
    {
        Assert.Equal("((NIL NIL \"john.doe\" \"example.org\"))", ImapEnvelope.AddressList(" john.doe @ example.org "));
        Assert.Equal("((\"John Q. Public\" NIL \"jqp\" \"example.org\"))", ImapEnvelope.AddressList("John Q. Public <jqp@example.org>"));
        Assert.Equal("((\"=?UTF-8?B?w6k=?= x\" NIL \"a\" \"example.org\"))", ImapEnvelope.AddressList("=?UTF-8?B?w6k=?= x <a@example.org>"));
        Assert.Equal("((NIL \"@relay.example\" \"a\" \"example.org\"))", ImapEnvelope.AddressList("<@relay.example:a@example.org>"));
        Assert.Equal("((NIL NIL \"a b\" \"[192.0.2.1]\"))", ImapEnvelope.AddressList("\"a b\"@[192.0.2.1]"));
        Assert.Equal("((NIL NIL \"postmaster\" \"MISSING_DOMAIN\"))", ImapEnvelope.AddressList("postmaster"));
        Assert.Equal("((NIL NIL \"\" \"\"))", ImapEnvelope.AddressList("<>"));
        Assert.Equal("((NIL NIL \"g\" NIL)(NIL NIL NIL NIL))", ImapEnvelope.AddressList("g: ;"));
        Assert.Null(ImapEnvelope.AddressList("  "));
        Assert.Null(ImapEnvelope.AddressList("(just a comment)"));
    }

    [Fact]
    public void Sender_and_reply_to_default_to_from_only_when_absent_or_empty()
    {
        var (s, _) = Parse(Crlf("From: a@example.org\nSender:\nReply-To: r@example.org\n\n"));
        Assert.Equal("(NIL NIL ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"r\" \"example.org\")) NIL NIL NIL NIL NIL)", s.Envelope);
    }

    const string FieldsMessage = """
        Subject: a long
        	subject line
        X-Other: z
        from: x@example.org
        SUBJECT: second
        Received: by relay
         with folding

        body

        """;

    [Fact]
    public void Header_fields_are_case_insensitive_and_keep_folded_lines_whole()
    {
        var (s, stream) = Parse(Crlf(FieldsMessage));
        Assert.Equal("Subject: a long\r\n\tsubject line\r\nfrom: x@example.org\r\nSUBJECT: second\r\n\r\n", Fetch(s, stream, "HEADER.FIELDS (Subject From)"));
        Assert.Equal("Subject: a long\r\n\tsubject line\r\nfrom: x@example.org\r\nSUBJECT: second\r\n\r\n", Fetch(s, stream, "HEADER.FIELDS (FROM subject)"));
        Assert.Equal("X-Other: z\r\nReceived: by relay\r\n with folding\r\n\r\n", Fetch(s, stream, "HEADER.FIELDS.NOT (subject FROM)"));
        Assert.Equal("\r\n", Fetch(s, stream, "HEADER.FIELDS (Cc)"));
        Assert.StartsWith("Subject: a long\r\n\tsubject line\r\nX-Other: z\r\n", Fetch(s, stream, "1.MIME"));
    }

    [Fact]
    public void Header_fields_of_a_header_without_blank_line_end_with_one()
    {
        var (s, stream) = Parse(Encoding.ASCII.GetBytes("To: a@example.org\r\nSubject: s"));
        Assert.Equal("Subject: s\r\n\r\n", Fetch(s, stream, "HEADER.FIELDS (Subject)"));
    }

    [Fact]
    public void Partial_fetch_bounds()
    {
        var (s, stream) = Parse(Crlf(Simple));
        var text = s.Resolve(Section("TEXT"), stream); // "Hello world\r\n", 13 octets
        Assert.Equal("Hello", Encoding.ASCII.GetString(text.Partial(0, 5).ToArray(stream)));
        Assert.Equal("world\r\n", Encoding.ASCII.GetString(text.Partial(6, 100).ToArray(stream)));
        Assert.Equal("\n", Encoding.ASCII.GetString(text.Partial(12, 1).ToArray(stream)));
        Assert.Equal(0, text.Partial(13, 1).Length);
        Assert.Equal(0, text.Partial(1000, 10).Length);

        var fields = s.Resolve(Section("HEADER.FIELDS (Subject)"), stream); // "Subject: Hi\r\n\r\n"
        Assert.Equal("Hi\r\n", Encoding.ASCII.GetString(fields.Partial(9, 4).ToArray(stream)));
        Assert.Equal(0, fields.Partial(15, 4).Length);
    }

    [Fact]
    public async Task Sections_stream_out_exactly()
    {
        var octets = Crlf(Complex);
        var (s, stream) = Parse(octets);
        foreach (var spec in new[] { "", "TEXT", "HEADER", "1.2", "3.HEADER.FIELDS (From)" })
        {
            var content = s.Resolve(Section(spec), stream);
            var output = new MemoryStream();
            await content.CopyToAsync(stream, output);
            Assert.Equal(content.Length, output.Length);
            Assert.Equal(content.ToArray(stream), output.ToArray());
        }
        var whole = new MemoryStream();
        await s.Rfc822.Partial(10, 1_000_000).CopyToAsync(stream, whole);
        Assert.Equal(octets.AsSpan(10).ToArray(), whole.ToArray());
    }

    [Fact]
    public void Structure_survives_json_and_litedb_round_trips()
    {
        var (s, stream) = Parse(Crlf(Complex));
        var json = s.ToJson();
        var copy = MessageStructure.FromJson(json);
        Assert.Equal(s.BodyStructure(true), copy.BodyStructure(true));
        Assert.Equal(s.Envelope, copy.Envelope);
        Assert.Equal(s.Size, copy.Size);
        Assert.Equal("Inner body\r\nline 2", Fetch(copy, stream, "3.1"));
        Assert.Equal(json, copy.ToJson());
        Assert.DoesNotContain("\\u0022", json);

        var document = LiteDB.BsonMapper.Global.ToDocument(s);
        var fromBson = LiteDB.BsonMapper.Global.ToObject<MessageStructure>(document);
        Assert.Equal(s.BodyStructure(true), fromBson.BodyStructure(true));
        Assert.Equal(s.Envelope, fromBson.Envelope);
        Assert.Equal(s.HeaderFields.Count, fromBson.HeaderFields.Count);
    }

    [Fact]
    public void Search_helpers_see_raw_and_decoded_headers()
    {
        var (s, _) = Parse(Crlf(Complex));
        Assert.Equal(8, s.Headers.Count());
        Assert.Equal(("Subject", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= folded"), s.Headers.ElementAt(3));
        Assert.Equal("Grüße folded", s.DecodedHeaderValues("SUBJECT").Single());
        Assert.True(s.HeaderContains("subject", "grÜße"));
        Assert.True(s.HeaderContains("Cc", ""));
        Assert.False(s.HeaderContains("Bcc", ""));
        Assert.False(s.HeaderContains("Subject", "hello"));
    }

    [Fact]
    public async Task Body_search_decodes_transfer_encoding_and_charset()
    {
        var message = Crlf("""
            Content-Type: multipart/mixed; boundary=x

            --x
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: base64

            R3LDvMOfZSBhdXMgS8O2bG4=
            --x
            Content-Type: text/plain; charset=iso-8859-1
            Content-Transfer-Encoding: quoted-printable

            Sch=F6ne Gr=FC=DFe, split across a soft=
             line break
            --x
            Content-Type: application/octet-stream

            secret binary
            --x--

            """);
        var (s, stream) = Parse(message);
        Assert.True(await MessageStructure.BodyContainsAsync(stream, s, "KÖLN"));
        Assert.True(await MessageStructure.BodyContainsAsync(stream, s, "schöne grüße"));
        Assert.True(await MessageStructure.BodyContainsAsync(stream, s, "soft line"));
        Assert.False(await MessageStructure.BodyContainsAsync(stream, s, "secret"));
        Assert.False(await MessageStructure.BodyContainsAsync(stream, s, "R3LD"));

        var (complex, complexStream) = Parse(Crlf(Complex));
        Assert.True(await MessageStructure.BodyContainsAsync(complexStream, complex, "LINE 2"));
        Assert.True(await MessageStructure.BodyContainsAsync(complexStream, complex, "<p>html"));
    }

    [Fact]
    public void Parameters_rfc2231_continuations_digest_default_and_languages()
    {
        var (s, _) = Parse(Crlf("""
            Content-Type: multipart/digest; boundary="d"

            --d

            From: a@example.org

            x
            --d
            Content-Type: text/plain; format=flowed
            Content-Disposition: inline; filename*0*=utf-8''%E2%82%AC; filename*1=" rates.txt"
            Content-Language: en, de (German)
            Content-Location: http://example.org/
             a.txt
            Content-ID: <id@x>
            Content-MD5: Q2hlY2s=

            y
            --d--

            """));
        var structure = s.BodyStructure(true);
        Assert.StartsWith("((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 24 (NIL NIL ((NIL NIL \"a\" \"example.org\"))", structure);
        Assert.Contains("(\"text\" \"plain\" (\"format\" \"flowed\") \"<id@x>\" NIL \"7bit\" 1 0 \"Q2hlY2s=\" "
                        + "(\"inline\" (\"filename*\" \"utf-8''%E2%82%AC%20rates.txt\")) (\"en\" \"de\") \"http://example.org/a.txt\") \"digest\"", structure);
    }

    [Fact]
    public void Content_type_comments_folding_and_unquoted_values()
    {
        var (s, _) = Parse(Crlf("Content-Type: text/plain; charset=us-ascii (Plain text);\n name=my file.txt;\n title=\"a \\\"b\\\" (c)\"\nContent-Transfer-Encoding: 8bit (raw)\n\nx"));
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" \"my file.txt\" \"title\" \"a \\\"b\\\" (c)\") NIL NIL \"8bit\" 1 0)", s.BodyStructure(false));
    }

    [Fact]
    public void Multipart_without_any_part_shows_an_empty_text_part()
    {
        var (s, _) = Parse(Crlf("Content-Type: multipart/mixed; boundary=x\n\nno parts here\n"));
        Assert.Equal("((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", s.BodyStructure(true));
    }

    [Fact]
    public void Truncated_multipart_and_long_lines()
    {
        var longLine = new string('A', 200_000);
        var (s, stream) = Parse(Crlf($"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\n{longLine}\nshort\n--x\n\nlast part, no close-delimiter"));
        Assert.Equal(longLine + "\r\nshort", Fetch(s, stream, "1"));
        Assert.Equal("last part, no close-delimiter", Fetch(s, stream, "2"));
        Assert.Contains("\"7bit\" 200007 1 ", s.BodyStructure(true));
        Assert.Equal("\r\n", Fetch(s, stream, "2.MIME"));
    }

    [Fact]
    public void Boundary_that_prefixes_another_is_not_confused_with_it()
    {
        var (s, stream) = Parse(Crlf("""
            Content-Type: multipart/mixed; boundary=ab

            --ab
            Content-Type: multipart/alternative; boundary=abc

            --abc

            one
            --abcd is text, not a boundary
            --abc--
            --ab--

            """));
        Assert.Equal("one\r\n--abcd is text, not a boundary", Fetch(s, stream, "1.1"));
        Assert.Equal("", Fetch(s, stream, "2"));
    }

    /// <summary>Every leaf part MimeKit's own parser finds, by IMAP part number, with its raw (still encoded) content.</summary>
    static void MimeKitLeaves(MimeKit.MimeEntity entity, string number, bool isMessageBody, Dictionary<string, byte[]> leaves)
    {
        switch (entity)
        {
            case MimeKit.Multipart multipart:
                for (var i = 0; i < multipart.Count; i++)
                    MimeKitLeaves(multipart[i], (number.Length > 0 ? number + "." : "") + (i + 1), false, leaves);
                break;
            case MimeKit.MessagePart { Message.Body: { } inner }:
                MimeKitLeaves(inner, number, true, leaves);
                break;
            case MimeKit.MimePart { Content.Stream: { } content }:
                var raw = new MemoryStream();
                content.Seek(0, SeekOrigin.Begin);
                content.CopyTo(raw);
                leaves[isMessageBody ? (number.Length > 0 ? number + "." : "") + "1" : number] = raw.ToArray();
                break;
        }
    }

    [Theory]
    [InlineData("Complex", false)]
    [InlineData("Complex", true)]
    [InlineData("Forward", false)]
    [InlineData("Forward", true)]
    [InlineData("Simple", false)]
    public void Part_bodies_match_what_mimekit_parses(string name, bool lfOnly)
    {
        var text = name switch { "Complex" => Complex, "Forward" => Forward, _ => Simple };
        var octets = lfOnly ? Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n")) : Crlf(text);
        var (s, stream) = Parse(octets);
        var leaves = new Dictionary<string, byte[]>();
        MimeKitLeaves(MimeKit.MimeMessage.Load(new MemoryStream(octets)).Body!, "", true, leaves);
        Assert.NotEmpty(leaves);
        foreach (var (number, content) in leaves)
            Assert.Equal(Encoding.UTF8.GetString(content), Fetch(s, stream, number));
    }

    static void AssertNested(StructurePart part, long start, long end)
    {
        Assert.InRange(part.HeaderStart, start, end);
        Assert.InRange(part.HeaderEnd, part.HeaderStart, end);
        Assert.InRange(part.BodyEnd, part.HeaderEnd, end);
        foreach (var child in part.Parts ?? []) AssertNested(child, part.HeaderEnd, part.BodyEnd);
        if (part.Message is { } message) AssertNested(message, part.HeaderEnd, part.BodyEnd);
    }

    [Fact]
    public void Every_truncation_of_a_message_parses_consistently()
    {
        var octets = Crlf(Complex + Forward);
        for (var length = 0; length <= octets.Length; length++)
        {
            var (s, stream) = Parse(octets[..length]);
            Assert.Equal(length, s.Size);
            AssertNested(s.Root, 0, length);
            Assert.StartsWith("(", s.BodyStructure(true));
            Assert.StartsWith("(", s.Envelope);
            foreach (var spec in new[] { "1", "2.MIME", "3.1", "3.HEADER.FIELDS (From)", "TEXT" })
                Assert.InRange(s.Resolve(Section(spec), stream).Length, 0, length + 2);
        }
    }

    static byte[] BigAttachmentMessage(int attachmentOctets, bool multipart)
    {
        var data = new byte[attachmentOctets];
        new Random(7).NextBytes(data);
        var base64 = Convert.ToBase64String(data, Base64FormattingOptions.InsertLineBreaks); // 76-character CRLF lines
        var text = multipart
            ? "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=big\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
              + "--big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64 + "\r\n--big--\r\n"
            : "From: a@example.org\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64 + "\r\n";
        return Encoding.ASCII.GetBytes(text);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Three_megabyte_attachment_is_parsed_without_buffering_it(bool multipart)
    {
        var octets = BigAttachmentMessage(3 * 1024 * 1024, multipart);
        var path = Path.Combine(Path.GetTempPath(), "message-structure-" + Guid.NewGuid().ToString("N") + ".eml");
        File.WriteAllBytes(path, octets);
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
            MessageStructure.Parse(file); // warm up (JIT, static tables)
            var before = GC.GetAllocatedBytesForCurrentThread();
            var s = MessageStructure.Parse(file);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 256 * 1024, $"parsing allocated {allocated} bytes");

            Assert.Equal(octets.Length, s.Size);
            var part = multipart ? s.Root.Parts![1] : s.Root;
            var base64Length = Convert.ToBase64String(new byte[3 * 1024 * 1024], Base64FormattingOptions.InsertLineBreaks).Length;
            Assert.Equal(base64Length + (multipart ? 0 : 2), part.BodySize);
            Assert.Contains($"\"base64\" {part.BodySize} NIL", s.BodyStructure(true));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
