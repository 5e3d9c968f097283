using Gateway.Platform;
using Gateway.Sealing;

namespace Gateway.Courier;

/// <summary>
/// Where parts wait for an element (Foreground or Background) to take them: one file per part in the element's
/// own directory, written durably and at most once per name, so a part handed on twice (after a crash) is still
/// one part, and the first one written wins. The element removes a file only after it has stored the result.
/// Files are sealed (<see cref="SpoolSeal"/>); a plain one an earlier version left is still read.
/// </summary>
public sealed class ElementInbox : IElementDrop
{
    readonly string _directory;
    readonly SpoolSeal _seal;
    readonly SemaphoreSlim _signal = new(0);

    public ElementInbox(string directory, SpoolSeal seal)
    {
        _directory = directory;
        _seal = seal;
        DurableFile.CreatePrivateDirectory(directory);
        foreach (var tmp in Directory.EnumerateFiles(directory, "*.tmp")) File.Delete(tmp);
        // Parts an earlier version left plain (waiting, or refused and kept for the operator).
        seal.SealPlainFiles(directory, "*.part");
        seal.SealPlainFiles(RejectedDirectory, "*.part");
    }

    static string Checked(string name) =>
        name.Length is > 0 and <= 200 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && !name.StartsWith('.')
            ? name : throw new ArgumentException($"'{name}' is not a valid part name", nameof(name));

    string PathOf(string name) => Path.Combine(_directory, Checked(name) + ".part");

    void IElementDrop.Drop(string name, Stream message) => Put(name, message);

    /// <summary>Writes the part unless one of that name is already waiting; returns whether it was written.</summary>
    public bool Put(string name, byte[] part) => Put(name, new MemoryStream(part, writable: false));

    /// <summary>Writes the part (read from the stream's position to its end, sealed as it is read) unless one of that
    /// name is already waiting; returns whether it was written.</summary>
    public bool Put(string name, Stream part)
    {
        var path = PathOf(name);
        if (File.Exists(path)) return false;
        var temp = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".tmp");
        using (var file = _seal.Create(temp))
        {
            part.CopyTo(file, 64 * 1024);
            file.Complete(flushToDisk: true);
        }
        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
        DurableFile.SyncDirectory(_directory);
        _signal.Release();
        return true;
    }

    /// <summary>Takes a sealed part file of this host's as a waiting part by linking it in (one file, two names; see
    /// <see cref="IElementDrop.TryAdopt"/>). A part of that name already waiting stays, as with <see cref="Put(string, Stream)"/>.</summary>
    public bool TryAdopt(string name, string sealedFile)
    {
        switch (DurableFile.TryHardLink(sealedFile, PathOf(name)))
        {
            case DurableFile.LinkOutcome.Exists: return true;
            case DurableFile.LinkOutcome.Unsupported: return false;
        }
        DurableFile.SyncDirectory(_directory);
        _signal.Release();
        return true;
    }

    /// <summary>The waiting parts, oldest first.</summary>
    public IReadOnlyList<string> Waiting() =>
        new DirectoryInfo(_directory).EnumerateFiles("*.part").OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => Path.GetFileNameWithoutExtension(f.Name)).ToList();

    /// <summary>The size in octets of a waiting part (0 when it is gone).</summary>
    public long SizeOf(string name) => File.Exists(PathOf(name)) ? new FileInfo(PathOf(name)).Length : 0;

    public byte[]? Read(string name) => File.Exists(PathOf(name)) ? _seal.ReadAllBytes(PathOf(name)) : null;

    /// <summary>A waiting part as a seekable stream (null when it is gone); the caller disposes it.</summary>
    public Stream? Open(string name)
    {
        try { return _seal.OpenReadAny(PathOf(name)); }
        catch (FileNotFoundException) { return null; }
    }

    /// <summary>Takes a part out once its result is stored.</summary>
    public void Remove(string name) => File.Delete(PathOf(name));

    string RejectedDirectory => Path.Combine(_directory, "rejected");

    /// <summary>Moves a part that failed its checks aside (kept for the operator for a while, never processed again;
    /// see <see cref="ExpireRejected"/>).</summary>
    public void Reject(string name)
    {
        DurableFile.CreatePrivateDirectory(RejectedDirectory);
        var target = Path.Combine(RejectedDirectory, name + ".part");
        File.Move(PathOf(name), target, overwrite: true);
        // The retention counts from the refusal, not from when the part was written.
        File.SetLastWriteTimeUtc(target, DateTime.UtcNow);
    }

    /// <summary>Deletes the refused parts set aside before <paramref name="olderThanUtc"/>; returns how many.</summary>
    public int ExpireRejected(DateTime olderThanUtc)
    {
        if (!Directory.Exists(RejectedDirectory)) return 0;
        var removed = 0;
        foreach (var file in new DirectoryInfo(RejectedDirectory).EnumerateFiles("*.part"))
        {
            if (file.LastWriteTimeUtc >= olderThanUtc) continue;
            try { file.Delete(); removed++; }
            catch (FileNotFoundException) { }
        }
        return removed;
    }

    /// <summary>Waits until a part may have arrived, or the timeout passes. Arrivals signalled meanwhile are taken with
    /// it: the caller lists the inbox afresh, which shows every part whose arrival was signalled.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var signalled = await _signal.WaitAsync(timeout, cancellationToken);
        while (_signal.Wait(0)) { }
        return signalled;
    }

    /// <summary>
    /// Whether a part is one the Agent split from a message (named by its queue id: letters and digits only), as
    /// opposed to the element's other traffic, whose names carry a kind (<c>acct-</c>, <c>ic-</c>, <c>inv-</c>, a Key
    /// Replacement's): an Agent's part changes nothing but its own message's records, so several may be handled at once.
    /// </summary>
    public static bool IsAgentPart(string name) => name.Length > 0 && name.All(char.IsAsciiLetterOrDigit);
}
