using System.Text;

namespace Gateway.Imap;

/// <summary>
/// The raw (unfolded, undecoded) header values an ENVELOPE is made of (RFC 3501 7.4.2). Only the first occurrence
/// of each field counts; null when the field is absent.
/// </summary>
internal sealed class EnvelopeFields
{
    public string? Date, Subject, From, Sender, ReplyTo, To, Cc, Bcc, InReplyTo, MessageId;

    /// <summary>Keeps <paramref name="value"/> when <paramref name="name"/> is an envelope field seen for the first time.</summary>
    public void Offer(string name, string value)
    {
        switch (name.Length)
        {
            case 2 when Is(name, "To"): To ??= value; break;
            case 2 when Is(name, "Cc"): Cc ??= value; break;
            case 3 when Is(name, "Bcc"): Bcc ??= value; break;
            case 4 when Is(name, "Date"): Date ??= value; break;
            case 4 when Is(name, "From"): From ??= value; break;
            case 6 when Is(name, "Sender"): Sender ??= value; break;
            case 7 when Is(name, "Subject"): Subject ??= value; break;
            case 8 when Is(name, "Reply-To"): ReplyTo ??= value; break;
            case 10 when Is(name, "Message-ID"): MessageId ??= value; break;
            case 11 when Is(name, "In-Reply-To"): InReplyTo ??= value; break;
        }
    }

