using System.Security.Cryptography;

namespace Gateway.Sealing;

/// <summary>
/// The plaintext of a sealed spool file (see <see cref="SpoolSeal"/>) as a read-only, seekable stream. Chunks are
/// opened as they are reached, one at a time; a chunk that fails its tag, or a file whose last chunk is missing,
/// throws <see cref="SealedFileException"/>.
/// </summary>
public sealed class SealedSpoolReader : Stream
{
    const int Chunk = SpoolSeal.ChunkSize;
    const int Sealed = Chunk + SpoolSeal.TagSize;
    readonly FileStream _file;
    readonly AesGcm _aes;
    readonly long _chunkCount;
    readonly byte[] _plain = new byte[Chunk];
    readonly byte[] _cipher = new byte[Sealed];
    long _loaded = -1;
    int _loadedLength;
    long _position;

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
        Load(_chunkCount - 1); // proves the file is whole before anything is read from it
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length { get; }

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new IOException("seek before the start of the stream");
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    void Load(long chunk)
    {
        if (_loaded == chunk) return;
        var last = chunk == _chunkCount - 1;
        var sealedLength = last ? (int)(_file.Length - SpoolSeal.HeaderSize - chunk * Sealed) : Sealed;
        _file.Seek(SpoolSeal.HeaderSize + chunk * Sealed, SeekOrigin.Begin);
        _file.ReadExactly(_cipher, 0, sealedLength);
        Span<byte> nonce = stackalloc byte[12];
        SpoolSeal.NonceOf(chunk, last, nonce);
        var length = sealedLength - SpoolSeal.TagSize;
        try { _aes.Decrypt(nonce, _cipher.AsSpan(0, length), _cipher.AsSpan(length, SpoolSeal.TagSize), _plain.AsSpan(0, length)); }
        catch (AuthenticationTagMismatchException)
        {
            _loaded = -1;
            throw new SealedFileException($"{_file.Name}: chunk {chunk} is damaged or the file was cut short");
        }
        _loaded = chunk;
        _loadedLength = length;
    }

    public override int Read(Span<byte> buffer)
    {
        if (_position >= Length || buffer.Length == 0) return 0;
        var total = 0;
        while (buffer.Length > 0 && _position < Length)
        {
            var chunk = _position / Chunk;
            Load(chunk);
            var offset = (int)(_position - chunk * Chunk);
            var n = Math.Min(buffer.Length, _loadedLength - offset);
            _plain.AsSpan(offset, n).CopyTo(buffer);
            buffer = buffer[n..];
            _position += n;
            total += n;
        }
        return total;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
            _aes.Dispose();
            CryptographicOperations.ZeroMemory(_plain);
        }
        base.Dispose(disposing);
    }
}
