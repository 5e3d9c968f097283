using MimeKit.IO;

namespace Gateway.Sealing;

/// <summary>
/// A working copy of message data (see <see cref="ScratchSpace"/>): written once from start to end, then read (and
/// seeked) as often as needed, the way MimeKit's persistent parser and the CMS streams use it. It holds its octets in
/// memory up to a threshold and then moves them to a sealed, unlinked file, so a 50 MB message costs a few
/// chunks of memory wherever it is copied. Writes go at the end only.
/// </summary>
public sealed class ScratchStream : Stream
{
    readonly int _inMemoryBytes;
    readonly Action<ScratchStream>? _movedToFile;
    Stream _inner = new MemoryBlockStream();
    bool _inFile;

    internal ScratchStream(int inMemoryBytes, Action<ScratchStream>? movedToFile)
    {
        _inMemoryBytes = inMemoryBytes;
        _movedToFile = movedToFile;
    }

    /// <summary>Whether the copy has moved to a sealed file.</summary>
    public bool InFile => _inFile;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => true;
    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Position;
        set => _inner.Position = value;
    }

    public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => _inner.Read(buffer);

    /// <summary>One octet without an array (Stream's own allocates one per call; ASN.1 parsers read tags and lengths
    /// this way).</summary>
    public override int ReadByte() => _inner.ReadByte();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer, offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_inner.Position != _inner.Length) throw new IOException("a working copy is written at its end only");
        if (!_inFile && _inner.Length + buffer.Length > _inMemoryBytes) MoveToFile();
        _inner.Write(buffer);
    }

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    void MoveToFile()
    {
        var file = ScratchSpace.CreateFile();
        if (file is null) return; // no scratch directory configured (a tool, a unit test): stays in memory
        var memory = _inner;
        try
        {
            memory.Position = 0;
            memory.CopyTo(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        _inner = file;
        _inFile = true;
        memory.Dispose();
        _movedToFile?.Invoke(this);
    }

    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void SetLength(long value) => throw new NotSupportedException("a working copy only grows");

    /// <summary>A view from the start that leaves this copy open when disposed (for a consumer that disposes what it reads).</summary>
    public Stream OpenView()
    {
        Position = 0;
        return new BoundStream(this, 0, -1, leaveOpen: true);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }
}
