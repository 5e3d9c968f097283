using System.Security.Cryptography;
using Gateway.Platform;

namespace Gateway.Storage.Mail;

/// <summary>
/// Message octets stored once, named by their SHA-256 (<c>blobs/ab/abcdef....eml</c>), written to a temporary file,
/// fsync'd and renamed, so a blob either exists whole or not at all. Identical messages share one file.
/// </summary>
public sealed class BlobStore(string root)
{
    public string PathOf(string id) => Path.Combine(root, id[..2], id + ".eml");

    /// <summary>Stores the stream; returns the blob id and the size.</summary>
    public async Task<(string Id, long Size)> PutAsync(Stream content, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(root);
        var temp = Path.Combine(root, "tmp-" + Guid.NewGuid().ToString("N"));
        string id;
        long size;
        await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
            }
            await file.FlushAsync(cancellationToken);
            file.Flush(flushToDisk: true);
            size = file.Length;
            id = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
        }
        var path = PathOf(id);
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        if (File.Exists(path)) File.Delete(temp);
        else
        {
            File.Move(temp, path);
            DurableFile.SyncDirectory(directory);
        }
        return (id, size);
    }

    /// <summary>Opens a blob for reading; large messages are streamed, never loaded whole.</summary>
    public Stream Open(string id) => new FileStream(PathOf(id), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
}
