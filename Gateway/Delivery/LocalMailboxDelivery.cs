using System.Text;
using Gateway.Queue;
using Gateway.Storage;
using Gateway.Storage.Mail;

namespace Gateway.Delivery;

/// <summary>
/// Final delivery to a local user's INBOX in the <see cref="MailStore"/>, adding Return-Path: (RFC 5321 4.4) and
/// Delivered-To:. The store is idempotent per (queue id, recipient) and durable when it returns, and the queue marks
/// the recipient delivered only afterwards: a crash at any point leaves the message in the mailbox exactly once.
/// </summary>
public sealed class LocalMailboxDelivery(IUserStore users, MessageQueue queue, MailStore store)
{
    public static string DeliveryKey(QueuedMessage message, QueuedRecipient recipient) => message.Id + "/" + recipient.Address.ToLowerInvariant();

    public async Task<RecipientOutcome> DeliverAsync(QueuedMessage message, QueuedRecipient recipient, CancellationToken cancellationToken)
    {
        var user = users.Find(recipient.Address);
        if (user is null)
            return RecipientOutcome.Permanent(recipient.Address, "5.1.1", $"local user <{recipient.Address}> does not exist");

        var header = Encoding.UTF8.GetBytes($"Return-Path: <{message.Sender}>\r\nDelivered-To: {recipient.Address}\r\n");
        try
        {
            await using var content = new PrefixedReadStream(header, queue.OpenContent(message));
            var stored = await store.AppendAsync(user.Address, "INBOX", content, internalDateUtc: message.ArrivedUtc.UtcDateTime,
                deliveryKey: DeliveryKey(message, recipient), cancellationToken: cancellationToken);
            return new RecipientOutcome(recipient.Address, OutcomeKind.Delivered, "2.0.0", $"delivered to INBOX (UID {stored.Uid})");
        }
        catch (QuotaExceededException ex)
        {
            // Temporary, as most servers do: the user may make room before the queue gives up (RFC 3463 4.2.2).
            return RecipientOutcome.Transient(recipient.Address, "4.2.2", $"mailbox full: {ex.Message}");
        }
    }
}
