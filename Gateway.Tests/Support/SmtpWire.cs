using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Support;

public sealed record WireReply(int Code, IReadOnlyList<string> Lines)
{
    public string Text => string.Join("\n", Lines);
    public override string ToString() => $"{Code} {Text}";
}

/// <summary>A byte-level SMTP client for tests: sends exactly what it is told and reads replies as the server sends them.</summary>
public sealed class SmtpWire : IAsyncDisposable
{
    readonly TcpClient _tcp;
    Stream _stream;
    readonly List<byte> _pending = new();

    public SslStream? Tls { get; private set; }

    SmtpWire(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
    }

    public static async Task<SmtpWire> ConnectAsync(int port, bool implicitTls = false)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var wire = new SmtpWire(tcp, tcp.GetStream());
        if (implicitTls) await wire.HandshakeAsync();
        return wire;
    }

    public async Task HandshakeAsync()
    {
        var ssl = new SslStream(_stream, false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        Tls = ssl;
        _stream = ssl;
        _pending.Clear();
    }

    public async Task SendRawAsync(string text) => await SendRawAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public async Task<WireReply> CommandAsync(string command)
    {
        await SendRawAsync(command + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one (possibly multi-line) reply; null when the server closed the connection.</summary>
    public async Task<WireReply> ReadReplyAsync(int timeoutSeconds = 30)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (true)
        {
            var line = await ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("server closed the connection; got so far: " + string.Join(" | ", lines));
            if (line.Length < 3 || !int.TryParse(line[..3], out var code)) throw new InvalidDataException("not an SMTP reply line: " + line);
            lines.Add(line.Length > 4 ? line[4..] : "");
            if (line.Length == 3 || line[3] == ' ') return new WireReply(code, lines);
        }
    }

    /// <summary>True when the server has closed the connection (reads EOF within the timeout).</summary>
    public async Task<bool> IsClosedAsync(int timeoutSeconds = 10)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            while (true)
            {
                var line = await ReadLineAsync(cts.Token);
                if (line is null) return true;
            }
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Encoding.UTF8.GetString(_pending.GetRange(0, lf).ToArray()).TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                return line;
            }
            var n = await _stream.ReadAsync(buffer, cancellationToken);
            if (n == 0) return null;
            _pending.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Greeting, EHLO, and optionally STARTTLS with a second EHLO.</summary>
    public async Task<WireReply> HelloAsync(bool startTls = false, string name = "client.test")
    {
        var greeting = await ReadReplyAsync();
        if (greeting.Code != 220) throw new InvalidOperationException("greeting: " + greeting);
        var ehlo = await CommandAsync("EHLO " + name);
        if (!startTls) return ehlo;
        var ready = await CommandAsync("STARTTLS");
        if (ready.Code != 220) throw new InvalidOperationException("STARTTLS: " + ready);
        await HandshakeAsync();
        return await CommandAsync("EHLO " + name);
    }

    public async Task<WireReply> AuthPlainAsync(string user, string password) =>
        await CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}")));

    public async ValueTask DisposeAsync()
    {
        try { await _stream.DisposeAsync(); } catch { }
        _tcp.Dispose();
    }
}
