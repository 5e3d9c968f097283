using System.Text.Json;
using Gateway.Platform;

namespace Gateway.Courier;

/// <summary>Why a part is held: the recipients that are not (yet) local users, and since when.</summary>
public sealed class PendingEntry
{
    public string MessageId { get; set; } = "";
    public string Sender { get; set; } = "";
    public string? InternetMessageId { get; set; }
    public List<string> Recipients { get; set; } = new();
    public DateTime SinceUtc { get; set; }
}

/// <summary>
/// An element's pending store (<c>ELEMENT/pending/</c>): parts held for recipients who are not local users, for
/// example because the account was removed after the message was accepted or has not been created yet. Each entry is
/// the part exactly as it arrived (<c>NAME.part</c>, still sealed to the element) and a small record of who it waits
/// for (<c>NAME.json</c>), both written durably. The element tries the held recipients again while the entry lives;
/// when it expires the Foreground reports the failure to the sender.
/// </summary>
public sealed class PendingParts
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    readonly string _directory;
    readonly Gateway.Sealing.SpoolSeal _seal;

    /// <param name="seal">Seals the part and its entry (a plain file an earlier version left is still read).</param>
    public PendingParts(string directory, Gateway.Sealing.SpoolSeal seal)
    {
        _directory = directory;
        _seal = seal;
        DurableFile.CreatePrivateDirectory(directory);
        seal.SealPlainFiles(directory, "*.part", "*.json"); // left plain by an earlier version
    }

    string PartPath(string name) => Path.Combine(_directory, name + ".part");
    string EntryPath(string name) => Path.Combine(_directory, name + ".json");

    /// <summary>Holds a part for the given recipients (added to any already held for the same part).</summary>
    /// <param name="part">Read from its position to its end, sealed to disk as it is read.</param>
    public void Hold(string name, Stream part, PendingEntry entry)
    {
        if (!File.Exists(PartPath(name))) _seal.WriteAtomic(PartPath(name), held => part.CopyTo(held, 64 * 1024));
        if (Find(name) is { } held)
        {
            held.Recipients = held.Recipients.Union(entry.Recipients, StringComparer.OrdinalIgnoreCase).ToList();
            entry = held;
        }
        Save(name, entry);
    }

    public void Save(string name, PendingEntry entry) => _seal.WriteAllBytesAtomic(EntryPath(name), JsonSerializer.SerializeToUtf8Bytes(entry, Json));

    public PendingEntry? Find(string name) =>
        File.Exists(EntryPath(name)) ? JsonSerializer.Deserialize<PendingEntry>(_seal.ReadAllBytes(EntryPath(name)), Json) : null;

    /// <summary>A held part as a seekable stream (null when it is gone); the caller disposes it.</summary>
    public Stream? Open(string name)
    {
        try { return _seal.OpenReadAny(PartPath(name)); }
        catch (FileNotFoundException) { return null; }
    }

    /// <summary>The names of the held parts.</summary>
    public IReadOnlyList<string> Names() =>
        Directory.EnumerateFiles(_directory, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// One look at every held part: its recipients who are local users now are handed to <paramref name="handOn"/>
    /// (which returns the recipients still unknown, or null when it could not finish and the entry stays as it is);
    /// a part left with no recipient is removed; one held for <paramref name="lifetime"/> goes to
    /// <paramref name="expired"/> and is removed.
    /// </summary>
    public async Task SweepAsync(Func<string, bool> isUser, Func<string, Stream, IReadOnlySet<string>, Task<IReadOnlyList<string>?>> handOn,
        TimeSpan lifetime, DateTime nowUtc, Func<PendingEntry, Task> expired)
    {
        foreach (var name in Names())
        {
            if (Find(name) is not { } entry || !File.Exists(PartPath(name))) { Remove(name); continue; }
            var ready = entry.Recipients.Where(isUser).ToHashSet(StringComparer.OrdinalIgnoreCase);
            IReadOnlyList<string>? stillUnknown = null;
            if (ready.Count > 0)
            {
                await using var part = Open(name);
                if (part is null) { Remove(name); continue; }
                stillUnknown = await handOn(name, part, ready);
            }
            if (stillUnknown is not null)
            {
                entry.Recipients = entry.Recipients.Where(r => !ready.Contains(r) || stillUnknown.Contains(r, StringComparer.OrdinalIgnoreCase)).ToList();
                if (entry.Recipients.Count > 0) Save(name, entry);
            }
            if (entry.Recipients.Count == 0) { Remove(name); continue; }
            if (nowUtc - entry.SinceUtc.ToUniversalTime() < lifetime) continue;
            await expired(entry);
            Remove(name);
        }
    }

    public void Remove(string name)
    {
        File.Delete(EntryPath(name));
        File.Delete(PartPath(name));
        DurableFile.SyncDirectory(_directory);
    }
}
