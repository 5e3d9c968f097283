using System.IO.Pipelines;
using System.Text;
using Gateway.Imap;

namespace Gateway.Tests.Imap;

public class ImapSyntaxTests
{
    static ImapCommand P(string line) => ImapCommandParser.Parse(ImapRawCommand.FromText(line));

    [Fact]
    public void Parses_tag_name_and_astring_arguments()
    {
        var c = P("a001 login \"alice@example.org\" s3cret!");
        Assert.Equal("a001", c.Tag);
        Assert.Equal("LOGIN", c.Name);
        Assert.Equal("alice@example.org", c.Arguments[0].AsString());
        Assert.Equal("s3cret!", c.Arguments[1].AsString());
        Assert.Throws<ImapSyntaxException>(() => P("a1 LOGIN {5}")); // a literal marker is only meaningful to the reader
    }

    [Fact]
    public void Parses_nested_lists_nil_and_bracketed_fetch_attributes_as_one_atom()
    {
        var c = P("A2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject)]<0.1024> NIL (X (Y)))");
        Assert.Equal("UID", c.Name);
        Assert.Equal("FETCH", c.Arguments[0].AsString());
        Assert.Equal("1:*", c.Arguments[1].AsString());
        var list = Assert.IsType<ImapValue.List>(c.Arguments[2]);
        Assert.Equal("FLAGS", list.Items[0].AsString());
        Assert.Equal("BODY.PEEK[HEADER.FIELDS (From To Subject)]<0.1024>", list.Items[1].AsString());
        Assert.IsType<ImapValue.Nil>(list.Items[2]);
        Assert.IsType<ImapValue.List>(((ImapValue.List)list.Items[3]).Items[1]);
    }

    [Fact]
    public void Quoted_strings_unescape_and_list_wildcards_are_atoms()
    {
        var c = P("t LIST \"\" \"a \\\"quoted\\\" \\\\ name\"");
        Assert.Equal("", c.Arguments[0].AsString());
        Assert.Equal("a \"quoted\" \\ name", c.Arguments[1].AsString());
        Assert.Equal("%", P("t LIST \"\" %").Arguments[1].AsString());
    }

    [Theory]
    [InlineData("a1 FETCH 1 (FLAGS", "unbalanced")]
    [InlineData("a1 FETCH 1 FLAGS)", "unbalanced")]
    [InlineData("a1 LOGIN \"unterminated", "unterminated")]
    [InlineData("a1 LOGIN \"bad \\x escape\"", "escaped")]
    [InlineData("a1  NOOP", "missing atom")]
    [InlineData("a1 FETCH 1 BODY[TEXT", "unterminated '['")]
    [InlineData("+tag NOOP", "tag")]
    [InlineData("a* NOOP", "tag")]
    [InlineData("a%1 NOOP", "tag")]
    [InlineData("", "missing tag")]
    public void Bad_syntax_is_reported_with_the_tag_when_known(string line, string reason)
    {
        var ex = Assert.Throws<ImapSyntaxException>(() => P(line));
        Assert.Contains(reason, ex.Message);
        if (line.StartsWith("a1 ")) Assert.Equal("a1", ex.Tag);
    }

    [Fact]
    public void Tags_may_hold_a_closing_bracket() => Assert.Equal("a]1", P("a]1 NOOP").Tag);

    [Fact]
    public void Deep_nesting_is_refused()
    {
        var line = "a1 X " + new string('(', 100) + new string(')', 100);
        Assert.Contains("nested too deeply", Assert.Throws<ImapSyntaxException>(() => P(line)).Message);
    }

    [Theory]
    [InlineData("1:3,5,9:*", 20u, new uint[] { 1, 2, 3, 5, 9, 10, 20 }, new uint[] { 4, 6, 8 })]
    [InlineData("*", 7u, new uint[] { 7 }, new uint[] { 1, 6 })]
    [InlineData("5:2", 9u, new uint[] { 2, 3, 4, 5 }, new uint[] { 1, 6 })]
    [InlineData("*:4", 2u, new uint[] { 2, 3, 4 }, new uint[] { 1, 5 })]
    public void Sequence_sets_match_numbers(string text, uint largest, uint[] inside, uint[] outside)
    {
        Assert.True(SequenceSet.TryParse(text, out var set));
        Assert.All(inside, n => Assert.True(set.Contains(n, largest), $"{n} should be in {text}"));
        Assert.All(outside, n => Assert.False(set.Contains(n, largest), $"{n} should not be in {text}"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("1:0")]
    [InlineData("01")]
    [InlineData("1,,2")]
    [InlineData("a:b")]
    [InlineData("4294967296")]
    public void Bad_sequence_sets_are_refused(string text) => Assert.False(SequenceSet.TryParse(text, out _));

    [Fact]
    public void Sequence_set_selects_existing_uids_in_order() =>
        Assert.Equal(new uint[] { 4, 10, 12 }, SequenceSet.TryParse("4:11,12:*", out var s) ? s.Select(new uint[] { 1, 4, 10, 12 }).ToArray() : null);

    [Theory]
    [InlineData("INBOX", "INBOX")]
    [InlineData("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e")] // the RFC 3501 5.1.3 example
    [InlineData("Tom &- Jerry", "Tom & Jerry")]
    [InlineData("&AMk-t&AOk-", "\u00c9t\u00e9")]
    [InlineData("&2D3eAA-", "\U0001f600")]
    public void Modified_utf7_round_trips(string encoded, string name)
    {
        Assert.True(ModifiedUtf7.TryDecode(encoded, out var decoded));
        Assert.Equal(name, decoded);
        Assert.Equal(encoded, ModifiedUtf7.Encode(name));
    }

    [Theory]
    [InlineData("&U,BTFw")]      // unterminated shift
    [InlineData("&U!BTFw-")]     // not modified base64
    [InlineData("&AGE-")]        // "a" shifted: printable ASCII must stand for itself
    [InlineData("&AMk-&AOk-")]   // two adjacent shifts
    [InlineData("&2D0-")]        // lone high surrogate
    [InlineData("caf\u00e9")]    // raw 8-bit is not modified UTF-7
    public void Invalid_modified_utf7_is_refused(string encoded) => Assert.False(ModifiedUtf7.TryDecode(encoded, out _));

    // ---- reading commands with literals from the wire ----

    static async Task<(List<ImapRead> Reads, int Continuations)> ReadAll(string wire, long maxLiteral = 1000, int maxLine = 200)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes(wire));
        await pipe.Writer.CompleteAsync();
        var reader = new ImapCommandReader(pipe.Reader, maxLine, maxLiteral, 10_000);
        var reads = new List<ImapRead>();
        var continuations = 0;
        while (true)
        {
            var r = await reader.ReadAsync(() => { continuations++; return ValueTask.CompletedTask; }, CancellationToken.None);
            if (r.Status == ImapReadStatus.Closed) return (reads, continuations);
            reads.Add(r);
            if (!r.CanContinue) return (reads, continuations);
        }
    }

