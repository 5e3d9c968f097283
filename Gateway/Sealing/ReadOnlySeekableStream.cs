namespace Gateway.Sealing;

/// <summary>
/// The stream plumbing of a read-only, seekable view (position, seeking, the read overloads): a subclass says only
/// how long it is and how to read at a position.
/// </summary>
public abstract class ReadOnlySeekableStream : Stream
{
    long _position;

    /// <summary>Reads up to <paramref name="buffer"/>'s length at <paramref name="position"/> (below <see cref="Stream.Length"/>); returns how many.</summary>
    protected abstract int ReadAt(long position, Span<byte> buffer);

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;

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

    public override int Read(Span<byte> buffer)
    {
        var total = 0;
        while (buffer.Length > 0 && _position < Length)
        {
            var n = ReadAt(_position, buffer[..(int)Math.Min(buffer.Length, Length - _position)]);
            if (n == 0) break;
            buffer = buffer[n..];
            _position += n;
            total += n;
        }
        return total;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>One octet without an array (Stream's own allocates one per call; ASN.1 parsers read tags and lengths
    /// this way).</summary>
    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
