using System.Security.Cryptography;
using Gateway.Crypto;
using Gateway.Platform;

namespace Gateway.Sealing;

/// <summary>
/// Seals spool files (the queue, and every other file that may hold a message on its way) under a key derived from
/// the master key. Each file gets its own random data key, wrapped under the spool key in the file's header; the
/// content follows in chunks sealed with AES-256-GCM, so a file is written and read as a stream, read from any
/// offset, and a file cut short or altered is refused rather than read wrong.
/// </summary>
/// <remarks>
/// Layout: <c>GWSPOOL1</c> | wrapped data key (61 octets: <see cref="SealedSecret"/>) | chunks. A chunk is up to
/// <see cref="ChunkSize"/> octets of ciphertext and its 16-octet tag; every chunk but the last is full. The nonce is the
/// chunk's index (8 octets, big-endian), then 1 for the last chunk and 0 for the others, then three zero octets: a
/// file whose end was cut at a chunk boundary lacks its last chunk and is refused.
/// </remarks>
public sealed class SpoolSeal
{
    public const int ChunkSize = 64 * 1024;
    internal const int TagSize = 16;
    internal const int KeySize = 32;
    internal static ReadOnlySpan<byte> Magic => "GWSPOOL1"u8;
    internal static readonly int WrappedKeySize = 1 + 12 + TagSize + KeySize;
    internal static readonly int HeaderSize = Magic.Length + WrappedKeySize;

    readonly SealingKey _key; // wraps each file's data key

    public SpoolSeal(MasterKey masterKey) => _key = new SealingKey(masterKey.Derive("spool"));

    SpoolSeal(byte[] key) => _key = new SealingKey(key);

    /// <summary>A seal with a random key (tests, and tools that never reopen what they write).</summary>
    public static SpoolSeal Ephemeral() => new(RandomNumberGenerator.GetBytes(KeySize));

