using System.Text;
using Gateway.Queue;
using Gateway.Smtp;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// Return receipts from key retrieval: a short mail to the sender when a recipient first opens a message (or an
/// open is refused), queued from the null sender like a DSN so that it can never cause a loop.
/// A sender on another courier gets the receipt as ordinary mail through the queue, without the status page link
/// (that page is on the sender's own courier, which keeps the message's record).
/// </summary>
/// <param name="statusPageUrl">Where the sender's status page is (revocation and every recipient's state), or null when there is no HTTPS listener.</param>
/// <param name="isLocalUser">Whether the sender is a user of this courier (then the receipt names the status page).</param>
public sealed class ReceiptMailer(MessageQueue queue, CourierIdentity identity, ILogger<ReceiptMailer> logger, string? statusPageUrl = null,
    Func<string, bool>? isLocalUser = null)
{
    public void Send(ArmRecord record, ReleaseEvent e)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Gateway receipts", identity.ElementAddress(Crypto.CourierElement.Background) ?? "background@invalid"));
        message.To.Add(MailboxAddress.Parse(record.Sender));
        var what = e.Released ? "opened" : "refused";
        message.Subject = $"Receipt: message {record.MessageId} {what} by {record.Recipient}";
        message.Headers.Add("X-Gateway-Receipt-For", record.MessageId);
        if (record.InternetMessageId is { } mid) message.References.Add(mid);
        var text = new StringBuilder()
            .AppendLine(e.Released
                ? $"Your message {record.MessageId} was opened by {record.Recipient} at {e.Utc:yyyy-MM-dd HH:mm:ss} UTC."
                : $"{record.Recipient} tried to open your message {record.MessageId} at {e.Utc:yyyy-MM-dd HH:mm:ss} UTC; the key was not released: {e.Detail["refused: ".Length..]}.")
            .AppendLine()
            .AppendLine($"Message-ID: {record.InternetMessageId ?? "(none)"}");
        if (statusPageUrl is not null && isLocalUser?.Invoke(record.Sender) != false)
            text.AppendLine().AppendLine($"Every recipient's status, and a button to revoke the message: {statusPageUrl}");
        message.Body = new TextPart("plain") { Text = text.ToString() };
        using var buffer = new MemoryStream(CourierMime.Bytes(message), writable: false);
        var to = SmtpMailbox.TryParse(record.Sender, out var mailbox) ? mailbox : throw new FormatException("bad sender address " + record.Sender);
        var queued = queue.EnqueueAsync(buffer, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", CancellationToken.None).GetAwaiter().GetResult();
        logger.LogInformation("Queued receipt {QueueId}: {MessageId} {What} by {Recipient}", queued.Id, record.MessageId, what, record.Recipient);
    }
}
