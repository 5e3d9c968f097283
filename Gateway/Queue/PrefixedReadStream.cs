namespace Gateway.Queue;

/// <summary>A read-only, seekable stream of some prefix octets followed by the contents of another seekable stream.</summary>
public sealed class PrefixedReadStream(byte[] prefix, Stream inner) : Stream
{
    long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => prefix.Length + inner.Length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_position < prefix.Length)
        {
            var n = (int)Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan((int)_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        inner.Position = _position - prefix.Length;
        var read = inner.Read(buffer);
        _position += read;
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        // Readers copy in blocks of one size: the task of the last read is reused while the count repeats, as
        // MemoryStream does, so that a large message read block by block makes no garbage per block.
        var read = Read(buffer.AsSpan(offset, count));
        var last = _lastRead;
        if (last is not null && last.Result == read) return last;
        return _lastRead = Task.FromResult(read);
    }

    Task<int>? _lastRead;

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };
        if (target < 0) throw new IOException("seek before the start of the stream");
        _position = target;
        return _position;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
