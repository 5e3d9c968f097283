using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Platform;
using Gateway.Sealing;
using Gateway.Smtp;
using Microsoft.Extensions.Logging;

namespace Gateway.Queue;

/// <summary>
/// The durable mail queue on disk.
/// <para>Layout: <c>incoming/ID.eml</c> while a message is being received; on commit the octets are fsync'd,
/// the envelope is written and fsync'd as <c>incoming/ID.json</c>, both are renamed into <c>messages/</c>
/// (octets first) and <c>messages/</c> is fsync'd. Only then does SMTP answer 250. A message exists for the
/// queue exactly when <c>messages/ID.json</c> exists; anything else left by a crash is removed at start-up.</para>
/// <para>Both files are sealed (<see cref="SpoolSeal"/>): the octets as they arrive, so nothing of a message rests in
/// clear between its DATA and its delivery, however long it waits. Files an earlier version left plain are sealed
/// in place by <see cref="Recover"/>.</para>
/// </summary>
public sealed class MessageQueue : IMessageSpoolFactory
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    readonly ILogger<MessageQueue> _logger;
    readonly TimeProvider _time;

    /// <summary>Seals the queue's files.</summary>
    public SpoolSeal Seal { get; }

    public string IncomingDirectory { get; }
    public string MessagesDirectory { get; }

    /// <summary>Raised after a message has been committed (durably) to the queue.</summary>
    public event Action<QueuedMessage>? Committed;

    public MessageQueue(DataDirectory data, SpoolSeal seal, ILogger<MessageQueue> logger, TimeProvider? time = null)
    {
        _logger = logger;
        Seal = seal;
        _time = time ?? TimeProvider.System;
        IncomingDirectory = Path.Combine(data.QueueDirectory, "incoming");
        MessagesDirectory = Path.Combine(data.QueueDirectory, "messages");
        DurableFile.CreatePrivateDirectory(IncomingDirectory);
        DurableFile.CreatePrivateDirectory(MessagesDirectory);
    }

    public IMessageSpool CreateSpool() => new FileSpool(this, NewId());

    List<QueuedMessage>? _recovered;

    /// <summary>The messages found by <see cref="Recover"/>, handed over once (to the delivery worker).</summary>
    public List<QueuedMessage> TakeRecovered()
    {
        var taken = _recovered ?? throw new InvalidOperationException("Recover() must run before the queue is used");
        _recovered = new List<QueuedMessage>();
        return taken;
    }

    /// <summary>
    /// Must run once at start-up, before any listener accepts mail (it clears <c>incoming/</c>).
    /// Removes what a crash left half-done and returns every queued message. Half-received files in
    /// <c>incoming/</c> were never acknowledged, so they are deleted; an .eml without its envelope in
    /// <c>messages/</c> was never acknowledged either.
    /// </summary>
    public List<QueuedMessage> Recover()
    {
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(IncomingDirectory))
        {
            File.Delete(file);
            removed++;
        }
        var messages = new List<QueuedMessage>();
        foreach (var eml in Directory.EnumerateFiles(MessagesDirectory, "*.eml"))
        {
            var id = Path.GetFileNameWithoutExtension(eml);
            if (!File.Exists(EnvelopePath(id))) { File.Delete(eml); removed++; }
        }
        foreach (var tmp in Directory.EnumerateFiles(MessagesDirectory, "*.tmp")) { File.Delete(tmp); removed++; }
        // Left plain by a version before sealing (readable entries and damaged ones alike): sealed in place first.
        var sealedNow = Seal.SealPlainFiles(MessagesDirectory, "*.eml", "*.json");
        foreach (var json in Directory.EnumerateFiles(MessagesDirectory, "*.json"))
        {
            var id = Path.GetFileNameWithoutExtension(json);
            try
            {
                var message = JsonSerializer.Deserialize<QueuedMessage>(Seal.ReadAllBytes(json), Json)
                              ?? throw new JsonException("empty envelope");
                if (!File.Exists(ContentPath(id))) throw new FileNotFoundException("message octets missing", ContentPath(id));
                messages.Add(message);
            }
            catch (Exception ex) when (ex is JsonException or IOException)
            {
                // Keep the evidence for the operator instead of deleting mail.
                var quarantine = Path.Combine(MessagesDirectory, "..", "corrupt");
                Directory.CreateDirectory(quarantine);
                _logger.LogError("Queue entry {QueueId} is unreadable ({Reason}); moved to {Directory}", id, ex.Message, Path.GetFullPath(quarantine));
                File.Move(json, Path.Combine(quarantine, Path.GetFileName(json)), overwrite: true);
                if (File.Exists(ContentPath(id))) File.Move(ContentPath(id), Path.Combine(quarantine, id + ".eml"), overwrite: true);
            }
        }
        if (removed > 0)
        {
            DurableFile.SyncDirectory(IncomingDirectory);
            DurableFile.SyncDirectory(MessagesDirectory);
            _logger.LogInformation("Queue recovery removed {Count} unacknowledged file(s)", removed);
        }
        if (sealedNow > 0) _logger.LogInformation("Queue recovery sealed {Count} file(s) an earlier version left plain", sealedNow);
        _logger.LogInformation("Queue holds {Count} message(s) after recovery", messages.Count);
        _recovered = messages;
        return messages;
    }

    /// <summary>One queued envelope as it is on disk (for the operator's commands), or null when there is none.</summary>
    public QueuedMessage? Load(string id)
    {
        if (id.Length is 0 or > 64 || !id.All(char.IsAsciiHexDigit) || !File.Exists(EnvelopePath(id))) return null;
        try { return JsonSerializer.Deserialize<QueuedMessage>(Seal.ReadAllBytes(EnvelopePath(id)), Json); }
        catch (Exception ex) when (ex is JsonException or IOException) { return null; } // removed or being replaced meanwhile
    }

    /// <summary>Every queued envelope as it is on disk, oldest first (for the operator's commands; read-only).</summary>
    public IReadOnlyList<QueuedMessage> List() =>
        Directory.EnumerateFiles(MessagesDirectory, "*.json").Select(f => Load(Path.GetFileNameWithoutExtension(f))).OfType<QueuedMessage>()
            .OrderBy(m => m.ArrivedUtc).ToList();

    /// <summary>Saves a changed envelope durably (after a delivery attempt).</summary>
    public void Save(QueuedMessage message) =>
        Seal.WriteAllBytesAtomic(EnvelopePath(message.Id), JsonSerializer.SerializeToUtf8Bytes(message, Json));

    /// <summary>
    /// Removes a finished message: envelope first, so a crash in between leaves only an orphan .eml that recovery
    /// deletes. The removal is not fsync'd: if a crash undoes it the message is delivered again, which is the
    /// at-least-once side of the trade (Postfix makes the same one); nothing can be lost this way.
    /// </summary>
    /// <summary>Whether the message is still queued (not yet finished and removed).</summary>
    public bool Contains(string id) => File.Exists(EnvelopePath(id));

    public void Remove(string id)
    {
        File.Delete(EnvelopePath(id));
        File.Delete(ContentPath(id));
    }

    /// <summary>Opens the message as delivered: prepended trace headers followed by the received octets.</summary>
    public Stream OpenContent(QueuedMessage message)
    {
        return new PrefixedReadStream(Encoding.UTF8.GetBytes(message.PrependedHeaders), Seal.OpenReadAny(ContentPath(message.Id)));
    }

    /// <summary>Queues a message generated here (a DSN), durably, from the given stream; with
    /// <paramref name="asUser"/>, as that local user's own submission (the Agent protects it: a mailbox move).</summary>
    public async Task<QueuedMessage> EnqueueAsync(Stream content, SmtpMailbox? sender, IReadOnlyList<SmtpRecipient> recipients, string prependedHeaders, CancellationToken cancellationToken,
        string? asUser = null, string? fileInto = null, IReadOnlyList<string>? flags = null)
    {
        await using var spool = (FileSpool)CreateSpool();
        await content.CopyToAsync(spool.Content, cancellationToken);
        return await spool.CommitInternalAsync(sender, recipients, DsnReturn.Unspecified, null, BodyType.EightBitMime, false,
            spool.Content.Length, prependedHeaders, null, cancellationToken, asUser, fileInto, flags);
    }

    internal string ContentPath(string id) => Path.Combine(MessagesDirectory, id + ".eml");
    internal string EnvelopePath(string id) => Path.Combine(MessagesDirectory, id + ".json");
    internal string IncomingContentPath(string id) => Path.Combine(IncomingDirectory, id + ".eml");
    internal string IncomingEnvelopePath(string id) => Path.Combine(IncomingDirectory, id + ".json");
    internal DateTimeOffset Now => _time.GetUtcNow();

    internal void OnCommitted(QueuedMessage message) => Committed?.Invoke(message);

    /// <summary>Time-ordered, unguessable queue ids: 11 hex digits of milliseconds, then 8 of randomness.</summary>
    static string NewId()
    {
        var ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return ms.ToString("x11") + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
    }
}
