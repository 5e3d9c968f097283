using System.Security.Cryptography;

namespace Gateway.Sealing;

/// <summary>
/// The plaintext of a sealed spool file (see <see cref="SpoolSeal"/>) as a read-only, seekable stream. Chunks are
/// opened as they are reached, one at a time; a chunk that fails its tag, or a file whose last chunk is missing,
/// throws <see cref="SealedFileException"/>.
/// </summary>
public sealed class SealedSpoolReader : ReadOnlySeekableStream
{
    const int Chunk = SpoolSeal.ChunkSize;
    const int Sealed = Chunk + SpoolSeal.TagSize;
    readonly FileStream _file;
    readonly AesGcm _aes;
    readonly long _chunkCount;
    byte[] _plain = [];  // pooled (ChunkBuffers), no longer than the file needs
    byte[] _cipher = [];
    int _plainTouched;   // how much of _plain has held plaintext: zeroed before it goes back
    long _loaded = -1;
    int _loadedLength;

    internal SealedSpoolReader(FileStream file, byte[] dataKey)
    {
        _file = file;
        _aes = new AesGcm(dataKey, SpoolSeal.TagSize);
        CryptographicOperations.ZeroMemory(dataKey);
        var body = file.Length - SpoolSeal.HeaderSize;
        if (body < SpoolSeal.TagSize) throw new SealedFileException($"{file.Name} is cut short");
        _chunkCount = (body + Sealed - 1) / Sealed;
        var lastSealed = body - (_chunkCount - 1) * Sealed;
        if (lastSealed < SpoolSeal.TagSize) throw new SealedFileException($"{file.Name} is cut short");
        Length = (_chunkCount - 1) * Chunk + (lastSealed - SpoolSeal.TagSize);
        try
        {
            _cipher = Platform.ChunkBuffers.Rent((int)Math.Min(Sealed, body));
            _plain = Platform.ChunkBuffers.Rent((int)Math.Min(Chunk, Math.Max(Length, 1)));
            Load(_chunkCount - 1); // proves the file is whole before anything is read from it
        }
        catch
        {
            ReturnBuffers();
            _aes.Dispose();
            throw;
        }
    }

    public override long Length { get; }

    void Load(long chunk)
    {
        if (_loaded == chunk) return;
        var last = chunk == _chunkCount - 1;
        var sealedLength = last ? (int)(_file.Length - SpoolSeal.HeaderSize - chunk * Sealed) : Sealed;
        _loaded = -1;
        SpoolSeal.OpenChunk(_file, _aes, chunk, last, sealedLength, _cipher, _plain);
        _loaded = chunk;
        _loadedLength = sealedLength - SpoolSeal.TagSize;
        _plainTouched = Math.Max(_plainTouched, _loadedLength);
    }

    void ReturnBuffers()
    {
        Platform.ChunkBuffers.Return(ref _plain, _plainTouched);
        Platform.ChunkBuffers.Return(ref _cipher, 0);
    }

    protected override int ReadAt(long position, Span<byte> buffer)
    {
        var chunk = position / Chunk;
        Load(chunk);
        var offset = (int)(position - chunk * Chunk);
        var n = Math.Min(buffer.Length, _loadedLength - offset);
        _plain.AsSpan(offset, n).CopyTo(buffer);
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
            _aes.Dispose();
            _loaded = -1;
            ReturnBuffers();
        }
        base.Dispose(disposing);
    }
}