    [Fact]
    public async Task A_literal_over_the_spool_size_arrives_in_a_working_copy_and_a_cut_off_one_is_given_up()
    {
        // The octets reach the working copy in the pipe's segments, never as one array.
        var body = new byte[ImapCommandReader.SpoolAbove * 3 + 17];
        new Random(7).NextBytes(body);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes($"a1 APPEND INBOX {{{body.Length}+}}\r\n"));
        for (var at = 0; at < body.Length; at += 40_000) await pipe.Writer.WriteAsync(body.AsMemory(at, Math.Min(40_000, body.Length - at)));
        await pipe.Writer.WriteAsync("\r\n"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        var read = await new ImapCommandReader(pipe.Reader, 1000, 10_000_000, 20_000_000).ReadAsync(() => ValueTask.CompletedTask, CancellationToken.None);
        using (var raw = read.Command!)
        {
            var append = ImapCommandParser.Parse(raw);
            var spooled = Assert.IsType<ImapValue.Spooled>(append.Arguments[^1]);
            var copy = new MemoryStream();
            spooled.Content.CopyTo(copy);
            Assert.Equal(body, copy.ToArray());
            Assert.Null(spooled.AsString()); // no string to any other command
        }

        // The connection ends in the middle of the literal: nothing is returned, and the working copy is closed.
        var cut = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await cut.Writer.WriteAsync(Encoding.ASCII.GetBytes($"a2 APPEND INBOX {{{body.Length}+}}\r\n"));
        await cut.Writer.WriteAsync(body.AsMemory(0, 100_000));
        await cut.Writer.CompleteAsync();
        var closed = await new ImapCommandReader(cut.Reader, 1000, 10_000_000, 20_000_000).ReadAsync(() => ValueTask.CompletedTask, CancellationToken.None);
        Assert.Equal(ImapReadStatus.Closed, closed.Status);
        Assert.Null(closed.Command);
    }

    [Fact]
    public async Task Synchronizing_and_non_synchronizing_literals_are_read_with_continuations_only_for_the_first()
    {
        var (reads, continuations) = await ReadAll("a1 LOGIN {5}\r\nalice {8+}\r\npa\0ss\r\nw\r\na2 NOOP\r\n");
        Assert.Equal(1, continuations);
        var login = ImapCommandParser.Parse(reads[0].Command!);
        Assert.Equal("alice", login.Arguments[0].AsString());
        Assert.Equal(Encoding.ASCII.GetBytes("pa\0ss\r\nw"), ((ImapValue.String)login.Arguments[1]).Bytes);
        Assert.Equal("NOOP", ImapCommandParser.Parse(reads[1].Command!).Name);
    }

    [Fact]
    public async Task A_huge_synchronizing_literal_is_refused_without_reading_and_the_session_continues()
    {
        var (reads, continuations) = await ReadAll("a1 APPEND INBOX {999999999}\r\na2 NOOP\r\n");
        Assert.Equal(0, continuations);
        Assert.Equal(ImapReadStatus.LiteralTooLarge, reads[0].Status);
        Assert.Equal("a1", reads[0].Tag);
        Assert.True(reads[0].CanContinue);
        Assert.Equal("NOOP", ImapCommandParser.Parse(reads[1].Command!).Name);
    }

    [Fact]
    public async Task A_huge_literal_plus_ends_the_session()
    {
        var (reads, _) = await ReadAll("a1 APPEND INBOX {999999999+}\r\nxxxxxxxx");
        Assert.Equal(ImapReadStatus.LiteralTooLarge, reads.Single().Status);
        Assert.False(reads.Single().CanContinue);
    }

    [Fact]
    public async Task An_overlong_line_is_reported_and_the_next_command_still_reads()
    {
        var (reads, _) = await ReadAll("a1 NOOP " + new string('x', 500) + "\r\na2 NOOP\r\n");
        Assert.Equal(ImapReadStatus.LineTooLong, reads[0].Status);
        Assert.Equal("a1", reads[0].Tag);
        Assert.Equal("a2", ImapCommandParser.Parse(reads[1].Command!).Tag);
    }

    [Fact]
    public async Task A_connection_closed_inside_a_literal_is_closed_not_a_command()
    {
        var (reads, _) = await ReadAll("a1 APPEND INBOX {100+}\r\nonly part of it");
        Assert.Empty(reads);
    }
}
