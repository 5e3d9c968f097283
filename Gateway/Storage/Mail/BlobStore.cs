using System.Security.Cryptography;
using Gateway.Platform;

namespace Gateway.Storage.Mail;

/// <summary>
/// Message octets on disk, each sealed for its owner (<see cref="IMailboxSeal"/>) under a random name
/// (<c>blobs/ab/abcdef....p7m</c>): written to a temporary file, fsync'd and renamed, so a blob exists whole or not at
/// all. Copies of a message in one user's mailboxes share its blob. Files named by a 64-digit SHA-256 with
/// <c>.eml</c> are plain blobs an earlier version wrote; <see cref="MailStore.SealLegacyAsync"/> replaces them.
/// </summary>
public sealed class BlobStore(string root, IMailboxSeal seal)
{
    public string Root => root;

    /// <summary>Plain blobs (before sealing) were named by their SHA-256: 64 hex digits.</summary>
    public static bool IsLegacy(string id) => id.Length == 64;

    public string PathOf(string id) => Path.Combine(root, id[..2], id + (IsLegacy(id) ? ".eml" : ".p7m"));

    /// <summary>Seals <paramref name="length"/> octets from the stream for <paramref name="owner"/>; returns the blob id and the sealed content key.</summary>
    public async Task<(string Id, byte[] SealedKey)> PutAsync(string owner, Stream content, long length, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(root);
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        var temp = Path.Combine(root, "tmp-" + id);
        byte[] sealedKey;
        try
        {
            // A small buffer for the CMS header pieces; the ciphertext comes in chunks that go straight through.
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 8 * 1024, FileOptions.None))
            {
                sealedKey = seal.Seal(owner, id, content, length, file);
                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }
            var path = PathOf(id);
            var directory = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(directory);
            File.Move(temp, path);
            DurableFile.SyncDirectory(directory);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
        return (id, sealedKey);
    }

    /// <summary>Opens a blob for reading, as a seekable stream of the message's octets; large messages are streamed,
    /// never loaded whole. <paramref name="sealedKey"/> is null only for a legacy plain blob.</summary>
    public Stream Open(string owner, string id, byte[]? sealedKey)
    {
        if (sealedKey is null) return new FileStream(PathOf(id), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
        // Unbuffered: the sealed reader reads whole blocks of its own, at the offsets it needs.
        return seal.Open(owner, id, sealedKey, new FileStream(PathOf(id), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0));
    }

    /// <summary>The ids of the blob files on disk: sealed ones, and plain ones an earlier version wrote.</summary>
    public IEnumerable<string> StoredIds() => !Directory.Exists(root) ? Enumerable.Empty<string>()
        : Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            // Only files named as this store names them: .p7m for a sealed id, .eml for a plain (64-digit) one.
            .Where(f => Path.GetFileNameWithoutExtension(f) is { Length: >= 2 } id && PathOf(id) == f)
            .Select(f => Path.GetFileNameWithoutExtension(f));

    /// <summary>Temporary files a crash left behind (sealed, so nothing readable; removed for space).</summary>
    public int RemoveTemporaryFiles()
    {
        if (!Directory.Exists(root)) return 0;
        var removed = 0;
        foreach (var temp in Directory.EnumerateFiles(root, "tmp-*")) { File.Delete(temp); removed++; }
        return removed;
    }
}
