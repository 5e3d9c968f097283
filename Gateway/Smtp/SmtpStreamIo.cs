using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Text;

namespace Gateway.Smtp;

public enum LineStatus { Ok, TooLong, BareLinefeed, Closed }

public readonly record struct LineRead(LineStatus Status, string Text);

public enum DataStatus { Complete, Closed }

/// <summary>The outcome of reading DATA: complete or cut off, the octets kept, and why it is refused (the first
/// defect found), if it is.</summary>
public readonly record struct DataRead(DataStatus Status, long Size, DataDefect Defect);

/// <summary>
/// The byte level of an SMTP session: reads command lines and message data from the connection, writes replies,
/// and swaps the plaintext pipe for a TLS one. Replies are buffered and flushed only when no further complete
/// command is already waiting, which is how PIPELINING batches replies (RFC 2920 3.2).
/// </summary>
public sealed class SmtpStreamIo : IAsyncDisposable
{
    readonly IDuplexPipe _transport;
    readonly int _maxLineLength;
    SslStream? _ssl;

    public PipeReader Input { get; private set; }
    public PipeWriter Output { get; private set; }
    public SslStream? Tls => _ssl;

    public SmtpStreamIo(IDuplexPipe transport, int maxLineLength)
    {
        _transport = transport;
        _maxLineLength = maxLineLength;
        Input = transport.Input;
        Output = transport.Output;
    }

    public void Write(SmtpReply reply) => Write(reply.Format(reply.EnhancedCode is not null));

