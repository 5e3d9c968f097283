namespace Gateway.Storage.Mail;

/// <summary>One message for <see cref="MailStore.AppendManyAsync"/>; <paramref name="OpenContent"/> is called once and the stream disposed.</summary>
public sealed record AppendRequest(string User, string Mailbox, Func<Stream> OpenContent, IEnumerable<string>? Flags = null,
    DateTime? InternalDateUtc = null, string? DeliveryKey = null, string? ProtectedId = null);

/// <summary>The stored message, or why this request was refused (<see cref="MailboxException"/>, <see cref="QuotaExceededException"/>, ...).</summary>
public sealed record AppendResult(MessageRecord? Message, Exception? Error);
