using System.Text.Json;
using Gateway.Platform;

namespace Gateway.Courier;

/// <summary>One Inter-Courier message waiting to leave an element: where to, and how its tries went.</summary>
public sealed class OutboundEntry
{
    public string Id { get; set; } = "";
    /// <summary>host:port of the peer element.</summary>
    public string Endpoint { get; set; } = "";
    /// <summary>The peer courier id (for logs), or the address's courier.</summary>
    public string Peer { get; set; } = "";
    public string From { get; set; } = "";
    public string To { get; set; } = "";
    public InterCourierKind Kind { get; set; }
    /// <summary>The courier message id the payload belongs to (empty for an Introduction).</summary>
    public string MessageId { get; set; } = "";
    /// <summary>The original sender and the recipients the part goes to there (to report a refusal to a local sender).</summary>
    public string Sender { get; set; } = "";
    public string? InternetMessageId { get; set; }
    public List<string> Recipients { get; set; } = new();
    public DateTime CreatedUtc { get; set; }
    public int Attempts { get; set; }
    public DateTime NextAttemptUtc { get; set; }
    public string? LastError { get; set; }
}

/// <summary>
/// An element's own outbound queue of Inter-Courier messages (<c>ELEMENT/outbound/</c>): the message as it will go on
/// the wire (<c>ID.eml</c>, already signed by the element and encrypted to the peer element) and its envelope and
/// retry state (<c>ID.json</c>), both written durably before the part that caused it is taken out of the inbox. The
/// Foreground and the Background each have one; they are never shared.
/// </summary>
public sealed class PeerOutbox
{
    static readonly JsonSerializerOptions Json = new() { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
    readonly string _directory;
    readonly Gateway.Sealing.SpoolSeal _seal;
    readonly SemaphoreSlim _signal = new(0);

    /// <param name="seal">Seals each message and its entry (a plain file an earlier version left is still read).</param>
    public PeerOutbox(string directory, Gateway.Sealing.SpoolSeal seal)
    {
        _directory = directory;
        _seal = seal;
        DurableFile.CreatePrivateDirectory(directory);
        seal.SealPlainFiles(directory, "*.eml", "*.json"); // left plain by an earlier version
    }

    string MessagePath(string id) => Path.Combine(_directory, id + ".eml");
    string EntryPath(string id) => Path.Combine(_directory, id + ".json");

    /// <summary>Queues a message under a deterministic id: the same part forwarded twice (after a crash, or by two
    /// callers at once, such as a registration and the account distributor telling of the same account) is queued once.
    /// <paramref name="write"/> writes the message, sealed to disk as it is written.</summary>
    public bool Enqueue(OutboundEntry entry, Action<Stream> write)
    {
        // Callers with the same id take turns (the second finds the first's entry); other ids rarely share a stripe.
        lock (_stripes[(uint)StringComparer.Ordinal.GetHashCode(entry.Id) % (uint)_stripes.Length])
        {
            if (File.Exists(EntryPath(entry.Id))) return false;
            _seal.WriteAtomic(MessagePath(entry.Id), write);
            _seal.WriteAllBytesAtomic(EntryPath(entry.Id), JsonSerializer.SerializeToUtf8Bytes(entry, Json));
        }
        _signal.Release();
        return true;
    }

    readonly Lock[] _stripes = Enumerable.Range(0, 32).Select(_ => new Lock()).ToArray();

    public IReadOnlyList<OutboundEntry> All() =>
        Directory.EnumerateFiles(_directory, "*.json").Select(f => Load(Path.GetFileNameWithoutExtension(f))).OfType<OutboundEntry>()
            .OrderBy(e => e.CreatedUtc).ToList();

    public OutboundEntry? Load(string id)
    {
        try { return File.Exists(EntryPath(id)) ? JsonSerializer.Deserialize<OutboundEntry>(_seal.ReadAllBytes(EntryPath(id)), Json) : null; }
        catch (Exception ex) when (ex is JsonException or IOException) { return null; } // removed meanwhile, or damaged
    }

    /// <summary>The queued message as a seekable stream (null when it is gone); the caller disposes it.</summary>
    public Stream? OpenMessage(string id)
    {
        try { return _seal.OpenReadAny(MessagePath(id)); }
        catch (FileNotFoundException) { return null; }
    }

    public void Update(OutboundEntry entry) => _seal.WriteAllBytesAtomic(EntryPath(entry.Id), JsonSerializer.SerializeToUtf8Bytes(entry, Json));

    /// <summary>Removes a message the peer took (or that was given up).</summary>
    public void Remove(string id)
    {
        File.Delete(EntryPath(id));
        File.Delete(MessagePath(id));
        DurableFile.SyncDirectory(_directory);
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}
