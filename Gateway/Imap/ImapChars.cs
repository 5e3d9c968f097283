namespace Gateway.Imap;

/// <summary>The character classes of RFC 3501 9 that more than one part of the IMAP code checks against.</summary>
public static class ImapChars
{
    /// <summary>atom-specials besides SP and CTL.</summary>
    const string AtomSpecials = "(){%*\"\\]";

    /// <summary>ATOM-CHAR: printable 7-bit ASCII except the atom-specials.</summary>
    public static bool IsAtomChar(char c) => c > ' ' && c < 127 && AtomSpecials.IndexOf(c) < 0;

    /// <summary>tag = 1*&lt;any ASTRING-CHAR except "+"&gt;, where ASTRING-CHAR = ATOM-CHAR / "]".</summary>
    public static bool IsTagChar(char c) => (IsAtomChar(c) || c == ']') && c != '+';

    public static bool IsAtom(string text) => text.Length > 0 && text.All(IsAtomChar);

    public static bool IsTag(string text) => text.Length > 0 && text.All(IsTagChar);

    /// <summary>header-fld-name (RFC 5322 ftext): printable ASCII except ":".</summary>
    public static bool IsHeaderFieldName(string text) => text.Length > 0 && text.All(c => c > ' ' && c <= '~' && c != ':');
}
