using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Support;

public sealed record ScriptedMessage(string MailFrom, IReadOnlyList<string> RcptCommands, byte[] Data)
{
    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// A minimal SMTP next hop whose replies a test scripts (per RCPT, for DATA), to drive the delivery worker
/// through deferrals, refusals and successes. Plain SMTP, no extensions beyond those a test switches on.
/// </summary>
public sealed class ScriptedSmtpServer : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stop = new();
    readonly Task _accepting;

    public int Port { get; }
    public Func<string, string> RcptReply { get; set; } = _ => "250 2.1.5 Ok";
    public Func<string> DataReply { get; set; } = () => "250 2.0.0 Ok: queued";
    public string Greeting { get; set; } = "220 sink.test ESMTP scripted";
    public bool AdvertiseDsn { get; set; }
    /// <summary>Offer REQUIRETLS (RFC 8689) once TLS is up.</summary>
    public bool AdvertiseRequireTls { get; set; }
    public bool Advertise8BitMime { get; set; } = true;
    public bool AdvertiseSmtpUtf8 { get; set; } = true;
    /// <summary>Offer STARTTLS (a throw-away self-signed certificate), as almost every MTA does.</summary>
    public bool AdvertiseStartTls { get; set; } = true;
    /// <summary>Whether each received message came over TLS, in arrival order.</summary>
    public ConcurrentQueue<bool> MessagesOverTls { get; } = new();
    static readonly Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2> Certificate = new(() =>
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=sink.test", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(cert.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx), null);
    });
    /// <summary>The certificate STARTTLS presents; null: a throw-away self-signed one.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; set; }
    /// <summary>Drop the connection (no reply to what follows) after each accepted message, as a server with a short idle timeout would.</summary>
    public bool DropAfterMessage { get; set; }
    public ConcurrentQueue<ScriptedMessage> Messages { get; } = new();
    public ConcurrentQueue<string> Commands { get; } = new();
    int _connections;
    public int Connections => _connections;

    public ScriptedSmtpServer(int port = 0)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch { return; }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        Stream stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.Latin1);
        var tls = false;
        async Task Send(string line) => await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
        try
        {
            await Send(Greeting);
            if (!Greeting.StartsWith("220")) return;
            string? from = null;
            var rcpts = new List<string>();
            var accepted = 0;
            while (await reader.ReadLineAsync() is { } line)
            {
                Commands.Enqueue(line);
                var verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await Send("250-sink.test");
                        if (AdvertiseDsn) await Send("250-DSN");
                        if (Advertise8BitMime) await Send("250-8BITMIME");
                        if (AdvertiseSmtpUtf8) await Send("250-SMTPUTF8");
                        if (AdvertiseStartTls && !tls) await Send("250-STARTTLS");
                        if (AdvertiseRequireTls && tls) await Send("250-REQUIRETLS");
                        await Send("250 HELP");
                        break;
                    case "HELO": await Send("250 sink.test"); break;
                    case "STARTTLS" when AdvertiseStartTls && !tls:
                    {
                        await Send("220 2.0.0 Ready to start TLS");
                        var ssl = new System.Net.Security.SslStream(stream);
                        await ssl.AuthenticateAsServerAsync(ServerCertificate ?? Certificate.Value);
                        stream = ssl;
                        reader = new StreamReader(stream, Encoding.Latin1);
                        tls = true;
                        break;
                    }
                    case "MAIL": from = line; rcpts.Clear(); accepted = 0; await Send("250 2.1.0 Ok"); break;
                    case "RCPT":
                    {
                        rcpts.Add(line);
                        var address = line[(line.IndexOf('<') + 1)..line.IndexOf('>')];
                        var reply = RcptReply(address);
                        if (reply.StartsWith('2')) accepted++;
                        await Send(reply);
                        break;
                    }
                    case "DATA":
                    {
                        if (accepted == 0) { await Send("554 5.5.1 no valid recipients"); break; }
                        await Send("354 go ahead");
                        var data = new MemoryStream();
                        while (await reader.ReadLineAsync() is { } dataLine && dataLine != ".")
                        {
                            var unstuffed = dataLine.StartsWith('.') ? dataLine[1..] : dataLine;
                            var bytes = Encoding.Latin1.GetBytes(unstuffed + "\r\n");
                            data.Write(bytes);
                        }
                        var dataReply = DataReply();
                        if (dataReply.StartsWith('2'))
                        {
                            MessagesOverTls.Enqueue(tls);
                            Messages.Enqueue(new ScriptedMessage(from ?? "", rcpts.ToList(), data.ToArray()));
                        }
                        await Send(dataReply);
                        if (DropAfterMessage) return;
                        break;
                    }
                    case "RSET": await Send("250 2.0.0 Ok"); break;
                    case "NOOP": await Send("250 2.0.0 Ok"); break;
                    case "QUIT": await Send("221 2.0.0 Bye"); return;
                    default: await Send("502 5.5.2 not implemented"); break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException) { }
    }

    public async Task<ScriptedMessage> WaitForMessageAsync(int timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Messages.TryDequeue(out var m)) return m;
            await Task.Delay(50);
        }
        throw new TimeoutException("no message reached the scripted server");
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accepting; } catch { }
    }
}
