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

    /// <summary>
    /// Delivers to every local recipient of the message in one store transaction (one checkpoint however many
    /// recipients), each with its own Delivered-To: header and its own outcome. A content part our Foreground
    /// re-wrapped on another host (<paramref name="protectedId"/>, checked before 250) is stored as it came, as a
    /// protected message, once per courier message and recipient.
    /// </summary>
    public async Task<IReadOnlyList<RecipientOutcome>> DeliverAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients,
        CancellationToken cancellationToken, string? protectedId = null)
    {
        var outcomes = new RecipientOutcome?[recipients.Count];
        var requests = new List<AppendRequest>();
        var positions = new List<int>();
        for (var i = 0; i < recipients.Count; i++)
        {
            var recipient = recipients[i];
            var user = users.Find(recipient.Address);
            if (user is null)
            {
                outcomes[i] = RecipientOutcome.Permanent(recipient.Address, "5.1.1", $"local user <{recipient.Address}> does not exist");
                continue;
            }
            if (protectedId is not null)
                requests.Add(new AppendRequest(user.Address, "INBOX", () => queue.OpenContent(message), InternalDateUtc: message.ArrivedUtc.UtcDateTime,
                    DeliveryKey: Courier.ForegroundElement.DeliveryKey(protectedId, recipient.Address), ProtectedId: protectedId));
            else
            {
                var header = Encoding.UTF8.GetBytes($"Return-Path: <{message.Sender}>\r\nDelivered-To: {recipient.Address}\r\n");
                requests.Add(new AppendRequest(user.Address, "INBOX", () => new PrefixedReadStream(header, queue.OpenContent(message)),
                    InternalDateUtc: message.ArrivedUtc.UtcDateTime, DeliveryKey: DeliveryKey(message, recipient)));
            }
            positions.Add(i);
        }
        if (requests.Count > 0)
        {
            var results = await store.AppendManyAsync(requests, cancellationToken);
            for (var j = 0; j < results.Count; j++)
            {
                var address = recipients[positions[j]].Address;
                outcomes[positions[j]] = results[j] switch
                {
                    { Message: { } stored } => new RecipientOutcome(address, OutcomeKind.Delivered, "2.0.0", $"delivered to INBOX (UID {stored.Uid})"),
                    // Temporary, as most servers do: the user may make room before the queue gives up (RFC 3463 4.2.2).
                    { Error: QuotaExceededException ex } => RecipientOutcome.Transient(address, "4.2.2", $"mailbox full: {ex.Message}"),
                    { Error: var ex } => RecipientOutcome.Transient(address, "4.3.0", $"mailbox store refused the message: {ex!.Message}"),
                };
            }
        }
        return outcomes.Select(o => o!).ToList();
    }
}
