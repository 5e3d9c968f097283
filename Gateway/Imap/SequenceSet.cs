namespace Gateway.Imap;

/// <summary>
/// An IMAP sequence set (RFC 3501 9, <c>sequence-set</c>): ranges of message numbers or UIDs, where <c>*</c> is the
/// largest number in use. "3:1" means the same as "1:3"; 0 is never valid.
/// </summary>
public sealed class SequenceSet
{
    readonly List<(uint First, uint? Last, bool FirstIsStar, bool LastIsStar)> _ranges;

    SequenceSet(List<(uint, uint?, bool, bool)> ranges) => _ranges = ranges;

    public static bool TryParse(string text, out SequenceSet set)
    {
        set = null!;
        if (string.IsNullOrEmpty(text) || text.Length > 100_000) return false;
        var ranges = new List<(uint, uint?, bool, bool)>();
        foreach (var piece in text.Split(','))
        {
            var colon = piece.IndexOf(':');
            var firstText = colon < 0 ? piece : piece[..colon];
            if (!TryNumber(firstText, out var first, out var firstStar)) return false;
            if (colon < 0) { ranges.Add((first, null, firstStar, false)); continue; }
            if (!TryNumber(piece[(colon + 1)..], out var last, out var lastStar)) return false;
            ranges.Add((first, last, firstStar, lastStar));
        }
        set = new SequenceSet(ranges);
        return true;
    }

    static bool TryNumber(string text, out uint value, out bool star)
    {
        star = text == "*";
        value = 0;
        if (star) return true;
        if (text.Length == 0 || text[0] == '0' || !text.All(char.IsAsciiDigit)) return false; // nz-number
        return uint.TryParse(text, out value);
    }

    /// <summary>Whether <paramref name="n"/> is in the set, given the largest number in use (the value of <c>*</c>).</summary>
    public bool Contains(uint n, uint largest)
    {
        foreach (var (first, last, firstStar, lastStar) in _ranges)
        {
            var a = firstStar ? largest : first;
            if (last is null && !lastStar) { if (n == a) return true; continue; }
            var b = lastStar ? largest : last!.Value;
            if (n >= Math.Min(a, b) && n <= Math.Max(a, b)) return true;
        }
        return false;
    }

    /// <summary>The numbers of the set that exist among <paramref name="existing"/> (sorted ascending), in ascending order.</summary>
    public IEnumerable<uint> Select(IReadOnlyList<uint> existing)
    {
        var largest = existing.Count > 0 ? existing[^1] : 0;
        return existing.Where(n => Contains(n, largest));
    }

    /// <summary>The largest number the set names, with <c>*</c> standing for <paramref name="largest"/>.</summary>
    public uint MaxNumber(uint largest) =>
        _ranges.Count == 0 ? 0 : _ranges.Max(r => Math.Max(r.FirstIsStar ? largest : r.First, r.LastIsStar ? largest : r.Last ?? 0));
}
