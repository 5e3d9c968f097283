using System.Text;
using Gateway.Queue;
using Gateway.Smtp;
using Gateway.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>One recipient a protected message did not reach, with the RFC 3463 status and the reason.</summary>
public sealed record UndeliveredRecipient(string Address, string Status, string Reason);

/// <summary>
/// Delivery status notifications (RFC 3464 multipart/report) that an element sends about a protected message: a
/// part held too long for an unknown recipient, or a part that failed its checks. Unlike the queue's DSNs they
/// return no content (the element never had it in the clear) but name the message by its Message-ID. They go to
/// local users, and to a sender elsewhere only when the sender's own signature on the part was checked up to the
/// Root (a part held for an invited address, or relayed for another courier): a part that failed its checks names a
/// sender nobody vouched for, and mail to a forged address elsewhere would be backscatter. A report to a sender
/// elsewhere travels as ordinary mail through the queue, to the sender's courier.
/// </summary>
public sealed class NonDeliveryNotice(MessageQueue queue, IUserStore users, string hostname, ILogger<NonDeliveryNotice> logger)
{
    /// <param name="senderVouched">The sender's signature on the part was verified (chains to the Root, unrevoked).</param>
    public async Task SendAsync(string element, string sender, string messageId, string? internetMessageId, IReadOnlyList<UndeliveredRecipient> recipients,
        CancellationToken cancellationToken, bool senderVouched = false)
    {
        if (!SmtpMailbox.TryParse(sender, out var to) || (users.Find(sender) is null && !senderVouched))
        {
            logger.LogWarning("{Element}: no delivery report for {MessageId}: the sender <{Sender}> is not a local user and did not sign the part", element, messageId, sender);
            return;
        }
        var now = DateTimeOffset.UtcNow;
        var dsn = new MimeMessage();
        dsn.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + hostname));
        dsn.To.Add(new MailboxAddress("", to.Address));
        dsn.Subject = "Undelivered Mail Returned to Sender";
        dsn.Date = now;
        dsn.MessageId = $"{messageId}.{element.ToLowerInvariant()}.failed.{now.ToUnixTimeSeconds()}@{hostname}";
        dsn.Headers.Add("Auto-Submitted", "auto-replied");
        if (internetMessageId is not null) dsn.References.Add(internetMessageId);

        var text = new StringBuilder()
            .Append("This is the Gateway mail system at ").Append(hostname).Append(".\n\n")
            .Append("Your protected message ").Append(internetMessageId ?? messageId).Append(" could not be delivered to the recipients below. ")
            .Append("This is a permanent error; it will not be retried.\n\n");
        foreach (var r in recipients) text.Append('<').Append(r.Address).Append(">: ").Append(r.Reason).Append('\n');
        text.Append("\nCourier message id: ").Append(messageId).Append(" (reported by the ").Append(element).Append(")\n");

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = text.ToString() });
        var status = new MessageDeliveryStatus();
        status.StatusGroups.Add(new HeaderList { { "Reporting-MTA", "dns; " + hostname }, { "X-Gateway-Message-Id", messageId } });
        foreach (var r in recipients)
            status.StatusGroups.Add(new HeaderList
            {
                { "Final-Recipient", "rfc822; " + r.Address },
                { "Action", "failed" },
                { "Status", r.Status },
                { "Diagnostic-Code", "x-gateway; " + r.Reason.Replace('\r', ' ').Replace('\n', ' ') },
            });
        report.Add(status);
        dsn.Body = report;

        using var buffer = new MemoryStream(CourierMime.Bytes(dsn), writable: false);
        var queued = await queue.EnqueueAsync(buffer, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", cancellationToken);
        logger.LogInformation("{Element} queued delivery report {QueueId} to {Sender} for {MessageId}: {Count} recipient(s) failed", element, queued.Id, sender, messageId, recipients.Count);
    }
}
