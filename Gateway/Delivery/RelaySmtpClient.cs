using MailKit;
using MailKit.Net.Smtp;
using MimeKit;
using Gateway.Smtp;

namespace Gateway.Delivery;

/// <summary>
/// MailKit's SMTP client, told which DSN parameters (RFC 3461) each recipient carries and made to record a refused
/// recipient instead of abandoning the whole transaction, so that each recipient gets its own outcome.
/// </summary>
internal sealed class RelaySmtpClient : SmtpClient
{
    readonly Dictionary<string, DsnNotify> _notify = new(StringComparer.OrdinalIgnoreCase);
    string? _envelopeId;

    public Dictionary<string, SmtpResponse> Refused { get; } = new(StringComparer.OrdinalIgnoreCase);
    public HashSet<string> Accepted { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>When the connection last finished a transaction (for the connection cache).</summary>
    public DateTime IdleSinceUtc { get; set; }

    /// <summary>Sets the per-message envelope details; a cached connection carries several messages in turn.</summary>
    public void BeginMessage(IEnumerable<(string Address, DsnNotify Notify, string? OriginalRecipient)> recipients, string? envelopeId, DsnReturn ret)
    {
        _notify.Clear();
        Refused.Clear();
        Accepted.Clear();
        // MailKit 4.18 has no hook for ORCPT (its GetOriginalRecipientAddress is not virtual): it sends the
        // RCPT address itself. The ORCPT we received is kept for our own DSNs' Original-Recipient field.
        foreach (var (address, notify, _) in recipients) _notify[address] = notify;
        _envelopeId = envelopeId;
        DeliveryStatusNotificationType = ret switch
        {
            DsnReturn.Full => MailKit.Net.Smtp.DeliveryStatusNotificationType.Full,
            DsnReturn.Headers => MailKit.Net.Smtp.DeliveryStatusNotificationType.HeadersOnly,
            _ => MailKit.Net.Smtp.DeliveryStatusNotificationType.Unspecified,
        };
    }

    /// <summary>BDAT (RFC 3030) when the next hop offers CHUNKING: no dot-stuffing, exact octet counts.</summary>
    protected override bool PreferSendAsBinaryData => true;

    /// <summary>
    /// MailKit would re-encode parts to suit the server (adding Content-Transfer-Encoding and the like). A relay must
    /// pass the message on exactly as it was received (a signed part must never be rewritten), so nothing is prepared.
    /// </summary>
    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
    }

    protected override string? GetEnvelopeId(MimeMessage message) => _envelopeId;

    protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox)
    {
        if (!_notify.TryGetValue(mailbox.Address, out var notify) || notify == DsnNotify.None) return null;
        if (notify.HasFlag(DsnNotify.Never)) return DeliveryStatusNotification.Never;
        DeliveryStatusNotification result = 0;
        if (notify.HasFlag(DsnNotify.Success)) result |= DeliveryStatusNotification.Success;
        if (notify.HasFlag(DsnNotify.Failure)) result |= DeliveryStatusNotification.Failure;
        if (notify.HasFlag(DsnNotify.Delay)) result |= DeliveryStatusNotification.Delay;
        return result;
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        Accepted.Add(mailbox.Address);

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        Refused[mailbox.Address] = response;
}
