using System.Globalization;

namespace Gateway.Imap;

/// <summary>A SEARCH criterion (RFC 3501 6.4.4, MODSEQ from RFC 7162). Several keys side by side mean AND.</summary>
public abstract record SearchKey
{
    public sealed record All : SearchKey;
    /// <summary>A system flag or keyword; <c>Set</c> false for UNSEEN, UNKEYWORD and the like.</summary>
    public sealed record Flag(string Name, bool Set) : SearchKey;
    public sealed record New : SearchKey;
    public sealed record Old : SearchKey;
    public sealed record Recent : SearchKey;
    /// <summary>A header field contains the text (FROM, TO, CC, BCC, SUBJECT, HEADER name text).</summary>
    public sealed record Header(string Field, string Text) : SearchKey;
    public sealed record Body(string Text) : SearchKey;
    /// <summary>TEXT: anywhere in the header or body.</summary>
    public sealed record FullText(string Value) : SearchKey;
    /// <summary>BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date: header), by calendar day.</summary>
    public sealed record Date(DateComparison Comparison, bool Sent, DateOnly Day) : SearchKey;
    public sealed record Size(bool Larger, long Octets) : SearchKey;
    public sealed record Sequence(SequenceSet Set, bool ByUid) : SearchKey;
    public sealed record ModSeq(ulong Value) : SearchKey;
    public sealed record Not(SearchKey Key) : SearchKey;
    public sealed record Or(SearchKey Left, SearchKey Right) : SearchKey;
    public sealed record And(IReadOnlyList<SearchKey> Keys) : SearchKey;
}

public enum DateComparison { Before, On, Since }

/// <summary>The SEARCH charset is not one we support; answer <c>NO [BADCHARSET (US-ASCII UTF-8)]</c>.</summary>
public sealed class BadCharsetException(string charset) : Exception($"charset {charset} is not supported")
{
    public string Charset { get; } = charset;
}

