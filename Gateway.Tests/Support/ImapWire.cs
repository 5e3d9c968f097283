using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Support;

/// <summary>A byte-level IMAP client for tests: sends exactly what it is told; reads lines (and literals) as they come.</summary>
public sealed class ImapWire : IAsyncDisposable
{
    readonly TcpClient _tcp;
    Stream _stream;
    readonly MemoryStream _buffer = new();
    int _tag;

    ImapWire(TcpClient tcp) { _tcp = tcp; _stream = tcp.GetStream(); }

    public static async Task<ImapWire> ConnectAsync(int port, bool implicitTls)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var wire = new ImapWire(tcp);
        if (implicitTls) await wire.HandshakeAsync();
        return wire;
    }

    public async Task HandshakeAsync()
    {
        var ssl = new SslStream(_stream, false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        _stream = ssl;
    }

    public async Task SendAsync(string text) => await SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads one line (without CRLF); a literal announced at its end is read and appended. Null at end of stream.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var line = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var n = await _stream.ReadAsync(one, cts.Token);
            if (n == 0) return line.Count > 0 ? Encoding.UTF8.GetString(line.ToArray()) : null;
            line.Add(one[0]);
            if (line.Count >= 2 && line[^2] == '\r' && line[^1] == '\n')
            {
                var text = Encoding.UTF8.GetString(line.ToArray(), 0, line.Count - 2);
                var m = System.Text.RegularExpressions.Regex.Match(text, @"\{(\d+)\}$");
                if (!m.Success) return text;
                var size = int.Parse(m.Groups[1].Value);
                var literal = new byte[size];
                var read = 0;
                while (read < size)
                {
                    var r = await _stream.ReadAsync(literal.AsMemory(read), cts.Token);
                    if (r == 0) return null;
                    read += r;
                }
                line.RemoveRange(line.Count - 2, 2);
                line.AddRange("\r\n"u8.ToArray());
                line.AddRange(literal);
                // the rest of the response line follows the literal
                continue;
            }
        }
    }

    /// <summary>Sends "TAG command" and returns every line up to and including the tagged completion.</summary>
    public async Task<List<string>> CommandAsync(string command, TimeSpan? timeout = null)
    {
        var tag = $"T{++_tag}";
        await SendAsync($"{tag} {command}\r\n");
        return await ReadUntilTaggedAsync(tag, timeout);
    }

    public async Task<List<string>> ReadUntilTaggedAsync(string tag, TimeSpan? timeout = null)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(timeout) ?? throw new IOException("connection closed; got:\n" + string.Join("\n", lines));
            lines.Add(line);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal)) return lines;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