    public void Write(string text)
    {
        var span = Output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        var n = Encoding.UTF8.GetBytes(text, span);
        Output.Advance(n);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Reads one command line. A line longer than the limit is consumed up to its LF and reported as TooLong,
    /// so the session can answer 500 5.5.2 and carry on.
    /// </summary>
    public async ValueTask<LineRead> ReadLineAsync(CancellationToken cancellationToken)
    {
        var discarding = false;
        while (true)
        {
            if (!Input.TryRead(out var result) || !ContainsLineFeed(result.Buffer))
            {
                if (result.Buffer.Length > 0 || result.IsCompleted) Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                // Nothing complete is waiting: the client now expects our replies.
                await FlushAsync(cancellationToken).ConfigureAwait(false);
                result = await Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }

            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is null)
            {
                if (result.IsCompleted)
                {
                    Input.AdvanceTo(buffer.End);
                    return new LineRead(LineStatus.Closed, "");
                }
                if (buffer.Length >= _maxLineLength)
                {
                    discarding = true;
                    Input.AdvanceTo(buffer.End);
                }
                else Input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            var line = buffer.Slice(0, lf.Value);
            var next = buffer.GetPosition(1, lf.Value);
            if (discarding || line.Length + 1 > _maxLineLength)
            {
                Input.AdvanceTo(next);
                return new LineRead(LineStatus.TooLong, "");
            }
            if (line.Length == 0 || LastByte(line) != (byte)'\r')
            {
                Input.AdvanceTo(next);
                return new LineRead(LineStatus.BareLinefeed, "");
            }
            var text = Encoding.UTF8.GetString(line.Slice(0, line.Length - 1));
            Input.AdvanceTo(next);
            return new LineRead(LineStatus.Ok, text);
        }
    }

    static bool ContainsLineFeed(in ReadOnlySequence<byte> buffer) => buffer.PositionOf((byte)'\n') is not null;

    static byte LastByte(in ReadOnlySequence<byte> seq) => seq.Slice(seq.Length - 1).FirstSpan[0];

    static bool EndsWithCr(in ReadOnlySequence<byte> line) => line.Length > 0 && LastByte(line) == (byte)'\r';

    /// <summary>
    /// Receives DATA up to the terminating CRLF.CRLF (RFC 5321 4.1.1.4), removing dot-stuffing (4.5.2) and writing
    /// octets to <paramref name="sink"/> as they arrive. Once the message is known to be unacceptable (too large,
    /// a line too long, a bare LF or CR, a NUL) writing stops but reading goes on to the end, so the session stays in
    /// step. Only CRLF.CRLF ends the data: neither a bare LF nor a bare CR ever does, and a message carrying either is
    /// refused, which closes the door on SMTP smuggling through us to a next hop that reads them as line ends.
    /// </summary>
    public async ValueTask<DataRead> ReadDataAsync(Stream sink, HeaderSectionScanner scanner, long maxSize, Func<long, CancellationToken> nextReadToken)
    {
        long size = 0;
        var defect = DataDefect.None;
        var discardingLongLine = false;
        var guard = new MessageOctetGuard();
        // The terminator is <CRLF>.<CRLF>: the "." line counts only when the line before it ended in CRLF
        // (the DATA command itself did). "<LF>.<CRLF>" is the SMTP smuggling pattern and ends nothing.
        var previousEndedWithCrlf = true;
        var lineBuffer = new byte[_maxLineLength];
        // Octets that arrived with the last read, for the transfer deadline; a partial line left in the pipe counts once.
        long received = 0, pending = 0;
        while (true)
        {
            var result = await Input.ReadAsync(nextReadToken(received)).ConfigureAwait(false);
            var buffer = result.Buffer;
            received = buffer.Length - pending;
            while (true)
            {
                var lf = buffer.PositionOf((byte)'\n');
                if (lf is null)
                {
                    if (buffer.Length >= _maxLineLength)
                    {
                        if (defect == DataDefect.None) defect = DataDefect.LineTooLong;
                        discardingLongLine = true;
                        buffer = buffer.Slice(buffer.End);
                    }
                    break;
                }
                var line = buffer.Slice(0, lf.Value);
                var next = buffer.GetPosition(1, lf.Value);
                buffer = buffer.Slice(next);
                if (discardingLongLine) { discardingLongLine = false; previousEndedWithCrlf = EndsWithCr(line); continue; }
                var length = (int)line.Length + 1;
                if (length > _maxLineLength)
                {
                    if (defect == DataDefect.None) defect = DataDefect.LineTooLong;
                    previousEndedWithCrlf = EndsWithCr(line);
                    continue;
                }
                line.CopyTo(lineBuffer);
                lineBuffer[length - 1] = (byte)'\n';
                var crlf = length >= 2 && lineBuffer[length - 2] == (byte)'\r';
                var terminatorAllowed = previousEndedWithCrlf;
                previousEndedWithCrlf = crlf;
                if (!crlf) { if (defect == DataDefect.None) defect = DataDefect.BareLinefeed; continue; }
                if (length == 3 && lineBuffer[0] == (byte)'.' && terminatorAllowed)
                {
                    Input.AdvanceTo(buffer.Start);
                    return new DataRead(DataStatus.Complete, size, defect);
                }
                if (defect != DataDefect.None) continue;
                // A CR inside the line (not the one before its LF) or a NUL: refused, as a bare LF is.
                guard.Feed(lineBuffer.AsSpan(0, length));
                if (guard.Defect != DataDefect.None) { defect = guard.Defect; continue; }
                var start = lineBuffer[0] == (byte)'.' ? 1 : 0;
                var content = lineBuffer.AsMemory(start, length - start);
                size += content.Length;
                if (size > maxSize) { defect = DataDefect.TooLarge; continue; }
                scanner.Feed(content.Span);
                await sink.WriteAsync(content).ConfigureAwait(false);
            }
            pending = buffer.Length;
            Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return new DataRead(DataStatus.Closed, size, defect);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> octets of a BDAT chunk (RFC 3030 2); a null sink discards them.
    /// With a <paramref name="guard"/>, the octets are checked as they pass and no longer written once it finds a
    /// defect (the chunk is still read to its end, so the session stays in step).</summary>
    public async ValueTask<bool> ReadChunkAsync(long count, Stream? sink, HeaderSectionScanner? scanner, Func<long, CancellationToken> nextReadToken,
        MessageOctetGuard? guard = null)
    {
        var remaining = count;
        long received = 0;
        while (remaining > 0)
        {
            var result = await Input.ReadAsync(nextReadToken(received)).ConfigureAwait(false);
            var buffer = result.Buffer;
            var take = buffer.Slice(0, Math.Min(remaining, buffer.Length));
            foreach (var segment in take)
            {
                guard?.Feed(segment.Span);
                if (sink is null || guard?.Defect is not (null or DataDefect.None)) continue;
                scanner?.Feed(segment.Span);
                await sink.WriteAsync(segment).ConfigureAwait(false);
            }
            remaining -= take.Length;
            received = take.Length;
            Input.AdvanceTo(take.End);
            if (remaining > 0 && result.IsCompleted) return false;
        }
        return true;
    }

    /// <summary>
    /// Throws away whatever the client sent after STARTTLS and before the handshake (RFC 3207 5: such
    /// plaintext must not be treated as commands of the protected session). Returns the octets dropped.
    /// </summary>
    public long DiscardBufferedInput()
    {
        if (!Input.TryRead(out var result)) return 0;
        var n = result.Buffer.Length;
        Input.AdvanceTo(result.Buffer.End);
        return n;
    }

    /// <summary>Runs the TLS handshake over the transport and makes the TLS stream the session's input and output.</summary>
    public async Task UpgradeToTlsAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken)
    {
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        var ssl = new SslStream(new DuplexPipeStream(_transport), leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
        _ssl = ssl;
        Input = PipeReader.Create(ssl, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        Output = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public async ValueTask DisposeAsync()
    {
        if (_ssl is not null)
        {
            try { await Input.CompleteAsync().ConfigureAwait(false); } catch { }
            try { await Output.CompleteAsync().ConfigureAwait(false); } catch { }
            try { await _ssl.DisposeAsync().ConfigureAwait(false); } catch { }
        }
    }
}