/// <summary>Parses SEARCH arguments: <c>[CHARSET name] key...</c>.</summary>
public static class SearchQuery
{
    public static readonly IReadOnlyList<string> SupportedCharsets = new[] { "US-ASCII", "UTF-8" };
    static readonly string[] Months = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };

    public static SearchKey Parse(IReadOnlyList<ImapValue> arguments)
    {
        var position = 0;
        if (arguments.Count >= 2 && arguments[0] is ImapValue.Atom { Text: var first } && first.Equals("CHARSET", StringComparison.OrdinalIgnoreCase))
        {
            var charset = arguments[1].AsString() ?? throw new ImapSyntaxException("CHARSET needs a name");
            if (!SupportedCharsets.Contains(charset, StringComparer.OrdinalIgnoreCase)) throw new BadCharsetException(charset);
            position = 2;
        }
        var keys = new List<SearchKey>();
        while (position < arguments.Count) keys.Add(ReadKey(arguments, ref position, 0));
        if (keys.Count == 0) throw new ImapSyntaxException("SEARCH needs at least one criterion");
        return keys.Count == 1 ? keys[0] : new SearchKey.And(keys);
    }

    static SearchKey ReadKey(IReadOnlyList<ImapValue> args, ref int i, int depth)
    {
        if (depth > 32) throw new ImapSyntaxException("search criteria nested too deeply");
        if (i >= args.Count) throw new ImapSyntaxException("a search criterion is missing");
        var value = args[i++];
        if (value is ImapValue.List list)
        {
            if (list.Items.Count == 0) throw new ImapSyntaxException("empty parenthesized search criteria");
            var inner = new List<SearchKey>();
            var j = 0;
            while (j < list.Items.Count) inner.Add(ReadKey(list.Items, ref j, depth + 1));
            return inner.Count == 1 ? inner[0] : new SearchKey.And(inner);
        }
        if (value is not ImapValue.Atom { Text: var word }) throw new ImapSyntaxException("a search criterion must be a keyword");

        string Str(ref int k) => k < args.Count && args[k++].AsString() is { } s ? s : throw new ImapSyntaxException($"{word} needs a string");
        switch (word.ToUpperInvariant())
        {
            case "ALL": return new SearchKey.All();
            case "ANSWERED": return new SearchKey.Flag("\\Answered", true);
            case "UNANSWERED": return new SearchKey.Flag("\\Answered", false);
            case "DELETED": return new SearchKey.Flag("\\Deleted", true);
            case "UNDELETED": return new SearchKey.Flag("\\Deleted", false);
            case "DRAFT": return new SearchKey.Flag("\\Draft", true);
            case "UNDRAFT": return new SearchKey.Flag("\\Draft", false);
            case "FLAGGED": return new SearchKey.Flag("\\Flagged", true);
            case "UNFLAGGED": return new SearchKey.Flag("\\Flagged", false);
            case "SEEN": return new SearchKey.Flag("\\Seen", true);
            case "UNSEEN": return new SearchKey.Flag("\\Seen", false);
            case "KEYWORD": return new SearchKey.Flag(Keyword(Str(ref i)), true);
            case "UNKEYWORD": return new SearchKey.Flag(Keyword(Str(ref i)), false);
            case "NEW": return new SearchKey.New();
            case "OLD": return new SearchKey.Old();
            case "RECENT": return new SearchKey.Recent();
            case "FROM" or "TO" or "CC" or "BCC" or "SUBJECT": return new SearchKey.Header(word.ToUpperInvariant() switch { "FROM" => "From", "TO" => "To", "CC" => "Cc", "BCC" => "Bcc", _ => "Subject" }, Str(ref i));
            case "HEADER":
            {
                var field = Str(ref i);
                if (!ImapChars.IsHeaderFieldName(field)) throw new ImapSyntaxException("invalid header field name");
                return new SearchKey.Header(field, Str(ref i));
            }
            case "BODY": return new SearchKey.Body(Str(ref i));
            case "TEXT": return new SearchKey.FullText(Str(ref i));
            case "BEFORE": return new SearchKey.Date(DateComparison.Before, false, Day(Str(ref i)));
            case "ON": return new SearchKey.Date(DateComparison.On, false, Day(Str(ref i)));
            case "SINCE": return new SearchKey.Date(DateComparison.Since, false, Day(Str(ref i)));
            case "SENTBEFORE": return new SearchKey.Date(DateComparison.Before, true, Day(Str(ref i)));
            case "SENTON": return new SearchKey.Date(DateComparison.On, true, Day(Str(ref i)));
            case "SENTSINCE": return new SearchKey.Date(DateComparison.Since, true, Day(Str(ref i)));
            case "LARGER": return new SearchKey.Size(true, Number(Str(ref i), word));
            case "SMALLER": return new SearchKey.Size(false, Number(Str(ref i), word));
            case "UID": return new SearchKey.Sequence(Set(Str(ref i)), true);
            case "NOT": return new SearchKey.Not(ReadKey(args, ref i, depth + 1));
            case "OR":
            {
                var left = ReadKey(args, ref i, depth + 1);
                return new SearchKey.Or(left, ReadKey(args, ref i, depth + 1));
            }
            case "MODSEQ":
            {
                // MODSEQ [entry-name entry-type] value (RFC 7162 3.1.5); the optional pair is accepted and ignored.
                if (i + 2 < args.Count && args[i] is ImapValue.String) i += 2;
                var text = Str(ref i);
                return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var modseq)
                    ? new SearchKey.ModSeq(modseq) : throw new ImapSyntaxException("MODSEQ needs a number");
            }
            default:
                if (SequenceSet.TryParse(word, out var set)) return new SearchKey.Sequence(set, false);
                throw new ImapSyntaxException($"unknown search criterion {word}");
        }
    }

    static string Keyword(string flag) =>
        ImapChars.IsAtom(flag)
            ? flag : throw new ImapSyntaxException($"'{flag}' is not a keyword");

    static long Number(string text, string key) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ImapSyntaxException($"{key} needs a number");

    static SequenceSet Set(string text) => SequenceSet.TryParse(text, out var set) ? set : throw new ImapSyntaxException($"'{text}' is not a sequence set");

    /// <summary>RFC 3501 date: d-Mon-yyyy (day 1 or 2 digits, English month).</summary>
    static DateOnly Day(string text)
    {
        var parts = text.Split('-');
        if (parts.Length == 3 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var day) && parts[0].Length <= 2
            && Array.IndexOf(Months, parts[1].ToLowerInvariant()) is var month and >= 0
            && parts[2].Length == 4 && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var year))
        {
            try { return new DateOnly(year, month + 1, day); }
            catch (ArgumentOutOfRangeException) { }
        }
        throw new ImapSyntaxException($"'{text}' is not a date like 1-Feb-1994");
    }
}
