namespace Gateway.Crypto;

/// <summary>
/// What the streamed CMS writers (<see cref="EnvelopedDataWriter"/>, <see cref="SignedDataWriter"/>) share: a
/// write-only stream that gathers what is written into 64 KiB chunks and hands each to <see cref="WriteChunk"/>, and
/// the few BER pieces they emit around it (constructed types with indefinite length, primitive OCTET STRING chunks,
/// end-of-contents). Dispose hands over the last chunk and lets the writer close its structures; the output stream is
/// left open.
/// </summary>
public abstract class CmsStreamWriter(Stream output) : Stream
{
    protected const int Chunk = 64 * 1024;
    protected Stream Output { get; } = output;
    byte[] _buffer = Platform.ChunkBuffers.Rent(Chunk); // pooled: see ChunkBuffers
    int _touched; // how much of _buffer has held content: zeroed before it goes back
    int _filled;
    bool _completed;

    /// <summary>Takes one gathered chunk (full, except the last, which may be empty).</summary>
    protected abstract void WriteChunk(ReadOnlySpan<byte> chunk, bool last);

    /// <summary>Closes the structures after the last chunk.</summary>
    protected abstract void Complete();

    /// <summary>Sees every octet written, before it is gathered (a digest).</summary>
    protected virtual void Observe(ReadOnlySpan<byte> data) { }

    /// <summary>The tag of a constructed type, then the indefinite length.</summary>
    protected void OpenIndefinite(byte tag)
    {
        Output.WriteByte(tag);
        Output.WriteByte(0x80);
    }

    /// <summary>End-of-contents for <paramref name="count"/> constructed types.</summary>
    protected void CloseIndefinite(int count)
    {
        for (var i = 0; i < count; i++) Output.Write([0, 0]);
    }

    /// <summary>One primitive OCTET STRING with a definite length.</summary>
    protected void WriteOctetString(ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[5];
        head[0] = 0x04;
        var length = data.Length;
        int size;
        if (length < 0x80) { head[1] = (byte)length; size = 2; }
        else
        {
            var octets = length <= 0xFF ? 1 : length <= 0xFFFF ? 2 : 3;
            head[1] = (byte)(0x80 | octets);
            for (var i = 0; i < octets; i++) head[1 + octets - i] = (byte)(length >> (8 * i));
            size = 2 + octets;
        }
        Output.Write(head[..size]);
        Output.Write(data);
    }

    public sealed override bool CanRead => false;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => !_completed;
    public sealed override long Length => throw new NotSupportedException();
    public sealed override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public sealed override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public sealed override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        Observe(buffer);
        while (buffer.Length > 0)
        {
            if (_filled == Chunk)
            {
                WriteChunk(_buffer.AsSpan(0, Chunk), last: false);
                _filled = 0;
            }
            var n = Math.Min(buffer.Length, Chunk - _filled);
            buffer[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            _touched = Math.Max(_touched, _filled);
            buffer = buffer[n..];
        }
    }

    public sealed override void WriteByte(byte value) => Write([value]);
    public sealed override void Flush() => Output.Flush();
    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_completed)
        {
            _completed = true;
            try
            {
                WriteChunk(_buffer.AsSpan(0, _filled), last: true);
                Complete();
                Output.Flush();
            }
            finally
            {
                Platform.ChunkBuffers.Return(ref _buffer, _touched);
            }
        }
        base.Dispose(disposing);
    }
}
