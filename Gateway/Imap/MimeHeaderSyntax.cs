using System.Text;

namespace Gateway.Imap;

/// <summary>
/// Lenient readers for the structured MIME header values that BODYSTRUCTURE reports (RFC 2045 5.1 Content-Type,
/// RFC 2183 Content-Disposition, RFC 3282 Content-Language). Values stay as the message has them: IMAP returns
/// parameter values raw (RFC 3501 7.4.2), so encoded words and RFC 2231 encodings are not decoded here.
/// </summary>
internal static class MimeHeaderSyntax
{
    /// <summary>RFC 2045 tspecials.</summary>
    const string TSpecials = "()<>@,;:\\\"/[]?=";

    static bool IsTokenChar(char c) => c > ' ' && c != '\x7f' && TSpecials.IndexOf(c) < 0;

    /// <summary>Skips white space and (nested) comments (RFC 5322 3.2.2 CFWS).</summary>
    public static void SkipCfws(string text, ref int index)
    {
        while (index < text.Length)
        {
            var c = text[index];
            if (c is ' ' or '\t' or '\r' or '\n') index++;
            else if (c == '(') SkipComment(text, ref index);
            else break;
        }
    }

    /// <summary>Skips a comment starting at <paramref name="index"/> (which is at "("), honouring nesting and quoted-pairs.</summary>
    public static void SkipComment(string text, ref int index) => ReadComment(text, ref index, null);

    /// <summary>Reads a comment starting at "(", appending its unescaped content (without the outer parentheses) to <paramref name="content"/>.</summary>
    public static void ReadComment(string text, ref int index, StringBuilder? content)
    {
        var depth = 0;
        for (; index < text.Length; index++)
        {
            var c = text[index];
            if (c == '\\' && index + 1 < text.Length) { content?.Append(text[++index]); continue; }
            if (c == '(') { if (depth++ > 0) content?.Append(c); continue; }
            if (c == ')') { if (--depth == 0) { index++; return; } content?.Append(c); continue; }
            content?.Append(c);
        }
    }

    /// <summary>Reads a quoted-string starting at the opening DQUOTE and returns its content with quoted-pairs resolved.</summary>
    public static string ReadQuoted(string text, ref int index)
    {
        var value = new StringBuilder();
        for (index++; index < text.Length; index++)
        {
            var c = text[index];
            if (c == '"') { index++; break; }
            if (c == '\\' && index + 1 < text.Length) c = text[++index];
            value.Append(c);
        }
        return value.ToString();
    }

    static string ReadToken(string text, ref int index)
    {
        var start = index;
        while (index < text.Length && IsTokenChar(text[index])) index++;
        return text[start..index];
    }

    /// <summary>
    /// Reads <c>type "/" subtype *(";" parameter)</c> (RFC 2045 5.1). Type and subtype come back upper-case.
    /// False when the value has no type or subtype: RFC 2045 5.2 then has the part default to text/plain.
    /// </summary>
    public static bool TryParseContentType(string value, out string type, out string subtype, out List<HeaderField>? parameters)
    {
        int i = 0;
        SkipCfws(value, ref i);
        type = ReadToken(value, ref i).ToUpperInvariant();
        SkipCfws(value, ref i);
        subtype = "";
        parameters = null;
        if (type.Length == 0 || i >= value.Length || value[i] != '/') return false;
        i++;
        SkipCfws(value, ref i);
        subtype = ReadToken(value, ref i).ToUpperInvariant();
        if (subtype.Length == 0) return false;
        parameters = ReadParameters(value, i);
        return true;
    }

    /// <summary>Reads <c>disposition-type *(";" disposition-parm)</c> (RFC 2183 2); the type comes back upper-case.</summary>
    public static bool TryParseDisposition(string value, out string disposition, out List<HeaderField>? parameters)
    {
        int i = 0;
        SkipCfws(value, ref i);
        disposition = ReadToken(value, ref i).ToUpperInvariant();
        parameters = disposition.Length == 0 ? null : ReadParameters(value, i);
        return disposition.Length > 0;
    }

