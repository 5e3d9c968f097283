namespace Gateway.Smtp;

/// <summary>
/// Wraps the spool stream during DATA/BDAT: a write error (disk full, I/O error) is recorded instead of thrown,
/// and later writes are dropped, so the session can read the client's data to its end and answer
/// 452 4.3.1 instead of dropping the connection mid-message.
/// </summary>
internal sealed class GuardedSink(Stream inner) : Stream
{
    public IOException? Failure { get; private set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Failure is not null) return;
        try { await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false); }
        catch (IOException ex) { Failure = ex; }
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
