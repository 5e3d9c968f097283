using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using MimeKit;
using MimeKit.IO;
using MimeKit.IO.Filters;
using MimeKit.Utils;

namespace Gateway.Imap;

/// <summary>
/// The IMAP server's view of one stored message (RFC 5322 octets in a file): where the header, body and every MIME
/// part lie, and what ENVELOPE, BODY and BODYSTRUCTURE report (RFC 3501 7.4.2). Built once by <see cref="Parse"/>
/// when the message is appended, stored (<see cref="ToJson"/>, or as a plain object in LiteDB), and then used to
/// answer FETCH and SEARCH without parsing the message again.
/// </summary>
/// <remarks>
/// <para>Strings returned by <see cref="Envelope"/> and <see cref="BodyStructure"/> may contain IMAP literals whose
/// octet counts assume the response is written UTF-8 encoded.</para>
/// <para>Body sections (RFC 3501 6.4.5) resolve to byte ranges of the stored file (<see cref="Resolve"/>) which
/// <see cref="SectionContent.CopyToAsync"/> streams out; only HEADER.FIELDS and HEADER.FIELDS.NOT are computed.</para>
/// </remarks>
public sealed class MessageStructure
{
    /// <summary>Octets in the message: RFC822.SIZE (RFC 3501 7.4.2).</summary>
    public long Size { get; set; }

    /// <summary>The top-level message as a MIME entity (its <see cref="StructurePart.Envelope"/> set).</summary>
    public StructurePart Root { get; set; } = new();

    /// <summary>Every field of the top-level header, in order: names as written, values unfolded and not decoded.</summary>
    public List<HeaderField> HeaderFields { get; set; } = new();

    /// <summary>Reads the structure of the message in <paramref name="message"/> (from its start when it is seekable).
    /// Bodies are scanned through a small buffer, never held in memory.</summary>
    public static MessageStructure Parse(Stream message) => MessageStructureParser.Parse(message);

    /// <summary>The structure as compact JSON (System.Text.Json, source-generated), to store with the message.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, MessageStructureJson.Compact.MessageStructure);

    public static MessageStructure FromJson(string json) =>
        JsonSerializer.Deserialize(json, MessageStructureJson.Compact.MessageStructure)
        ?? throw new JsonException("no message structure in the JSON");

    /// <summary>The ENVELOPE of the message (RFC 3501 7.4.2), as an IMAP parenthesized list.</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public string Envelope => Root.Envelope ?? ImapEnvelope.Empty;

    /// <summary>The top-level header fields (unfolded, raw), for SEARCH HEADER and friends.</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public IEnumerable<(string Name, string Value)> Headers => HeaderFields.Select(f => (f.Name, f.Value));

    /// <summary>The Date: field (RFC 5322 3.6.1), parsed; null when absent or unreadable (SENTBEFORE and friends).</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public DateTimeOffset? Date =>
        HeaderValues("Date").FirstOrDefault() is { } value && DateUtils.TryParse(value, out var date) ? date : null;

    /// <summary>RFC822, i.e. BODY[]: the whole message.</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public SectionContent Rfc822 => SectionContent.Range(0, Size);

    /// <summary>RFC822.HEADER, i.e. BODY[HEADER]: the header including its blank line.</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public SectionContent Rfc822Header => SectionContent.Range(Root.HeaderStart, Root.HeaderEnd);

    /// <summary>RFC822.TEXT, i.e. BODY[TEXT]: the body.</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public SectionContent Rfc822Text => SectionContent.Range(Root.HeaderEnd, Root.BodyEnd);

    /// <summary>The raw values of the top-level header fields named <paramref name="name"/> (case-insensitive).</summary>
    public IEnumerable<string> HeaderValues(string name)
    {
        foreach (var field in HeaderFields)
            if (field.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) yield return field.Value;
    }

    /// <summary>The values of the top-level header fields named <paramref name="name"/> with encoded words (RFC 2047)
    /// decoded.</summary>
    public IEnumerable<string> DecodedHeaderValues(string name) => HeaderValues(name).Select(Decode);

    static string Decode(string value) =>
        value.Contains("=?", StringComparison.Ordinal) || !Ascii.IsValid(value)
            ? Rfc2047.DecodeText(Encoding.UTF8.GetBytes(value))
            : value;

