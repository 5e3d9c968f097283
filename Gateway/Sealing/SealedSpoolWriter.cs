using System.Security.Cryptography;

namespace Gateway.Sealing;

/// <summary>
/// Writes a sealed spool file as a stream (see <see cref="SpoolSeal"/>). Writes append; what was written can be read
/// back before the file is complete (the SMTP policy checks a message before it is committed): set
/// <see cref="Position"/> back, read, and set it to the end again before writing more. The last, partial chunk stays
/// in memory until <see cref="Complete"/> seals it: no octet of plaintext reaches the disk.
/// </summary>
public sealed class SealedSpoolWriter : Stream
{
    const int Chunk = SpoolSeal.ChunkSize;
    readonly FileStream _file;
    readonly AesGcm _aes;
    byte[] _tail = Platform.ChunkBuffers.Rent(Chunk);                     // pooled: see ChunkBuffers
    byte[] _sealed = Platform.ChunkBuffers.Rent(Chunk + SpoolSeal.TagSize);
    int _tailTouched; // how much of _tail has held plaintext: zeroed before it goes back
    int _tailLength;
    long _chunks; // full chunks already sealed on disk
    long _position;
    bool _completed;
    byte[] _readChunk = [];
    long _readChunkIndex = -1;

    internal SealedSpoolWriter(FileStream file, byte[] dataKey)
    {
        _file = file;
        _aes = new AesGcm(dataKey, SpoolSeal.TagSize);
        CryptographicOperations.ZeroMemory(dataKey);
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => !_completed;
    public override long Length => _chunks * Chunk + _tailLength;

    public override long Position
    {
        get => _position;
        set
        {
            if (value < 0 || value > Length) throw new IOException("seek outside what was written");
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_completed) throw new InvalidOperationException("the sealed file is complete");
        if (_position != Length) throw new IOException("a sealed spool file is written at its end only");
        while (buffer.Length > 0)
        {
            if (_tailLength == Chunk) SealTail(last: false);
            var n = Math.Min(buffer.Length, Chunk - _tailLength);
            buffer[..n].CopyTo(_tail.AsSpan(_tailLength));
            _tailLength += n;
            _tailTouched = Math.Max(_tailTouched, _tailLength);
            _position += n;
            buffer = buffer[n..];
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    void SealTail(bool last)
    {
        Span<byte> nonce = stackalloc byte[12];
        SpoolSeal.NonceOf(_chunks, last, nonce);
        var ciphertext = _sealed.AsSpan(0, _tailLength);
        _aes.Encrypt(nonce, _tail.AsSpan(0, _tailLength), ciphertext, _sealed.AsSpan(_tailLength, SpoolSeal.TagSize));
        _file.Seek(0, SeekOrigin.End);
        _file.Write(_sealed, 0, _tailLength + SpoolSeal.TagSize);
        if (!last)
        {
            _chunks++;
            _tailLength = 0;
        }
    }

    /// <summary>Seals the last chunk; with <paramref name="flushToDisk"/>, fsyncs the file. Nothing more can be written.</summary>
    public void Complete(bool flushToDisk)
    {
        if (_completed) return;
        SealTail(last: true);
        _completed = true;
        _file.Flush(flushToDisk);
        ReturnBuffers();
    }

    void ReturnBuffers()
    {
        Platform.ChunkBuffers.Return(ref _tail, _tailTouched);
        Platform.ChunkBuffers.Return(ref _sealed, 0);
        Platform.ChunkBuffers.Return(ref _readChunk, Chunk);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_completed) throw new InvalidOperationException("read a completed sealed file with SpoolSeal.OpenRead");
        if (_position >= Length || buffer.Length == 0) return 0;
        var chunk = _position / Chunk;
        var offset = (int)(_position % Chunk);
        ReadOnlySpan<byte> source;
        if (chunk == _chunks) source = _tail.AsSpan(offset, _tailLength - offset);
        else
        {
            if (_readChunkIndex != chunk)
            {
                if (_readChunk.Length == 0) _readChunk = Platform.ChunkBuffers.Rent(Chunk);
                _readChunkIndex = -1;
                // A full chunk on disk, never the last; _sealed is free between writes.
                SpoolSeal.OpenChunk(_file, _aes, chunk, last: false, Chunk + SpoolSeal.TagSize, _sealed, _readChunk);
                _readChunkIndex = chunk;
            }
            source = _readChunk.AsSpan(offset, Chunk - offset);
        }
        var n = Math.Min(source.Length, buffer.Length);
        source[..n].CopyTo(buffer);
        _position += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    /// <summary>Nothing to flush: the tail is sealed only by <see cref="Complete"/>.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
            _aes.Dispose();
            ReturnBuffers();
        }
        base.Dispose(disposing);
    }
}
