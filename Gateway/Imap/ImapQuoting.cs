using System.Buffers;
using System.Text;

namespace Gateway.Imap;

/// <summary>
/// Writes IMAP strings into server responses (RFC 3501 4.3 and the <c>string</c>, <c>nstring</c> and <c>quoted</c>
/// rules of RFC 3501 9).
/// </summary>
/// <remarks>
/// <para>A value is sent as a quoted string when every character is a <c>TEXT-CHAR</c> (7-bit, not NUL, CR or LF);
/// <c>"</c> and <c>\</c> are then escaped with a backslash (<c>quoted-specials</c>). Anything else (8-bit text,
/// CR, LF, NUL) is sent as a literal, <c>{n}CRLF</c> followed by the octets.</para>
/// <para>The literal's octet count is the UTF-8 length of the value: the response that carries it must be written
/// to the client UTF-8 encoded.</para>
/// </remarks>
public static class ImapQuoting
{
    /// <summary>Characters that may appear unescaped in a quoted string: TEXT-CHAR minus the quoted-specials.</summary>
    static readonly SearchValues<char> Plain = SearchValues.Create(PlainChars());

    static string PlainChars()
    {
        var chars = new StringBuilder();
        for (var c = (char)1; c < 128; c++)
            if (c is not ('\r' or '\n' or '"' or '\\')) chars.Append(c);
        return chars.ToString();
    }

    /// <summary>Whether <paramref name="value"/> can be sent as a quoted string (RFC 3501 9, <c>quoted</c>).</summary>
    public static bool CanQuote(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
            if (c is '\0' or '\r' or '\n' or > '\x7f') return false;
        return true;
    }

    /// <summary>Appends <paramref name="value"/> as an IMAP <c>string</c>: quoted when possible, otherwise a literal.</summary>
    public static StringBuilder AppendString(StringBuilder builder, string value)
    {
        var span = value.AsSpan();
        var special = span.IndexOfAnyExcept(Plain);
        if (special < 0) return builder.Append('"').Append(value).Append('"');
        if (!CanQuote(span))
            return builder.Append('{').Append(Encoding.UTF8.GetByteCount(value)).Append("}\r\n").Append(value);

        builder.Append('"').Append(span[..special]);
        foreach (var c in span[special..])
        {
            if (c is '"' or '\\') builder.Append('\\');
            builder.Append(c);
        }
        return builder.Append('"');
    }

    /// <summary>Appends an IMAP <c>nstring</c>: <c>NIL</c> for null, otherwise as <see cref="AppendString"/>.</summary>
    public static StringBuilder AppendNString(StringBuilder builder, string? value) =>
        value is null ? builder.Append("NIL") : AppendString(builder, value);

    /// <summary><paramref name="value"/> as an IMAP <c>nstring</c>.</summary>
    public static string NString(string? value) => AppendNString(new StringBuilder(), value).ToString();
}
