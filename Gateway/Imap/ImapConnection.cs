using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Text;
using Gateway.Smtp;

namespace Gateway.Imap;

/// <summary>
/// The octets of one IMAP connection: buffered writes to the client, the command reader, and the switch to TLS
/// (STARTTLS, RFC 3501 6.2.1, or implicit TLS, RFC 8314). Knows nothing of commands.
/// </summary>
public sealed class ImapConnection : IAsyncDisposable
{
    readonly IDuplexPipe _transport;
    readonly int _maxLineLength;
    readonly long _maxLiteralSize;
    SslStream? _ssl;

    public ImapConnection(IDuplexPipe transport, int maxLineLength, long maxLiteralSize)
    {
        _transport = transport;
        _maxLineLength = maxLineLength;
        _maxLiteralSize = maxLiteralSize;
        Input = transport.Input;
        Output = transport.Output;
        Reader = NewReader();
    }

    public PipeReader Input { get; private set; }
    public PipeWriter Output { get; private set; }
    public ImapCommandReader Reader { get; private set; }
    public bool IsSecure => _ssl is not null;
    public SslStream? Tls => _ssl;

    ImapCommandReader NewReader() => new(Input, _maxLineLength, _maxLiteralSize, _maxLiteralSize + 64L * _maxLineLength);

    public void Write(string text)
    {
        var count = Encoding.UTF8.GetByteCount(text);
        var span = Output.GetSpan(count);
        Encoding.UTF8.GetBytes(text, span);
        Output.Advance(count);
    }

    public void Write(ReadOnlySpan<byte> octets) => Output.Write(octets);

    /// <summary>Writes a whole response line: the text and CRLF.</summary>
    public void WriteLine(string text)
    {
        Write(text);
        Write("\r\n"u8);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default) => await Output.FlushAsync(cancellationToken);

    /// <summary>Copies <paramref name="length"/> octets of <paramref name="source"/> to the client without holding them all in memory.</summary>
    public async ValueTask CopyAsync(Stream source, long length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var memory = Output.GetMemory(16 * 1024);
            var want = (int)Math.Min(memory.Length, length);
            var n = await source.ReadAsync(memory[..want], cancellationToken);
            if (n == 0) throw new EndOfStreamException("the stored message is shorter than its recorded size");
            Output.Advance(n);
            length -= n;
            // Let the pipe apply back-pressure: a slow client holds our writes, not our memory.
            if (Output.UnflushedBytes >= 64 * 1024) await Output.FlushAsync(cancellationToken);
        }
    }

    /// <summary>Runs the TLS handshake as server on the connection; everything afterwards is read and written through TLS.</summary>
    public async Task UpgradeToTlsAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken)
    {
        await Output.FlushAsync(cancellationToken);
        var ssl = new SslStream(new DuplexPipeStream(_transport), leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(options, cancellationToken);
        _ssl = ssl;
        Input = PipeReader.Create(ssl, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        Output = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
        Reader = NewReader();
    }

    /// <summary>Octets the client sent after STARTTLS but before the handshake must not be acted on (RFC 3501 6.2.1, cf. CVE-2011-0411).</summary>
    public bool HasBufferedInput()
    {
        return Input.TryRead(out var result) && Consume(result);

        bool Consume(ReadResult r)
        {
            var any = !r.Buffer.IsEmpty;
            Input.AdvanceTo(r.Buffer.Start);
            return any;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await Output.FlushAsync(); } catch { /* the peer is gone */ }
        if (_ssl is not null)
        {
            await Input.CompleteAsync();
            await Output.CompleteAsync();
            await _ssl.DisposeAsync();
        }
    }
}
