using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Queue;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier.Portal;

/// <summary>
/// The delivery side of the pickup portal. Before a local user's message to an outside recipient is split, the recipient
/// is made a guest of this courier (<see cref="PortalGuests"/>, with a certificate from its CA), so that the Foreground
/// keeps the content part and the Background the ARM for them as for a local user; once they do, the recipient is sent
/// the notification with the pickup link instead of the message.
/// </summary>
public sealed class PortalAdmission(
    PortalGuests guests,
    CourierAuthority authority,
    PickupLink links,
    RestrictionPolicy policy,
    GatewayOptions options,
    string publicUrl,
    ILogger<PortalAdmission> logger,
    TimeProvider? time = null)
{
    public const string PathPrefix = "/pickup/";
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Makes the address a guest with a certificate; null when done, else why the message must wait.</summary>
    public string? Admit(string address)
    {
        try
        {
            if (authority.EnsureUser(address, options.Crypto.UserKeyAlgorithm) is null)
                return "this courier has no CA yet to hold mail for the pickup portal ('gateway ca init --root' or join a network)";
            guests.Add(address, _time.GetUtcNow());
            return null;
        }
        catch (Exception ex) when (ex is CourierAuthorityException or KeyStoreException or IOException or LiteDB.LiteException)
        {
            logger.LogError("Portal cannot hold mail for {Recipient}: {Reason}", address, ex.Message);
            return "mail for the pickup portal cannot be held yet: " + ex.Message;
        }
    }

    /// <summary>The notification that goes to the recipient in place of <paramref name="original"/>.</summary>
    public MimeMessage Notice(QueuedMessage message, QueuedRecipient recipient, MimeMessage original)
    {
        var now = _time.GetUtcNow();
        var sender = message.AuthenticatedUser!.ToLowerInvariant();
        // The Agent made the ARM's restrictions the same way when it split the message (moments before, in this attempt
        // or an earlier one); the Background enforces those, this only tells the recipient.
        var restrictions = policy.For(sender, original.Headers, message.ArrivedUtc);
        var linkExpires = now.AddDays(options.Courier.Portal.LinkDays);
        if (restrictions.ExpiresUtc is { } expires && expires < linkExpires) linkExpires = expires;
        var token = links.Create(message.Id, recipient.Address, linkExpires);
        var shown = original.From.Mailboxes.FirstOrDefault(m => string.Equals(m.Address, sender, StringComparison.OrdinalIgnoreCase));
        var facts = new PickupNoticeFacts(new MailboxAddress(shown?.Name ?? "", sender), recipient.Address.ToLowerInvariant(), message.ArrivedUtc, restrictions,
            linkExpires, publicUrl + PathPrefix + token, options.Courier.Portal.ShowSubject ? original.Subject : null);
        logger.LogInformation("Portal: notification for {QueueId} to {Recipient} (link valid until {Expires:u})", message.Id, recipient.Address, linkExpires);
        return PickupNotice.Build(facts, options.Hostname);
    }
}