    static bool Is(string name, string field) => name.Equals(field, StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Formats the ENVELOPE structure of RFC 3501 7.4.2: <c>(date subject from sender reply-to to cc bcc in-reply-to
/// message-id)</c>, with addresses as <c>(name adl mailbox host)</c>.
/// </summary>
/// <remarks>
/// <para>Values are the raw header text: encoded words (RFC 2047) are left for the client to decode, as RFC 3501
/// intends. Quoted strings and quoted-pairs in addresses are unquoted, since the IMAP string carries the value.</para>
/// <para>Sender and Reply-To default to From when absent or empty (RFC 3501 7.4.2). Groups (RFC 5322 3.4) become a
/// start marker <c>(NIL NIL "name" NIL)</c>, the members, and an end marker <c>(NIL NIL NIL NIL)</c>. An address
/// without a domain gets the host <c>"MISSING_DOMAIN"</c> and one without a local part the mailbox
/// <c>"MISSING_MAILBOX"</c>, as Dovecot does, because a NIL host would read as a group marker.</para>
/// </remarks>
internal static class ImapEnvelope
{
    public static string Format(EnvelopeFields fields)
    {
        var builder = new StringBuilder(256);
        builder.Append('(');
        ImapQuoting.AppendNString(builder, fields.Date).Append(' ');
        ImapQuoting.AppendNString(builder, fields.Subject).Append(' ');
        var from = AddressList(fields.From);
        builder.Append(from ?? "NIL").Append(' ');
        builder.Append(AddressList(fields.Sender) ?? from ?? "NIL").Append(' ');
        builder.Append(AddressList(fields.ReplyTo) ?? from ?? "NIL").Append(' ');
        builder.Append(AddressList(fields.To) ?? "NIL").Append(' ');
        builder.Append(AddressList(fields.Cc) ?? "NIL").Append(' ');
        builder.Append(AddressList(fields.Bcc) ?? "NIL").Append(' ');
        ImapQuoting.AppendNString(builder, fields.InReplyTo).Append(' ');
        ImapQuoting.AppendNString(builder, fields.MessageId);
        return builder.Append(')').ToString();
    }

    /// <summary>The envelope of a message without any header.</summary>
    public const string Empty = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

    /// <summary><c>"(" 1*address ")"</c> for an address header value, or null when it holds no address.</summary>
    public static string? AddressList(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var tokens = Tokenize(value);
        var builder = new StringBuilder(value.Length + 32);
        builder.Append('(');
        var empty = builder.Length;
        var i = 0;
        while (i < tokens.Count)
        {
            if (tokens[i].Is(',') || tokens[i].Is(';') || tokens[i].Is('>')) { i++; continue; }
            ReadAddress(tokens, ref i, builder, inGroup: false);
        }
        if (builder.Length == empty) return null;
        return builder.Append(')').ToString();
    }

    enum Kind { Atom, Quoted, Comment, DomainLiteral, Special }

    readonly record struct Token(Kind Kind, string Text, bool SpaceBefore)
    {
        public bool Is(char special) => Kind == Kind.Special && Text[0] == special;
        public bool IsWord => Kind is Kind.Atom or Kind.Quoted;
    }

    /// <summary>RFC 5322 3.2.3 specials as far as address structure goes.</summary>
    const string Specials = "<>@,;:.[]";

    static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        var space = false;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\r' or '\n') { space = true; i++; continue; }
            if (c == '"')
            {
                tokens.Add(new(Kind.Quoted, MimeHeaderSyntax.ReadQuoted(text, ref i), space));
            }
            else if (c == '(')
            {
                var comment = new StringBuilder();
                MimeHeaderSyntax.ReadComment(text, ref i, comment);
                tokens.Add(new(Kind.Comment, comment.ToString(), space));
            }
            else if (c == '[')
            {
                var end = text.IndexOf(']', i);
                end = end < 0 ? text.Length : end + 1;
                tokens.Add(new(Kind.DomainLiteral, text[i..end], space));
                i = end;
            }
            else if (Specials.IndexOf(c) >= 0)
            {
                tokens.Add(new(Kind.Special, c.ToString(), space));
                i++;
            }
            else
            {
                var start = i;
                while (i < text.Length && text[i] is not (' ' or '\t' or '\r' or '\n' or '"' or '(' or ')') && Specials.IndexOf(text[i]) < 0) i++;
                if (i == start) i++; // a stray ")"
                else tokens.Add(new(Kind.Atom, text[start..i], space));
            }
            space = false;
        }
        return tokens;
    }

    /// <summary>Reads one mailbox or group (RFC 5322 3.4 <c>address</c>) from <paramref name="i"/> and appends its IMAP form.</summary>
    static void ReadAddress(List<Token> tokens, ref int i, StringBuilder builder, bool inGroup)
    {
        var start = i;
        while (i < tokens.Count && !IsStop(tokens[i])) i++;
        var stop = i < tokens.Count ? tokens[i].Text[0] : '\0';

        switch (stop)
        {
            case ':' when !inGroup:
            {
                // group = display-name ":" [group-list] ";"
                var name = Phrase(tokens, start, i) ?? "";
                i++;
                builder.Append("(NIL NIL ");
                ImapQuoting.AppendString(builder, name).Append(" NIL)");
                while (i < tokens.Count)
                {
                    if (tokens[i].Is(';')) { i++; break; }
                    if (tokens[i].Is(',') || tokens[i].Is('>') || tokens[i].Is(':')) { i++; continue; }
                    ReadAddress(tokens, ref i, builder, inGroup: true);
                }
                builder.Append("(NIL NIL NIL NIL)");
                return;
            }
            case '<':
            {
                // name-addr = [display-name] "<" [route] addr-spec ">"
                var name = Phrase(tokens, start, i);
                i++;
                string? route = null;
                if (i < tokens.Count && tokens[i].Is('@'))
                {
                    var routeStart = i;
                    while (i < tokens.Count && !tokens[i].Is(':') && !tokens[i].Is('>')) i++;
                    if (i < tokens.Count && tokens[i].Is(':')) { route = Concatenate(tokens, routeStart, i); i++; }
                    else i = routeStart;
                }
                var localStart = i;
                while (i < tokens.Count && !tokens[i].Is('@') && !tokens[i].Is('>')) i++;
                var local = Concatenate(tokens, localStart, i);
                string? domain = null;
                if (i < tokens.Count && tokens[i].Is('@'))
                {
                    var domainStart = ++i;
                    while (i < tokens.Count && !tokens[i].Is('>') && !tokens[i].Is(',') && !tokens[i].Is(';')) i++;
                    domain = Concatenate(tokens, domainStart, i);
                }
                if (i < tokens.Count && tokens[i].Is('>')) i++;
                while (i < tokens.Count && !tokens[i].Is(',') && !tokens[i].Is(';')) i++;
                name ??= FirstComment(tokens, start, i);
                if (local.Length == 0 && string.IsNullOrEmpty(domain) && route is null)
                    AppendMailbox(builder, name, null, "", ""); // <> (the null address)
                else
                    AppendMailbox(builder, name, route, local, domain);
                return;
            }
            case '@':
            {
                // addr-spec = local-part "@" domain, perhaps with a comment holding the name
                var local = Concatenate(tokens, start, i);
                var domainStart = ++i;
                while (i < tokens.Count && !tokens[i].Is(',') && !tokens[i].Is(';') && !tokens[i].Is('<')) i++;
                var domain = Concatenate(tokens, domainStart, i);
                AppendMailbox(builder, FirstComment(tokens, start, i), null, local, domain);
                return;
            }
            default:
            {
                // A bare word list: a local part with no domain (e.g. "To: undisclosed-recipients").
                var local = Phrase(tokens, start, i);
                if (stop is ':' or '>') i++;
                if (local is not null) AppendMailbox(builder, null, null, local, null);
                return;
            }
        }
    }

    static bool IsStop(Token token) => token.Kind == Kind.Special && token.Text[0] is '<' or '>' or ':' or '@' or ',' or ';';

    static void AppendMailbox(StringBuilder builder, string? name, string? route, string local, string? domain)
    {
        builder.Append('(');
        ImapQuoting.AppendNString(builder, string.IsNullOrEmpty(name) ? null : name).Append(' ');
        ImapQuoting.AppendNString(builder, route).Append(' ');
        ImapQuoting.AppendString(builder, local.Length == 0 && domain != "" ? "MISSING_MAILBOX" : local).Append(' ');
        ImapQuoting.AppendString(builder, domain is null || (domain.Length == 0 && local.Length > 0) ? "MISSING_DOMAIN" : domain);
        builder.Append(')');
    }

    /// <summary>
    /// A display name or group name: its words (quoted strings unquoted) and dots, joined by a single space where the
    /// header had white space between them. Comments are not part of it. Null when there are no words.
    /// </summary>
    static string? Phrase(List<Token> tokens, int start, int end)
    {
        StringBuilder? phrase = null;
        for (var i = start; i < end; i++)
        {
            var t = tokens[i];
            if (t.Kind == Kind.Comment) continue;
            phrase ??= new StringBuilder();
            if (phrase.Length > 0 && t.SpaceBefore) phrase.Append(' ');
            phrase.Append(t.Text);
        }
        return phrase?.ToString();
    }

    /// <summary>A local part, domain or route: the tokens run together, comments and white space dropped (RFC 5322 3.4.1).</summary>
    static string Concatenate(List<Token> tokens, int start, int end)
    {
        var text = new StringBuilder();
        for (var i = start; i < end; i++)
            if (tokens[i].Kind != Kind.Comment) text.Append(tokens[i].Text);
        return text.ToString();
    }

    /// <summary>The first non-empty comment in a range: the name of <c>addr-spec (Name)</c> forms.</summary>
    static string? FirstComment(List<Token> tokens, int start, int end)
    {
        for (var i = start; i < end; i++)
            if (tokens[i].Kind == Kind.Comment && tokens[i].Text.Trim().Length > 0) return tokens[i].Text.Trim();
        return null;
    }
}
