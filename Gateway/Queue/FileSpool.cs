using System.Text.Json;
using Gateway.Platform;
using Gateway.Sealing;
using Gateway.Smtp;

namespace Gateway.Queue;

/// <summary>A message being received into <c>incoming/</c>, sealed as it arrives; see <see cref="MessageQueue"/> for the commit protocol.</summary>
internal sealed class FileSpool : IMessageSpool
{
    readonly MessageQueue _queue;
    readonly SealedSpoolWriter _file;
    bool _committed;
    bool _disposed;

    public string Id { get; }
    public Stream Content => _file;

    public FileSpool(MessageQueue queue, string id)
    {
        _queue = queue;
        Id = id;
        _file = queue.Seal.Create(queue.IncomingContentPath(id));
    }

    public async Task CommitAsync(SmtpEnvelope envelope, CancellationToken cancellationToken) =>
        await CommitInternalAsync(envelope.Sender, envelope.Recipients, envelope.Ret, envelope.EnvelopeId, envelope.Body, envelope.SmtpUtf8,
            envelope.Size, envelope.PrependedHeaders, envelope.Session, cancellationToken, requireTls: envelope.RequireTls);

    internal async Task<QueuedMessage> CommitInternalAsync(SmtpMailbox? sender, IReadOnlyList<SmtpRecipient> recipients, DsnReturn ret,
        string? envelopeId, BodyType body, bool smtpUtf8, long size, string prependedHeaders, SmtpSessionInfo? session, CancellationToken cancellationToken,
        string? authenticatedUser = null, string? fileInto = null, IReadOnlyList<string>? flags = null, bool requireTls = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException("spool already committed");
        var now = _queue.Now;
        var message = new QueuedMessage
        {
            Id = Id,
            ArrivedUtc = now,
            Sender = sender?.Address,
            Ret = ret,
            EnvelopeId = envelopeId,
            Body = body,
            SmtpUtf8 = smtpUtf8,
            RequireTls = requireTls,
            Size = size,
            AuthenticatedUser = session?.AuthenticatedUser ?? authenticatedUser,
            FileInto = fileInto,
            Flags = flags?.ToList(),
            ClientAddress = session?.RemoteAddress.ToString(),
            ClientHelo = session?.Helo,
            Listener = session?.ListenerName,
            PrependedHeaders = prependedHeaders,
            Recipients = recipients.Select(r => new QueuedRecipient
            {
                Address = r.Mailbox.Address,
                Notify = r.Notify,
                OriginalRecipient = r.OriginalRecipient,
                NextAttemptUtc = now,
            }).ToList(),
        };

        _file.Complete(flushToDisk: true);
        await _file.DisposeAsync();

        var envelopeTemp = _queue.IncomingEnvelopePath(Id);
        using (var envelopeFile = _queue.Seal.Create(envelopeTemp))
        {
            envelopeFile.Write(JsonSerializer.SerializeToUtf8Bytes(message, MessageQueue.Json));
            envelopeFile.Complete(flushToDisk: true);
        }
        File.Move(_queue.IncomingContentPath(Id), _queue.ContentPath(Id));
        File.Move(envelopeTemp, _queue.EnvelopePath(Id));
        DurableFile.SyncDirectory(_queue.MessagesDirectory);
        _committed = true;
        CrashPoint.Hit("queue-after-commit");
        _queue.OnCommitted(message);
        return message;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _file.DisposeAsync();
        if (!_committed)
        {
            TryDelete(_queue.IncomingContentPath(Id));
            TryDelete(_queue.IncomingEnvelopePath(Id));
        }
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { }
    }
}
