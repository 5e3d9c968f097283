namespace Gateway.Smtp;

/// <summary>
/// Decisions the SMTP engine asks for: who may send, who may receive. The engine knows nothing of queues,
/// couriers or users; it only applies the reply it is given (null means accept).
/// </summary>
public interface ISmtpPolicy
{
    ValueTask<SmtpReply?> CheckSenderAsync(SmtpSessionInfo session, SmtpMailbox? sender, CancellationToken cancellationToken);
    ValueTask<SmtpReply?> CheckRecipientAsync(SmtpSessionInfo session, SmtpMailbox recipient, CancellationToken cancellationToken);

    /// <summary>
    /// A last look at a received message before it is committed (and 250 given): <paramref name="content"/> reads the
    /// octets as the client sent them (from the start, without our trace headers). Null accepts; a reply refuses the
    /// whole message. Most policies have nothing to check here.
    /// </summary>
    ValueTask<SmtpReply?> CheckMessageAsync(SmtpSessionInfo session, IReadOnlyList<SmtpRecipient> recipients, Stream content, CancellationToken cancellationToken) =>
        ValueTask.FromResult<SmtpReply?>(null);
}

/// <summary>Verifies AUTH credentials.</summary>
public interface ISmtpAuthenticator
{
    /// <summary>Returns the canonical user name on success, null on failure. Must take the same time whether or not the user exists.</summary>
    ValueTask<string?> AuthenticateAsync(string user, string password, CancellationToken cancellationToken);
}

/// <summary>Where accepted messages go. A spool is written while the client sends DATA/BDAT and committed durably before 250.</summary>
public interface IMessageSpoolFactory
{
    IMessageSpool CreateSpool();
}

/// <summary>One message being received. Disposing an uncommitted spool deletes it: nothing half-received survives.</summary>
public interface IMessageSpool : IAsyncDisposable
{
    /// <summary>The queue id, known before the data arrives so that Received: can name it.</summary>
    string Id { get; }
    /// <summary>Where the message octets (after dot-unstuffing) are written.</summary>
    Stream Content { get; }
    /// <summary>Makes the message and its envelope durable (fsync'd). Only after this returns may the server answer 250.</summary>
    Task CommitAsync(SmtpEnvelope envelope, CancellationToken cancellationToken);
}
