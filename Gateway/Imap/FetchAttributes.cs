using System.Text.RegularExpressions;

namespace Gateway.Imap;

public enum FetchKind { Envelope, Flags, InternalDate, Rfc822, Rfc822Header, Rfc822Size, Rfc822Text, Body, BodyStructure, Uid, ModSeq, BodySection }

public enum SectionText { None, Header, HeaderFields, HeaderFieldsNot, Text, Mime }

/// <summary>A body section: part numbers ("1.2"), then what of that part (RFC 3501 6.4.5).</summary>
public sealed record BodySection(IReadOnlyList<int> Part, SectionText Text, IReadOnlyList<string> Fields)
{
    public override string ToString()
    {
        var part = string.Join('.', Part);
        var text = Text switch
        {
            SectionText.Header => "HEADER",
            // Field names upper-cased in the response, as Dovecot does; clients compare them case-insensitively.
            SectionText.HeaderFields => $"HEADER.FIELDS ({string.Join(' ', Fields).ToUpperInvariant()})",
            SectionText.HeaderFieldsNot => $"HEADER.FIELDS.NOT ({string.Join(' ', Fields).ToUpperInvariant()})",
            SectionText.Text => "TEXT",
            SectionText.Mime => "MIME",
            _ => "",
        };
        return "[" + part + (part.Length > 0 && text.Length > 0 ? "." : "") + text + "]";
    }
}

/// <summary>One thing a FETCH asks for. <see cref="Peek"/>: BODY.PEEK, which does not set \Seen.</summary>
public sealed record FetchItem(FetchKind Kind, BodySection? Section = null, bool Peek = false, long? PartialOffset = null, long? PartialLength = null);

/// <summary>Parses the FETCH attribute argument (an atom or a parenthesized list) per RFC 3501 9, with CONDSTORE's MODSEQ (RFC 7162).</summary>
public static partial class FetchAttributes
{
    [GeneratedRegex(@"^(BODY|BODY\.PEEK)\[(?<section>[^\]]*)\](<(?<offset>\d{1,18})\.(?<length>\d{1,18})>)?$", RegexOptions.IgnoreCase)]
    private static partial Regex SectionPattern();

    [GeneratedRegex(@"^(?<part>[1-9]\d{0,8}(\.[1-9]\d{0,8})*)?(\.?(?<text>HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?(\s*\((?<fields>[^()]*)\))?$", RegexOptions.IgnoreCase)]
    private static partial Regex SpecPattern();

    public static IReadOnlyList<FetchItem> Parse(ImapValue argument)
    {
        var atoms = argument switch
        {
            ImapValue.Atom a => new[] { a.Text },
            ImapValue.List l => l.Items.Select(i => i is ImapValue.Atom a ? a.Text : throw new ImapSyntaxException("FETCH items are atoms")).ToArray(),
            _ => throw new ImapSyntaxException("FETCH needs an item or a parenthesized list of items"),
        };
        if (atoms.Length == 0) throw new ImapSyntaxException("empty FETCH item list");
        var items = new List<FetchItem>();
        foreach (var atom in atoms)
        {
            switch (atom.ToUpperInvariant())
            {
                // Macros (RFC 3501 6.4.5) only stand alone.
                case "ALL" or "FAST" or "FULL" when atoms.Length > 1 || argument is ImapValue.List:
                    throw new ImapSyntaxException($"{atom} is a macro and cannot be combined with other items");
                case "ALL": items.AddRange(Items(FetchKind.Flags, FetchKind.InternalDate, FetchKind.Rfc822Size, FetchKind.Envelope)); break;
                case "FAST": items.AddRange(Items(FetchKind.Flags, FetchKind.InternalDate, FetchKind.Rfc822Size)); break;
                case "FULL": items.AddRange(Items(FetchKind.Flags, FetchKind.InternalDate, FetchKind.Rfc822Size, FetchKind.Envelope, FetchKind.Body)); break;
                case "ENVELOPE": items.Add(new(FetchKind.Envelope)); break;
                case "FLAGS": items.Add(new(FetchKind.Flags)); break;
                case "INTERNALDATE": items.Add(new(FetchKind.InternalDate)); break;
                case "RFC822": items.Add(new(FetchKind.Rfc822)); break;
                case "RFC822.HEADER": items.Add(new(FetchKind.Rfc822Header)); break;
                case "RFC822.SIZE": items.Add(new(FetchKind.Rfc822Size)); break;
                case "RFC822.TEXT": items.Add(new(FetchKind.Rfc822Text)); break;
                case "BODY": items.Add(new(FetchKind.Body)); break;
                case "BODYSTRUCTURE": items.Add(new(FetchKind.BodyStructure)); break;
                case "UID": items.Add(new(FetchKind.Uid)); break;
                case "MODSEQ": items.Add(new(FetchKind.ModSeq)); break;
                default: items.Add(ParseSection(atom)); break;
            }
        }
        return items;
    }

    static IEnumerable<FetchItem> Items(params FetchKind[] kinds) => kinds.Select(k => new FetchItem(k));

    static FetchItem ParseSection(string atom)
    {
        var m = SectionPattern().Match(atom);
        if (!m.Success) throw new ImapSyntaxException($"unknown FETCH item {atom}");
        var spec = SpecPattern().Match(m.Groups["section"].Value.Trim());
        if (!spec.Success) throw new ImapSyntaxException($"malformed section [{m.Groups["section"].Value}]");

        var part = spec.Groups["part"].Success ? spec.Groups["part"].Value.Split('.').Select(int.Parse).ToArray() : Array.Empty<int>();
        var text = spec.Groups["text"].Success ? spec.Groups["text"].Value.ToUpperInvariant() switch
        {
            "HEADER" => SectionText.Header,
            "HEADER.FIELDS" => SectionText.HeaderFields,
            "HEADER.FIELDS.NOT" => SectionText.HeaderFieldsNot,
            "TEXT" => SectionText.Text,
            _ => SectionText.Mime,
        } : SectionText.None;
        var fields = spec.Groups["fields"].Success
            ? spec.Groups["fields"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim('"')).ToArray()
            : Array.Empty<string>();

        var wantsFields = text is SectionText.HeaderFields or SectionText.HeaderFieldsNot;
        if (wantsFields && fields.Length == 0) throw new ImapSyntaxException("HEADER.FIELDS needs a list of field names");
        if (!wantsFields && spec.Groups["fields"].Success) throw new ImapSyntaxException("only HEADER.FIELDS takes a list");
        if (text == SectionText.Mime && part.Length == 0) throw new ImapSyntaxException("MIME needs a part number (RFC 3501 6.4.5)");
        if (!fields.All(ImapChars.IsHeaderFieldName))
            throw new ImapSyntaxException("invalid header field name in HEADER.FIELDS");

        long? offset = null, length = null;
        if (m.Groups["offset"].Success)
        {
            offset = long.Parse(m.Groups["offset"].Value);
            length = long.Parse(m.Groups["length"].Value);
            if (length == 0) throw new ImapSyntaxException("a partial fetch needs a non-zero length");
        }
        var peek = atom.StartsWith("BODY.PEEK", StringComparison.OrdinalIgnoreCase);
        return new FetchItem(FetchKind.BodySection, new BodySection(part, text, fields), peek, offset, length);
    }
}
