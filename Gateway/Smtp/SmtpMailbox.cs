using System.Globalization;
using System.Text;

namespace Gateway.Smtp;

/// <summary>
/// An RFC 5321 mailbox (<c>local-part@domain</c>). The local part is kept as sent (it is case-sensitive by the
/// letter of the RFC); the domain is lower-cased. Non-ASCII is allowed only in an SMTPUTF8 transaction (RFC 6531).
/// </summary>
public sealed class SmtpMailbox : IEquatable<SmtpMailbox>
{
    public string LocalPart { get; }
    public string Domain { get; }
    public string Address => LocalPart + "@" + Domain;
    public bool IsAscii { get; }

    public SmtpMailbox(string localPart, string domain)
    {
        LocalPart = localPart;
        Domain = domain.ToLowerInvariant();
        IsAscii = Ascii.IsValid(localPart) && Ascii.IsValid(domain);
    }

    public override string ToString() => Address;
    public bool Equals(SmtpMailbox? other) => other is not null && string.Equals(Address, other.Address, StringComparison.OrdinalIgnoreCase);
    public override bool Equals(object? obj) => Equals(obj as SmtpMailbox);
    public override int GetHashCode() => StringComparer.OrdinalIgnoreCase.GetHashCode(Address);

    /// <summary>
    /// Parses a bare mailbox (no angle brackets). Accepts a dot-string or quoted-string local part and a domain
    /// or address literal; rejects anything else.
    /// </summary>
    public static bool TryParse(string text, out SmtpMailbox mailbox)
    {
        mailbox = null!;
        if (string.IsNullOrEmpty(text) || text.Length > 512) return false;
        var at = text.LastIndexOf('@');
        if (at <= 0 || at == text.Length - 1) return false;
        var local = text[..at];
        var domain = text[(at + 1)..];
        if (local.Length > 64 && !local.StartsWith('"')) return false;
        if (!IsValidLocalPart(local) || !IsValidDomain(domain)) return false;
        mailbox = new SmtpMailbox(local, domain);
        return true;
    }

    static bool IsValidLocalPart(string local)
    {
        if (local.Length >= 2 && local[0] == '"' && local[^1] == '"')
        {
            for (var i = 1; i < local.Length - 1; i++)
            {
                var c = local[i];
                if (c == '\\') { i++; if (i >= local.Length - 1) return false; continue; }
                if (c == '"' || c < 32 || c == 127) return false;
            }
            return true;
        }
        if (local.StartsWith('.') || local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal)) return false;
        foreach (var c in local)
        {
            if (c == '.') continue;
            if (c > 127) { if (char.IsControl(c) || char.IsWhiteSpace(c)) return false; continue; }
            if (char.IsAsciiLetterOrDigit(c)) continue;
            if ("!#$%&'*+-/=?^_`{|}~".IndexOf(c) >= 0) continue;
            return false;
        }
        return true;
    }

    static bool IsValidDomain(string domain)
    {
        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                return System.Net.IPAddress.TryParse(literal[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            return System.Net.IPAddress.TryParse(literal, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        }
        if (domain.Length > 255) return false;
        string ascii;
        try { ascii = new IdnMapping().GetAscii(domain); }
        catch (ArgumentException) { return false; }
        foreach (var label in ascii.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-')) return false;
            foreach (var c in label) if (!char.IsAsciiLetterOrDigit(c) && c != '-') return false;
        }
        return true;
    }
}