    /// <summary>
    /// Reads the <c>*(";" attribute "=" value)</c> list from <paramref name="index"/>: attribute names upper-case, values
    /// unquoted but otherwise raw. RFC 2231 3 continuations (<c>name*0</c>, <c>name*1*</c>, ...) are joined into one
    /// parameter, named <c>name*</c> when its first section is charset-encoded, as Dovecot does. Null when there are none.
    /// </summary>
    public static List<HeaderField>? ReadParameters(string value, int index)
    {
        List<HeaderField>? list = null;
        var i = index;
        while (i < value.Length)
        {
            SkipCfws(value, ref i);
            if (i >= value.Length) break;
            if (value[i] == ';') { i++; continue; }

            var nameStart = i;
            while (i < value.Length && value[i] is not ('=' or ';' or ' ' or '\t' or '(' or '"')) i++;
            var name = value[nameStart..i].ToUpperInvariant();
            SkipCfws(value, ref i);
            if (name.Length == 0 || i >= value.Length || value[i] != '=')
            {
                // Not a parameter: skip to the next ";".
                while (i < value.Length && value[i] != ';') { if (value[i] == '"') ReadQuoted(value, ref i); else i++; }
                continue;
            }
            i++;
            SkipCfws(value, ref i);
            string parameterValue;
            if (i < value.Length && value[i] == '"')
            {
                parameterValue = ReadQuoted(value, ref i);
            }
            else
            {
                // A token per RFC 2045, but mailers send unquoted values with spaces: take everything to the next ";"
                // except trailing comments (RFC 2045 5.1's own example: charset=us-ascii (Plain text)).
                var start = i;
                var end = i;
                while (i < value.Length && value[i] != ';')
                {
                    if (value[i] == '(') { SkipComment(value, ref i); continue; }
                    if (value[i] is not (' ' or '\t')) end = i + 1;
                    i++;
                }
                parameterValue = value[start..end];
            }
            (list ??= new()).Add(new HeaderField(name, parameterValue));
        }
        return list is null ? null : JoinContinuations(list);
    }

    /// <summary>Joins RFC 2231 3 parameter continuations (<c>NAME*0</c>, <c>NAME*1</c>, <c>NAME*0*</c>...) into single parameters.</summary>
    static List<HeaderField> JoinContinuations(List<HeaderField> parameters)
    {
        if (!parameters.Exists(p => Section(p.Name, out _, out _) >= 0)) return parameters;

        var result = new List<HeaderField>(parameters.Count);
        var merged = new Dictionary<string, (int Index, List<(int Section, bool Encoded, string Value)> Sections)>(StringComparer.Ordinal);
        foreach (var p in parameters)
        {
            var section = Section(p.Name, out var baseName, out var encoded);
            if (section < 0) { result.Add(p); continue; }
            if (!merged.TryGetValue(baseName, out var entry))
            {
                // The joined parameter takes the position of the first section seen.
                merged[baseName] = entry = (result.Count, new());
                result.Add(p);
            }
            entry.Sections.Add((section, encoded, p.Value));
        }
        foreach (var (baseName, (index, sections)) in merged)
        {
            sections.Sort((a, b) => a.Section.CompareTo(b.Section));
            var firstEncoded = sections[0].Section == 0 && sections[0].Encoded;
            var value = new StringBuilder();
            foreach (var s in sections)
            {
                // Inside an encoded value, a plain section must be percent-encoded to stay literal (RFC 2231 4).
                if (firstEncoded && !s.Encoded) PercentEncode(value, s.Value);
                else value.Append(s.Value);
            }
            result[index] = new HeaderField(firstEncoded ? baseName + "*" : baseName, value.ToString());
        }
        return result;
    }

    /// <summary>The section number of an RFC 2231 <c>NAME*n</c> or <c>NAME*n*</c> parameter name, or -1.</summary>
    static int Section(string name, out string baseName, out bool encoded)
    {
        baseName = name;
        encoded = name.EndsWith('*');
        var end = encoded ? name.Length - 1 : name.Length;
        if (end <= 0) return -1; // "" or "*" (found by fuzzing: an empty parameter name threw)
        var star = name.LastIndexOf('*', end - 1);
        if (star <= 0 || star == end - 1) return -1;
        var digits = name.AsSpan(star + 1, end - star - 1);
        if (digits.Length > 4 || !int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var section)) return -1;
        baseName = name[..star];
        return section;
    }

    static void PercentEncode(StringBuilder builder, string value)
    {
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (b < 0x80 && IsTokenChar(c) && c is not ('*' or '\'' or '%')) builder.Append(c);
            else builder.Append('%').Append(b.ToString("X2"));
        }
    }

    /// <summary>The language tags of a Content-Language value (RFC 3282 2: a comma-separated list), or null.</summary>
    public static List<string>? ParseLanguages(string value)
    {
        List<string>? tags = null;
        int i = 0;
        while (i < value.Length)
        {
            SkipCfws(value, ref i);
            var start = i;
            while (i < value.Length && value[i] is not (',' or ' ' or '\t' or '(')) i++;
            if (i > start) (tags ??= new()).Add(value[start..i]);
            SkipCfws(value, ref i);
            if (i < value.Length && value[i] == ',') i++;
            else if (i < value.Length && i == start) i++; // stray character
        }
        return tags;
    }

    /// <summary>A single-token header value (Content-Transfer-Encoding, RFC 2045 6.1) without comments or white space;
    /// null when absent or not a token, so that the default applies (as Dovecot does).</summary>
    public static string? ParseToken(string value)
    {
        int i = 0;
        SkipCfws(value, ref i);
        var token = ReadToken(value, ref i);
        SkipCfws(value, ref i);
        return token.Length > 0 && i == value.Length ? token : null;
    }
}