    /// <summary>Creates <paramref name="path"/> (which must not exist) for writing; the file is complete only after <see cref="SealedSpoolWriter.Complete"/>.</summary>
    public SealedSpoolWriter Create(string path)
    {
        // Unbuffered: the writer hands the file whole sealed chunks, and a FileStream buffer would be one more 64 KiB
        // array per file.
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0, FileOptions.None);
        try
        {
            var dataKey = RandomNumberGenerator.GetBytes(KeySize);
            Span<byte> header = stackalloc byte[HeaderSize];
            Magic.CopyTo(header);
            _key.Seal(dataKey, Magic).CopyTo(header[Magic.Length..]);
            file.Write(header);
            return new SealedSpoolWriter(file, dataKey);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens a sealed file as a seekable, read-only stream of its plaintext.</summary>
    public Stream OpenRead(string path) => Open(path, plainAllowed: false);

    /// <summary>Opens the file, sealed or (written by an earlier version) plain, with one open of the file.</summary>
    public Stream OpenReadAny(string path) => Open(path, plainAllowed: true);

    Stream Open(string path, bool plainAllowed)
    {
        // Unbuffered: the header is read in one call and the reader reads whole sealed chunks.
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.None);
        try
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            var read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            if (plainAllowed && !(read >= Magic.Length && header[..Magic.Length].SequenceEqual(Magic)))
            {
                file.Position = 0;
                return new BufferedStream(file, 64 * 1024); // written plain by an earlier version, read as it comes
            }
            return new SealedSpoolReader(file, OpenKey(header[..read], path));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static bool StartsWithMagic(Stream file)
    {
        Span<byte> head = stackalloc byte[8];
        return file.Read(head) == head.Length && head.SequenceEqual(Magic);
    }

    /// <summary>Writes <paramref name="contents"/> sealed, atomically and durably (temp file, fsync, rename, directory fsync).</summary>
    public void WriteAllBytesAtomic(string path, ReadOnlySpan<byte> contents)
    {
        var bytes = contents.ToArray();
        WriteAtomic(path, ".tmp", writer => writer.Write(bytes));
    }

    /// <summary>Writes what <paramref name="write"/> writes sealed, atomically and durably, as it is written (a large
    /// file is never held whole).</summary>
    public void WriteAtomic(string path, Action<Stream> write) => WriteAtomic(path, ".tmp", write);

    /// <summary>The same, except that the new name is not yet durable: the caller writes several files into one directory
    /// and syncs it once (<see cref="DurableFile.SyncDirectory"/>) before it relies on any of them.</summary>
    public void WriteAtomicDirectoryUnsynced(string path, Action<Stream> write) => WriteAtomic(path, ".tmp", write, syncDirectory: false);

    /// <summary>Seals what <paramref name="write"/> writes into <c>path + suffix</c>, fsyncs it, and renames it over <paramref name="path"/>.</summary>
    void WriteAtomic(string path, string suffix, Action<SealedSpoolWriter> write, bool syncDirectory = true)
    {
        var temp = path + suffix;
        if (File.Exists(temp)) File.Delete(temp);
        using (var writer = Create(temp))
        {
            write(writer);
            writer.Complete(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        if (syncDirectory) DurableFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>The whole plaintext of a sealed file (or of a plain one an earlier version wrote).</summary>
    public byte[] ReadAllBytes(string path)
    {
        using var stream = OpenReadAny(path);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Whether the file starts with the seal's header (anything else is a file from before sealing).</summary>
    public static bool IsSealed(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        return StartsWithMagic(file);
    }

    /// <summary>Seals a plain file in place (an upgrade): the sealed copy replaces it atomically.</summary>
    public void SealInPlace(string path) => WriteAtomic(path, ".sealing", writer =>
    {
        using var plain = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
        plain.CopyTo(writer);
    });

    /// <summary>
    /// Seals in place the files an earlier version left plain in a spool directory (those matching the patterns, at
    /// its top level); returns how many. Run at start, before the spool is used.
    /// </summary>
    public int SealPlainFiles(string directory, params string[] patterns)
    {
        if (!Directory.Exists(directory)) return 0;
        var sealedNow = 0;
        foreach (var leftover in Directory.EnumerateFiles(directory, "*.sealing")) File.Delete(leftover);
        foreach (var path in patterns.SelectMany(p => Directory.EnumerateFiles(directory, p)).Distinct().ToList())
        {
            if (IsSealed(path)) continue;
            SealInPlace(path);
            sealedNow++;
        }
        return sealedNow;
    }

    byte[] OpenKey(ReadOnlySpan<byte> header, string path)
    {
        if (header.Length != HeaderSize || !header[..Magic.Length].SequenceEqual(Magic))
            throw new SealedFileException($"{path} is not a sealed spool file");
        try { return _key.Open(header[Magic.Length..], Magic); }
        catch (CryptographicException) { throw new SealedFileException($"{path} was sealed under another master key, or its header is damaged"); }
    }

    /// <summary>Reads chunk <paramref name="chunk"/> (<paramref name="sealedLength"/> octets with its tag) into
    /// <paramref name="cipher"/> and opens it into <paramref name="plain"/>; a wrong tag throws <see cref="SealedFileException"/>.</summary>
    internal static void OpenChunk(FileStream file, AesGcm aes, long chunk, bool last, int sealedLength, byte[] cipher, Span<byte> plain)
    {
        file.Seek(HeaderSize + chunk * (ChunkSize + TagSize), SeekOrigin.Begin);
        file.ReadExactly(cipher, 0, sealedLength);
        Span<byte> nonce = stackalloc byte[12];
        NonceOf(chunk, last, nonce);
        var length = sealedLength - TagSize;
        try { aes.Decrypt(nonce, cipher.AsSpan(0, length), cipher.AsSpan(length, TagSize), plain[..length]); }
        catch (AuthenticationTagMismatchException)
        {
            throw new SealedFileException($"{file.Name}: chunk {chunk} is damaged or the file was cut short");
        }
    }

    internal static void NonceOf(long chunk, bool last, Span<byte> nonce)
    {
        nonce.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(nonce, chunk);
        nonce[8] = last ? (byte)1 : (byte)0;
    }
}

/// <summary>A sealed file is damaged, cut short, or sealed under another key. Derives from <see cref="IOException"/>:
/// callers treat it as the unreadable file it is.</summary>
public sealed class SealedFileException(string message) : IOException(message);
