using Gateway.Configuration;

namespace Gateway.Courier;

/// <summary>The restrictions policy imposes on a sender: global, then the sender's domain, then the sender, field by field.</summary>
public sealed class RestrictionPolicy(CourierOptions options)
{
    /// <summary>What a message gets: the sender's policy, tightened (never loosened) by the restriction header fields
    /// its sender set; header fields that cannot be read are named in <paramref name="problems"/>.</summary>
    public AccessRestrictions For(string sender, MimeKit.HeaderList headers, DateTimeOffset now, ICollection<string>? problems = null) =>
        For(sender, now).Strictest(RestrictionHeaders.Read(headers, now, problems));

    public AccessRestrictions For(string sender, DateTimeOffset now)
    {
        var domain = sender[(sender.LastIndexOf('@') + 1)..];
        int? days = null, opens = null;
        bool noForward = false, receipt = false;
        foreach (var level in new[] { options.Restrictions, options.DomainRestrictions.GetValueOrDefault(domain), options.UserRestrictions.GetValueOrDefault(sender) })
        {
            if (level is null) continue;
            days = level.ExpiresAfterDays ?? days;
            opens = level.MaxOpens ?? opens;
            noForward = level.NoForward ?? noForward;
            receipt = level.ReceiptWanted ?? receipt;
        }
        return new AccessRestrictions
        {
            ExpiresUtc = days is { } d ? now.AddDays(d) : null,
            MaxOpens = opens,
            NoForward = noForward,
            ReceiptWanted = receipt,
        };
    }
}
