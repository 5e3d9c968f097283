using System.Globalization;
using System.Text.Json.Serialization;
using MimeKit;
using MimeKit.Utils;

namespace Gateway.Courier;

/// <summary>
/// What the sender allows a recipient to do with a message; carried in the ARM and checked by the recipient's
/// Agent each time it is asked to open the message. Null/false means no restriction.
/// </summary>
public sealed record AccessRestrictions
{
    /// <summary>After this instant the message no longer opens.</summary>
    public DateTimeOffset? ExpiresUtc { get; init; }
    /// <summary>How many times each recipient may open it.</summary>
    public int? MaxOpens { get; init; }
    /// <summary>The recipient's Agent refuses to release it into a forward.</summary>
    public bool NoForward { get; init; }
    /// <summary>The sender wants a receipt when each recipient first opens it (and when an open is refused).</summary>
    public bool ReceiptWanted { get; init; }

    public static readonly AccessRestrictions None = new();

    /// <summary>The stricter of two sets, field by field: a sender's headers may tighten policy, never loosen it.</summary>
    public AccessRestrictions Strictest(AccessRestrictions other) => new()
    {
        ExpiresUtc = Min(ExpiresUtc, other.ExpiresUtc),
        MaxOpens = MaxOpens is null ? other.MaxOpens : other.MaxOpens is null ? MaxOpens : Math.Min(MaxOpens.Value, other.MaxOpens.Value),
        NoForward = NoForward || other.NoForward,
        ReceiptWanted = ReceiptWanted || other.ReceiptWanted,
    };

    static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : (a < b ? a : b);

    [JsonIgnore] public bool IsEmpty => this == None;

    /// <summary>A one-line description for logs, receipts and the status page.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (ExpiresUtc is { } e) parts.Add("expires " + e.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        if (MaxOpens is { } m) parts.Add($"at most {m} open(s)");
        if (NoForward) parts.Add("no forwarding");
        if (ReceiptWanted) parts.Add("receipt wanted");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}

/// <summary>
/// Restrictions a mail program can ask for with header fields in the submitted message:
/// <list type="bullet">
/// <item><c>X-Gateway-Expires:</c> an RFC 5322 date, or a lifetime such as <c>90m</c>, <c>36h</c>, <c>7d</c></item>
/// <item><c>X-Gateway-Max-Opens:</c> a positive number</item>
/// <item><c>X-Gateway-No-Forward: yes</c></item>
/// <item><c>X-Gateway-Receipt: yes</c>, or <c>Disposition-Notification-To:</c> (RFC 8098, what "request a return receipt" adds)</item>
/// </list>
/// The header fields stay in the message (it is delivered byte for byte); unreadable values are ignored and logged by the caller.
/// </summary>
public static class RestrictionHeaders
{
    public const string Expires = "X-Gateway-Expires";
    public const string MaxOpens = "X-Gateway-Max-Opens";
    public const string NoForward = "X-Gateway-No-Forward";
    public const string Receipt = "X-Gateway-Receipt";

    public static AccessRestrictions Read(HeaderList headers, DateTimeOffset now, ICollection<string>? problems = null)
    {
        DateTimeOffset? expires = null;
        if (headers[Expires] is { } e)
        {
            if (TryLifetime(e.Trim(), out var lifetime)) expires = now + lifetime;
            else if (DateUtils.TryParse(e.Trim(), out var date)) expires = date.ToUniversalTime();
            else problems?.Add($"{Expires}: '{e.Trim()}' is neither a date nor a lifetime like 7d");
        }
        int? maxOpens = null;
        if (headers[MaxOpens] is { } m)
        {
            if (int.TryParse(m.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0) maxOpens = n;
            else problems?.Add($"{MaxOpens}: '{m.Trim()}' is not a positive number");
        }
        return new AccessRestrictions
        {
            ExpiresUtc = expires,
            MaxOpens = maxOpens,
            NoForward = IsYes(headers[NoForward]),
            ReceiptWanted = IsYes(headers[Receipt]) || headers.Contains(HeaderId.DispositionNotificationTo),
        };
    }

    static bool IsYes(string? value) => value is not null && value.Trim().ToLowerInvariant() is "yes" or "true" or "1" or "on";

    /// <summary>Parses <c>90m</c>, <c>36h</c>, <c>7d</c>, <c>2w</c>.</summary>
    public static bool TryLifetime(string text, out TimeSpan lifetime)
    {
        lifetime = default;
        if (text.Length < 2 || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
            return false;
        switch (char.ToLowerInvariant(text[^1]))
        {
            case 'm': lifetime = TimeSpan.FromMinutes(n); return true;
            case 'h': lifetime = TimeSpan.FromHours(n); return true;
            case 'd': lifetime = TimeSpan.FromDays(n); return true;
            case 'w': lifetime = TimeSpan.FromDays(7 * n); return true;
            default: return false;
        }
    }
}
