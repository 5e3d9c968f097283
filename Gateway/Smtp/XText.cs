using System.Text;

namespace Gateway.Smtp;

/// <summary>xtext encoding of DSN parameters (RFC 3461 4): "+" followed by two upper-case hex digits.</summary>
public static class XText
{
    public static bool TryDecode(string text, out string decoded)
    {
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !IsHex(text[i + 1]) || !IsHex(text[i + 2])) { decoded = ""; return false; }
                sb.Append((char)Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is < '!' or > '~' || c == '=') { decoded = ""; return false; }
            else sb.Append(c);
        }
        decoded = sb.ToString();
        return true;
    }

    public static string Encode(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is >= (byte)'!' and <= (byte)'~' && b != '+' && b != '=') sb.Append((char)b);
            else sb.Append('+').Append(b.ToString("X2"));
        }
        return sb.ToString();
    }

    static bool IsHex(char c) => char.IsAsciiHexDigit(c);
}
