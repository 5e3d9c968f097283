using System.Text;

namespace Gateway.Imap;

/// <summary>One argument of an IMAP command (RFC 3501 9): an atom, a string (quoted or literal), NIL, or a parenthesized list.</summary>
public abstract record ImapValue
{
    public sealed record Atom(string Text) : ImapValue
    {
        public override string ToString() => Text;
    }

    /// <summary>A quoted string or a literal; literals may carry any octets (8-bit, NUL), hence bytes.</summary>
    public sealed record String(byte[] Bytes, bool IsLiteral) : ImapValue
    {
        public string Text => Encoding.UTF8.GetString(Bytes);
        public override string ToString() => IsLiteral ? $"{{{Bytes.Length}}}" : "\"" + Text + "\"";
    }

    /// <summary>A large literal, read from its working copy (see <see cref="ImapRawPart.SpooledLiteral"/>); only APPEND's
    /// message takes one, and it is no string to any other argument.</summary>
    public sealed record Spooled(Stream Content) : ImapValue
    {
        public override string ToString() => $"{{{Content.Length}}}";
    }

    public sealed record Nil : ImapValue
    {
        public override string ToString() => "NIL";
    }

    public sealed record List(IReadOnlyList<ImapValue> Items) : ImapValue
    {
        public override string ToString() => "(" + string.Join(' ', Items) + ")";
    }

    /// <summary>The text of an atom or string argument ("astring"), or null for anything else.</summary>
    public string? AsString() => this switch
    {
        Atom a => a.Text,
        String s => s.Text,
        _ => null,
    };
}

/// <summary>A parsed command: tag, command name (upper case) and arguments.</summary>
public sealed record ImapCommand(string Tag, string Name, IReadOnlyList<ImapValue> Arguments)
{
    public override string ToString() => $"{Tag} {Name}" + (Arguments.Count > 0 ? " " + string.Join(' ', Arguments) : "");
}

/// <summary>A command that does not follow RFC 3501 syntax; the tag is known when it could be read, for a tagged BAD.</summary>
public sealed class ImapSyntaxException(string message, string? tag = null) : Exception(message)
{
    public string? Tag { get; } = tag;
}
