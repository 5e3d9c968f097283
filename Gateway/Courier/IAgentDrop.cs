using Gateway.Storage.Mail;

namespace Gateway.Courier;

/// <summary>A content part the Foreground re-wrapped for one local recipient (signed by the Foreground, sealed to the
/// recipient), ready for the recipient's INBOX.</summary>
/// <param name="Content">The message, seekable (a working copy); read from its start, left open.</param>
/// <param name="Mailbox">The folder to file it in (a moved mailbox); null: INBOX.</param>
public sealed record ProtectedDelivery(string Recipient, string MessageId, Stream Content, string? Mailbox = null, IReadOnlyList<string>? Flags = null)
{
    /// <summary>The content from its start, as a stream whose disposal leaves <see cref="Content"/> open.</summary>
    public Stream OpenContent()
    {
        Content.Position = 0;
        return new MimeKit.IO.BoundStream(Content, 0, -1, leaveOpen: true);
    }
}

/// <summary>
/// Where the Foreground puts what it re-wrapped for local recipients: their INBOX when the Agent runs in this process
/// (<see cref="MailboxAgentDrop"/>), or the Agent's host over SMTP (<see cref="AgentLink"/>).
/// </summary>
public interface IAgentDrop
{
    /// <summary>Stores or queues every delivery durably (the same message for the same recipient twice is one);
    /// returns why each one that could not be is not (empty: all done).</summary>
    Task<IReadOnlyList<string>> PutAsync(IReadOnlyList<ProtectedDelivery> deliveries, CancellationToken cancellationToken);
}

/// <summary>The Agent in this process: straight into the recipients' INBOX, marked as protected (the reading Agent opens it).</summary>
public sealed class MailboxAgentDrop(MailStore mailboxes) : IAgentDrop
{
    public async Task<IReadOnlyList<string>> PutAsync(IReadOnlyList<ProtectedDelivery> deliveries, CancellationToken cancellationToken)
    {
        foreach (var d in deliveries.Where(d => d.Mailbox is not null && mailboxes.Mailboxes(d.Recipient).All(m => m.Name != d.Mailbox)))
        {
            try { mailboxes.Create(d.Recipient, d.Mailbox!); }
            catch (MailboxException) { } // made meanwhile, or not a valid name: the append says which
        }
        var requests = deliveries.Select(d => new AppendRequest(d.Recipient, d.Mailbox ?? "INBOX", d.OpenContent, d.Flags,
            DeliveryKey: ForegroundElement.DeliveryKey(d.MessageId, d.Recipient), ProtectedId: d.MessageId)).ToList();
        var results = await mailboxes.AppendManyAsync(requests, cancellationToken);
        return results.Where(r => r.Error is not null).Select(r => r.Error!.Message).ToList();
    }
}

/// <summary>
/// The Agent on another host: each delivery is queued durably and sent over SMTP from <c>foreground@COURIER</c> to the
/// recipient at the Agent's host's delivery listener (Courier:AgentEndpoint), by a <see cref="PeerDeliveryWorker"/>
/// with retries; that host checks the Foreground's signature before it answers 250 (<see cref="ForegroundDelivery"/>).
/// </summary>
public sealed class AgentLink(PeerOutbox outbox, string endpoint, Func<string?> foregroundAddress) : IAgentDrop
{
    public PeerOutbox Outbox => outbox;

    public Task<IReadOnlyList<string>> PutAsync(IReadOnlyList<ProtectedDelivery> deliveries, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var from = foregroundAddress();
        foreach (var d in deliveries)
        {
            if (from is null) { problems.Add("the Foreground has no certificate yet"); continue; }
            var key = ForegroundElement.DeliveryKey(d.MessageId, d.Recipient);
            var name = "agent-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)), 0, 16).ToLowerInvariant();
            outbox.Enqueue(new OutboundEntry
            {
                Id = name, Endpoint = endpoint, Peer = "own Agent", From = from, To = d.Recipient, Kind = InterCourierKind.ContentPart,
                MessageId = d.MessageId, Recipients = { d.Recipient }, CreatedUtc = DateTime.UtcNow, NextAttemptUtc = DateTime.UtcNow,
            }, stream =>
            {
                using var content = d.OpenContent();
                content.CopyTo(stream, 64 * 1024);
            });
        }
        return Task.FromResult<IReadOnlyList<string>>(problems);
    }
}
