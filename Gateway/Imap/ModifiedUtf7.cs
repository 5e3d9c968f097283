using System.Text;

namespace Gateway.Imap;

/// <summary>
/// Mailbox names in IMAP4rev1's modified UTF-7 (RFC 3501 5.1.3): printable ASCII stands for itself ("&amp;" as
/// "&amp;-"), anything else is UTF-16 in modified base64 ("," for "/") between "&amp;" and "-".
/// Decoding is strict: an unterminated shift, bad base64, a shift that encodes printable ASCII, two adjacent shifts
/// or a dangling surrogate are errors, so that one name has exactly one spelling.
/// </summary>
public static class ModifiedUtf7
{
    const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

    public static string Encode(string name)
    {
        var sb = new StringBuilder();
        var pending = new List<char>();
        void Flush()
        {
            if (pending.Count == 0) return;
            var bytes = Encoding.BigEndianUnicode.GetBytes(pending.ToArray());
            sb.Append('&').Append(Convert.ToBase64String(bytes).TrimEnd('=').Replace('/', ',')).Append('-');
            pending.Clear();
        }
        foreach (var c in name)
        {
            if (c is >= ' ' and <= '~') { Flush(); sb.Append(c == '&' ? "&-" : c.ToString()); }
            else pending.Add(c);
        }
        Flush();
        return sb.ToString();
    }

    public static bool TryDecode(string encoded, out string name)
    {
        name = "";
        var sb = new StringBuilder();
        var previousWasShift = false;
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c is < ' ' or > '~') return false;
            if (c != '&') { sb.Append(c); previousWasShift = false; continue; }
            var end = encoded.IndexOf('-', i + 1);
            if (end < 0) return false;
            var run = encoded[(i + 1)..end];
            i = end;
            if (run.Length == 0) { sb.Append('&'); previousWasShift = false; continue; }
            if (previousWasShift || run.Any(ch => Alphabet.IndexOf(ch) < 0)) return false;
            var base64 = run.Replace(',', '/');
            var bits = base64.Length * 6;
            if (bits % 16 >= 6) return false; // leftover that cannot be padding
            base64 = base64.PadRight(base64.Length + (4 - base64.Length % 4) % 4, '=');
            byte[] bytes;
            try { bytes = Convert.FromBase64String(base64); }
            catch (FormatException) { return false; }
            if (bytes.Length % 2 != 0 || bytes.Length == 0) return false;
            // Code units by hand: Encoding.BigEndianUnicode would quietly turn a lone surrogate into U+FFFD.
            var chars = new char[bytes.Length / 2];
            for (var k = 0; k < chars.Length; k++) chars[k] = (char)(bytes[2 * k] << 8 | bytes[2 * k + 1]);
            if (chars.Any(ch => ch is >= ' ' and <= '~')) return false; // printable ASCII must not be shifted
            for (var k = 0; k < chars.Length; k++)
            {
                if (char.IsHighSurrogate(chars[k]) && (k + 1 >= chars.Length || !char.IsLowSurrogate(chars[++k]))) return false;
                if (char.IsLowSurrogate(chars[k]) && (k == 0 || !char.IsHighSurrogate(chars[k - 1]))) return false;
            }
            sb.Append(chars);
            previousWasShift = true;
        }
        name = sb.ToString();
        return true;
    }
}
