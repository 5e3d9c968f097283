using System.Text;

namespace Gateway.Imap;

/// <summary>
/// Parses a complete IMAP command (as assembled by <see cref="ImapCommandReader"/>: text with literals already read)
/// into tag, name and an argument tree, following RFC 3501 9. A bracketed section inside an atom
/// (<c>BODY[HEADER.FIELDS (From To)]&lt;0.100&gt;</c>) is kept whole as one atom for the command that understands it.
/// </summary>
public static class ImapCommandParser
{
    const int MaxDepth = 32;

    public static ImapCommand Parse(ImapRawCommand raw)
    {
        var cursor = new Cursor(raw);
        var tag = cursor.ReadTag();
        cursor.Expect(' ', "a space after the tag", tag);
        var name = cursor.ReadAtom(tag).ToUpperInvariant();
        var arguments = new List<ImapValue>();
        while (!cursor.AtEnd)
        {
            if (cursor.PeekIs(')')) throw new ImapSyntaxException("unbalanced parentheses: unexpected ')'", tag);
            cursor.Expect(' ', "a space between arguments", tag);
            arguments.Add(cursor.ReadValue(tag, 0));
        }
        return new ImapCommand(tag, name, arguments);
    }

    sealed class Cursor(ImapRawCommand raw)
    {
        int _part;
        int _pos;

        public bool AtEnd
        {
            get
            {
                while (_part < raw.Parts.Count && raw.Parts[_part] is ImapRawPart.Text t && _pos >= t.Value.Length) { _part++; _pos = 0; }
                return _part >= raw.Parts.Count;
            }
        }

        char? Peek() => !AtEnd && raw.Parts[_part] is ImapRawPart.Text t ? t.Value[_pos] : null;

        public bool PeekIs(char c) => Peek() == c;

        bool AtLiteral => !AtEnd && raw.Parts[_part] is ImapRawPart.Literal or ImapRawPart.SpooledLiteral;

        public void Expect(char c, string what, string? tag)
        {
            if (Peek() != c) throw new ImapSyntaxException($"expected {what}", tag);
            _pos++;
        }

        public string ReadTag()
        {
            var sb = new StringBuilder();
            while (Peek() is { } c && c != ' ')
            {
                if (!ImapChars.IsTagChar(c)) throw new ImapSyntaxException("invalid character in tag");
                sb.Append(c);
                _pos++;
            }
            if (sb.Length == 0) throw new ImapSyntaxException("missing tag");
            return sb.ToString();
        }

        public string ReadAtom(string? tag)
        {
            var sb = new StringBuilder();
            while (Peek() is { } c && c != ' ' && c != ')')
            {
                if (c == '[') { ReadBracketed(sb, tag); continue; }
                if (!IsTokenChar(c)) throw new ImapSyntaxException($"invalid character '{Printable(c)}' in atom", tag);
                sb.Append(c);
                _pos++;
            }
            if (sb.Length == 0) throw new ImapSyntaxException("missing atom", tag);
            return sb.ToString();
        }

        /// <summary>Copies "[...]" (which may hold spaces and parenthesized lists) into the atom being read.</summary>
        void ReadBracketed(StringBuilder sb, string? tag)
        {
            var depth = 0;
            while (Peek() is { } c)
            {
                sb.Append(c);
                _pos++;
                if (c == '[') depth++;
                else if (c == ']' && --depth == 0) return;
            }
            throw new ImapSyntaxException("unterminated '[' section", tag);
        }

        public ImapValue ReadValue(string tag, int depth)
        {
            if (AtLiteral)
            {
                var literal = raw.Parts[_part];
                _part++;
                _pos = 0;
                return literal is ImapRawPart.SpooledLiteral spooled
                    ? new ImapValue.Spooled(spooled.Content)
                    : new ImapValue.String(((ImapRawPart.Literal)literal).Bytes, IsLiteral: true);
            }
            switch (Peek())
            {
                case null: throw new ImapSyntaxException("missing argument", tag);
                case '"': return ReadQuoted(tag);
                case '(':
                {
                    if (depth >= MaxDepth) throw new ImapSyntaxException("lists nested too deeply", tag);
                    _pos++;
                    var items = new List<ImapValue>();
                    while (true)
                    {
                        if (Peek() == ')') { _pos++; return new ImapValue.List(items); }
                        if (AtEnd) throw new ImapSyntaxException("unbalanced parentheses: missing ')'", tag);
                        if (items.Count > 0) Expect(' ', "a space between list items", tag);
                        items.Add(ReadValue(tag, depth + 1));
                    }
                }
                case ')': throw new ImapSyntaxException("unbalanced parentheses: unexpected ')'", tag);
                default:
                {
                    var atom = ReadAtom(tag);
                    return atom.Equals("NIL", StringComparison.OrdinalIgnoreCase) ? new ImapValue.Nil() : new ImapValue.Atom(atom);
                }
            }
        }

        ImapValue ReadQuoted(string tag)
        {
            _pos++; // opening quote
            var bytes = new List<byte>();
            while (true)
            {
                var c = Peek() ?? throw new ImapSyntaxException("unterminated quoted string", tag);
                _pos++;
                if (c == '"') return new ImapValue.String(bytes.ToArray(), IsLiteral: false);
                if (c == '\\')
                {
                    var escaped = Peek();
                    if (escaped is not ('"' or '\\')) throw new ImapSyntaxException("only \\\" and \\\\ may be escaped in a quoted string", tag);
                    _pos++;
                    bytes.Add((byte)escaped.Value);
                    continue;
                }
                if (c is '\r' or '\n' || c == '\0') throw new ImapSyntaxException("CR, LF and NUL are not allowed in a quoted string; use a literal", tag);
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }

        // Wider than ATOM-CHAR on purpose: the '*' and '%' of sequence sets and LIST patterns, '\' of flags, ']' (ASTRING-CHAR) and
        // 8-bit (UTF-8) octets all appear in unquoted arguments; the commands check their own arguments strictly.
        static bool IsTokenChar(char c) => ImapChars.IsAtomChar(c) || c is '%' or '*' or ']' or '\\' || c > 127;
        static string Printable(char c) => c < ' ' ? $"\\x{(int)c:X2}" : c.ToString();
    }
}
