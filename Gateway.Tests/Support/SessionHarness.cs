using System.IO.Pipelines;
using System.Net;
using System.Text;
using Gateway.Configuration;
using Gateway.Smtp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Support;

/// <summary>
/// One <see cref="SmtpSession"/> over in-memory pipes, with the queue and policy replaced by fakes: for protocol
/// paths that a real host cannot easily be pushed into (a full disk, say).
/// </summary>
public sealed class SessionHarness : IAsyncDisposable
{
    readonly Pipe _toServer = new();
    readonly Pipe _fromServer = new();
    readonly Task _session;
    readonly StringBuilder _received = new();

    sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    public SessionHarness(IMessageSpoolFactory spools, SmtpLimitsOptions? limits = null)
    {
        var settings = new SmtpSessionSettings
        {
            Hostname = "harness.test",
            PostmasterDomain = "harness.test",
            Listener = new ListenerOptions { Name = "delivery", Endpoint = "127.0.0.1:25", Role = ListenerRole.Delivery, Tls = TlsMode.None },
            Limits = limits ?? new SmtpLimitsOptions(),
            TlsOptions = () => throw new InvalidOperationException("no TLS in the harness"),
        };
        var info = new SmtpSessionInfo { SessionId = "harness", ListenerName = "delivery", Role = ListenerRole.Delivery, RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 1) };
        var io = new SmtpStreamIo(new DuplexPipe(_toServer.Reader, _fromServer.Writer), settings.Limits.MaxLineLength);
        var session = new SmtpSession(settings, info, io, new AcceptAll(), new NoUsers(), spools,
            new AuthThrottle(5, TimeSpan.FromMinutes(1), TimeSpan.Zero), NullLogger.Instance, CancellationToken.None, CancellationToken.None);
        _session = Task.Run(async () => { await session.RunAsync(); await _fromServer.Writer.CompleteAsync(); });
    }

    public async Task SendAsync(string text) => await _toServer.Writer.WriteAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Reads the next reply line by line until a final "NNN " line.</summary>
    public async Task<WireReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var line = await ReadLineAsync(cts.Token);
            lines.Add(line.Length > 4 ? line[4..] : "");
            if (line.Length == 3 || line[3] == ' ') return new WireReply(int.Parse(line[..3]), lines);
        }
    }

    async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var text = _received.ToString();
            var lf = text.IndexOf('\n');
            if (lf >= 0)
            {
                _received.Remove(0, lf + 1);
                return text[..lf].TrimEnd('\r');
            }
            var result = await _fromServer.Reader.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer) _received.Append(Encoding.UTF8.GetString(segment.Span));
            _fromServer.Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted && result.Buffer.IsEmpty) throw new EndOfStreamException("session ended");
        }
    }

    public async Task<WireReply> CommandAsync(string command)
    {
        await SendAsync(command + "\r\n");
        return await ReadReplyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _toServer.Writer.CompleteAsync();
        try { await _session.WaitAsync(TimeSpan.FromSeconds(10)); } catch { }
    }

    sealed class AcceptAll : ISmtpPolicy
    {
        public ValueTask<SmtpReply?> CheckSenderAsync(SmtpSessionInfo s, SmtpMailbox? m, CancellationToken c) => ValueTask.FromResult<SmtpReply?>(null);
        public ValueTask<SmtpReply?> CheckRecipientAsync(SmtpSessionInfo s, SmtpMailbox m, CancellationToken c) => ValueTask.FromResult<SmtpReply?>(null);
    }

    sealed class NoUsers : ISmtpAuthenticator
    {
        public ValueTask<string?> AuthenticateAsync(string u, string p, CancellationToken c) => ValueTask.FromResult<string?>(null);
    }
}

/// <summary>A spool store whose disk "fills up" after a given number of octets, and which records what was committed.</summary>
public sealed class FillingSpools(long capacity) : IMessageSpoolFactory
{
    public List<string> Committed { get; } = new();
    public int Disposed;

    public IMessageSpool CreateSpool() => new Spool(this, capacity);

    sealed class Spool(FillingSpools owner, long capacity) : IMessageSpool
    {
        readonly LimitedStream _content = new(capacity);
        public string Id { get; } = Guid.NewGuid().ToString("N")[..12];
        public Stream Content => _content;

        public Task CommitAsync(SmtpEnvelope envelope, CancellationToken cancellationToken)
        {
            lock (owner.Committed) owner.Committed.Add(Encoding.UTF8.GetString(_content.ToArray()));
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref owner.Disposed);
            return ValueTask.CompletedTask;
        }
    }

    sealed class LimitedStream(long capacity) : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Length + count > capacity) throw new IOException("No space left on device");
            base.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}