    /// <summary>
    /// SEARCH HEADER (RFC 3501 6.4.4): whether a top-level field named <paramref name="name"/> contains
    /// <paramref name="text"/>, case-insensitively, after decoding; an empty <paramref name="text"/> matches any such field.
    /// </summary>
    public bool HeaderContains(string name, string text)
    {
        foreach (var value in DecodedHeaderValues(name))
            if (value.Contains(text, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    string? _body, _bodyStructure;

    /// <summary>BODYSTRUCTURE (<paramref name="extended"/>) or BODY (RFC 3501 7.4.2) as an IMAP parenthesized list.
    /// Formatted once per instance: change the parts after the first call and the old text is still returned.</summary>
    public string BodyStructure(bool extended)
    {
        ref var cached = ref extended ? ref _bodyStructure : ref _body;
        if (cached is not null) return cached;
        var builder = new StringBuilder(256);
        AppendBody(builder, Root, extended);
        return cached = builder.ToString();
    }

    // Type, subtype, parameter names, encoding and disposition are kept upper-case for comparisons and sent in lower
    // case: MIME and IMAP treat them case-insensitively, and lower case is what messages (and so Dovecot) nearly always
    // show, and what clients that compare naively expect.
    const string DefaultCharset = "(\"charset\" \"us-ascii\")";

    static void AppendBody(StringBuilder b, StructurePart part, bool extended)
    {
        b.Append('(');
        if (part.Parts is { } parts)
        {
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            if (parts.Count == 0)
            {
                // A multipart without parts is not expressible: show one empty text part, as Dovecot does.
                b.Append("(\"text\" \"plain\" ").Append(DefaultCharset).Append(" NIL NIL \"7bit\" 0 0");
                if (extended) b.Append(" NIL NIL NIL NIL");
                b.Append(')');
            }
            foreach (var child in parts) AppendBody(b, child, extended);
            b.Append(' ');
            ImapQuoting.AppendString(b, part.Subtype.ToLowerInvariant());
            if (extended)
            {
                // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
                b.Append(' ');
                AppendParameters(b, part.Parameters, defaultCharset: false);
                AppendDispositionLanguageLocation(b, part);
            }
            b.Append(')');
            return;
        }

        // body-type-1part: media-type SP body-fields (body-fields = params id desc enc octets)
        ImapQuoting.AppendString(b, part.Type.ToLowerInvariant()).Append(' ');
        ImapQuoting.AppendString(b, part.Subtype.ToLowerInvariant()).Append(' ');
        AppendParameters(b, part.Parameters, defaultCharset: part.Type == "TEXT");
        b.Append(' ');
        ImapQuoting.AppendNString(b, part.Id).Append(' ');
        ImapQuoting.AppendNString(b, part.Description).Append(' ');
        ImapQuoting.AppendString(b, part.Encoding?.ToLowerInvariant() ?? "7bit").Append(' ');
        b.Append(part.BodySize);
        if (part.Message is { } message)
        {
            // body-type-msg: ... SP envelope SP body SP body-fld-lines
            b.Append(' ').Append(message.Envelope ?? ImapEnvelope.Empty).Append(' ');
            AppendBody(b, message, extended);
            b.Append(' ').Append(part.Lines);
        }
        else if (part.Type == "TEXT")
        {
            b.Append(' ').Append(part.Lines); // body-type-text: ... SP body-fld-lines
        }
        if (extended)
        {
            // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
            b.Append(' ');
            ImapQuoting.AppendNString(b, part.Md5);
            AppendDispositionLanguageLocation(b, part);
        }
        b.Append(')');
    }

    /// <summary>body-fld-param: <c>("NAME" "value" ...)</c> or NIL; text parts without parameters get the RFC 2045 5.2
    /// default charset.</summary>
    static void AppendParameters(StringBuilder b, List<HeaderField>? parameters, bool defaultCharset)
    {
        if (parameters is null || parameters.Count == 0)
        {
            b.Append(defaultCharset ? DefaultCharset : "NIL");
            return;
        }
        b.Append('(');
        for (var i = 0; i < parameters.Count; i++)
        {
            if (i > 0) b.Append(' ');
            ImapQuoting.AppendString(b, parameters[i].Name.ToLowerInvariant()).Append(' ');
            ImapQuoting.AppendString(b, parameters[i].Value);
        }
        b.Append(')');
    }

    /// <summary><c>SP body-fld-dsp SP body-fld-lang SP body-fld-loc</c>.</summary>
    static void AppendDispositionLanguageLocation(StringBuilder b, StructurePart part)
    {
        b.Append(' ');
        if (part.Disposition is null) b.Append("NIL");
        else
        {
            b.Append('(');
            ImapQuoting.AppendString(b, part.Disposition.ToLowerInvariant()).Append(' ');
            AppendParameters(b, part.DispositionParameters, defaultCharset: false);
            b.Append(')');
        }
        b.Append(' ');
        if (part.Languages is not { Count: > 0 } languages) b.Append("NIL");
        else if (languages.Count == 1) ImapQuoting.AppendString(b, languages[0]);
        else
        {
            b.Append('(');
            for (var i = 0; i < languages.Count; i++)
            {
                if (i > 0) b.Append(' ');
                ImapQuoting.AppendString(b, languages[i]);
            }
            b.Append(')');
        }
        b.Append(' ');
        ImapQuoting.AppendNString(b, part.Location);
    }

    /// <summary>
    /// What BODY[section] sends (RFC 3501 6.4.5). <paramref name="message"/> is read only for HEADER.FIELDS and
    /// HEADER.FIELDS.NOT, and then only the header concerned. A section that does not exist yields the empty string,
    /// as with Dovecot. Apply a partial fetch with <see cref="SectionContent.Partial"/>.
    /// </summary>
    public SectionContent Resolve(BodySection section, Stream message)
    {
        var content = Locate(section, out var filtered);
        if (filtered is null) return content;
        var header = new byte[checked((int)(filtered.HeaderEnd - filtered.HeaderStart))];
        message.Seek(filtered.HeaderStart, SeekOrigin.Begin);
        message.ReadExactly(header);
        return SectionContent.Computed(FilterHeader(header, section.Fields, section.Text == SectionText.HeaderFieldsNot));
    }

    /// <inheritdoc cref="Resolve"/>
    public async Task<SectionContent> ResolveAsync(BodySection section, Stream message, CancellationToken cancellationToken = default)
    {
        var content = Locate(section, out var filtered);
        if (filtered is null) return content;
        var header = new byte[checked((int)(filtered.HeaderEnd - filtered.HeaderStart))];
        message.Seek(filtered.HeaderStart, SeekOrigin.Begin);
        await message.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
        return SectionContent.Computed(FilterHeader(header, section.Fields, section.Text == SectionText.HeaderFieldsNot));
    }

    /// <summary>The range for <paramref name="section"/>, or (with an empty range) the message whose header must be
    /// filtered for HEADER.FIELDS(.NOT).</summary>
    SectionContent Locate(BodySection section, out StructurePart? filtered)
    {
        filtered = null;
        // Part numbers (RFC 3501 6.4.5): a multipart's parts count from 1; a message that is not multipart has
        // just part 1, its body; inside a message/rfc822 part the numbers go on in the encapsulated message.
        var node = Root;
        var isMessage = true;
        foreach (var number in section.Part)
            if (!Child(ref node, ref isMessage, number)) return SectionContent.Empty;

        if (!isMessage)
        {
            switch (section.Text)
            {
                case SectionText.None: return SectionContent.Range(node.HeaderEnd, node.BodyEnd);
                case SectionText.Mime: return SectionContent.Range(node.HeaderStart, node.HeaderEnd);
            }
            // HEADER, TEXT and HEADER.FIELDS of a part only exist for a message/rfc822 part.
            if (node.Message is null) return SectionContent.Empty;
            node = node.Message;
        }
        switch (section.Text)
        {
            case SectionText.None: return SectionContent.Range(node.HeaderStart, node.BodyEnd);
            case SectionText.Header: return SectionContent.Range(node.HeaderStart, node.HeaderEnd);
            case SectionText.Text: return SectionContent.Range(node.HeaderEnd, node.BodyEnd);
            case SectionText.HeaderFields or SectionText.HeaderFieldsNot:
                filtered = node;
                return SectionContent.Empty;
            default: return SectionContent.Empty; // MIME of the top-level message
        }
    }

    static bool Child(ref StructurePart node, ref bool isMessage, int number)
    {
        if (number < 1) return false;
        if (!isMessage && node.Parts is null && node.Message is { } message)
        {
            node = message;
            isMessage = true;
        }
        if (node.Parts is { } parts)
        {
            if (number > parts.Count) return false;
            node = parts[number - 1];
            isMessage = false;
            return true;
        }
        if (!isMessage || number != 1) return false;
        isMessage = false; // the message's body seen as its part 1
        return true;
    }

    /// <summary>
    /// HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 3501 6.4.5): the header fields whose names are (or are not) in
    /// <paramref name="names"/>, compared case-insensitively, each with its continuation lines, then the blank line.
    /// Fields are copied octet for octet; the blank line (and the break after a last field that had none) is CRLF.
    /// </summary>
    internal static byte[] FilterHeader(ReadOnlySpan<byte> header, IReadOnlyList<string> names, bool not)
    {
        var output = new ArrayBufferWriter<byte>(Math.Min(header.Length + 2, 4096));
        var i = 0;
        while (i < header.Length)
        {
            var lineEnd = NextLine(header, i);
            if (header[i] == '\n' || (header[i] == '\r' && lineEnd - i == 2 && header[i + 1] == '\n')) break; // the blank line
            var end = lineEnd;
            while (end < header.Length && header[end] is (byte)' ' or (byte)'\t') end = NextLine(header, end);
            var field = header[i..end];
            var colon = header[i..lineEnd].IndexOf((byte)':');
            if (colon > 0 && Listed(field[..colon].TrimEnd(" \t"u8), names) != not)
            {
                output.Write(field);
                if (field[^1] != '\n') output.Write("\r\n"u8);
            }
            i = end;
        }
        output.Write("\r\n"u8);
        return output.WrittenSpan.ToArray();
    }

    static int NextLine(ReadOnlySpan<byte> text, int start)
    {
        var lf = text[start..].IndexOf((byte)'\n');
        return lf < 0 ? text.Length : start + lf + 1;
    }

    static bool Listed(ReadOnlySpan<byte> name, IReadOnlyList<string> names)
    {
        foreach (var candidate in names)
            if (Ascii.EqualsIgnoreCase(name, candidate)) return true;
        return false;
    }

    /// <summary>
    /// SEARCH BODY (RFC 3501 6.4.4): whether a text part of the message (those of encapsulated messages included)
    /// contains <paramref name="text"/>, case-insensitively, once its transfer encoding (RFC 2045 6) and charset are
    /// decoded. The parts are streamed from <paramref name="message"/>, which must be seekable.
    /// </summary>
    public static async Task<bool> BodyContainsAsync(Stream message, MessageStructure structure, string text, CancellationToken cancellationToken = default)
    {
        if (text.Length == 0) return true;
        foreach (var part in TextParts(structure.Root))
            if (await PartContainsAsync(message, part, text, cancellationToken).ConfigureAwait(false)) return true;
        return false;
    }

    static IEnumerable<StructurePart> TextParts(StructurePart part)
    {
        if (part.Parts is { } parts)
        {
            foreach (var child in parts)
                foreach (var text in TextParts(child)) yield return text;
        }
        else if (part.Message is { } message)
        {
            foreach (var text in TextParts(message)) yield return text;
        }
        else if (part.Type == "TEXT" && part.BodySize > 0)
        {
            yield return part;
        }
    }

    static async Task<bool> PartContainsAsync(Stream message, StructurePart part, string text, CancellationToken cancellationToken)
    {
        const int ChunkChars = 16 * 1024;
        message.Seek(part.HeaderEnd, SeekOrigin.Begin);
        var body = new FilteredStream(new BoundStream(message, part.HeaderEnd, part.BodyEnd, leaveOpen: true));
        if (part.Encoding is { } name && MimeUtils.TryParse(name, out ContentEncoding encoding)
            && encoding is ContentEncoding.Base64 or ContentEncoding.QuotedPrintable or ContentEncoding.UUEncode)
            body.Add(DecoderFilter.Create(encoding));
        using var reader = new StreamReader(body, CharsetOf(part.Parameter("CHARSET")), detectEncodingFromByteOrderMarks: false, ChunkChars);
        var buffer = ArrayPool<char>.Shared.Rent(ChunkChars + text.Length);
        try
        {
            var kept = 0;
            while (true)
            {
                var read = await reader.ReadAsync(buffer.AsMemory(kept, ChunkChars), cancellationToken).ConfigureAwait(false);
                if (read == 0) return false;
                var window = buffer.AsSpan(0, kept + read);
                if (window.IndexOf(text, StringComparison.OrdinalIgnoreCase) >= 0) return true;
                // Keep the tail so that a match across two chunks is still found.
                kept = Math.Min(text.Length - 1, window.Length);
                window[^kept..].CopyTo(buffer);
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>The decoder for a charset parameter, by MimeKit's charset table; UTF-8 (a superset of the RFC 2045
    /// default, US-ASCII) when absent or unknown.</summary>
    static Encoding CharsetOf(string? charset)
    {
        if (string.IsNullOrWhiteSpace(charset) || charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase)) return Encoding.UTF8;
        try
        {
            return new ContentType("text", "plain") { Charset = charset }.CharsetEncoding ?? Encoding.UTF8;
        }
        catch (Exception ex) when (ex is NotSupportedException or ArgumentException)
        {
            return Encoding.UTF8;
        }
    }
}

/// <summary>Source-generated JSON for <see cref="MessageStructure"/>.</summary>
[JsonSerializable(typeof(MessageStructure))]
internal sealed partial class MessageStructureJson : JsonSerializerContext
{
    /// <summary>Nulls and zeros left out, and no escaping beyond what JSON needs (the text never goes into HTML).</summary>
    public static readonly MessageStructureJson Compact = new(new JsonSerializerOptions
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
