using System.Collections.Concurrent;
using System.Security.Authentication;
using Gateway.Courier;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Gateway.Delivery;

/// <summary>
/// Inter-Courier messages over SMTP to a peer element's delivery listener. STARTTLS must succeed (TLS 1.2 or later):
/// the message is S/MIME signed and encrypted already, and TLS hides who talks to whom. The server certificate is
/// not checked against public roots (couriers use their own), the S/MIME layer authenticates the peer. One idle
/// connection per endpoint is kept for a few seconds for the next message.
/// </summary>
public sealed class SmtpPeerTransport(string heloName, TimeSpan connectTimeout) : IPeerTransport, IDisposable
{
    static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(10);
    readonly ConcurrentDictionary<string, ConcurrentQueue<(PeerSmtpClient Client, DateTime Since)>> _idle = new(StringComparer.OrdinalIgnoreCase);

    sealed class PeerSmtpClient : SmtpClient
    {
        // Sent exactly as built: never re-encoded.
        protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength) { }
    }

    public async Task SendAsync(string endpoint, string from, string to, Stream message, CancellationToken cancellationToken)
    {
        if (!Configuration.GatewayOptionsValidator.TryParseHostPort(endpoint, out var host, out var port))
            throw new PeerTransportException($"'{endpoint}' is not host:port", permanent: true);
        // Parsed in place (persistent): the parts stay in the sealed outbox file and are read as they are sent.
        var mime = await MimeMessage.LoadAsync(message, persistent: true, cancellationToken);
        var sender = MailboxAddress.Parse(from);
        var recipients = new[] { MailboxAddress.Parse(to) };

        var client = TakeIdle(endpoint);
        for (var attempt = 0; ; attempt++)
        {
            var fresh = client is null;
            try
            {
                client ??= await ConnectAsync(host, port, cancellationToken);
                await client.SendAsync(mime, sender, recipients, cancellationToken);
                _idle.GetOrAdd(endpoint, _ => new()).Enqueue((client, DateTime.UtcNow));
                return;
            }
            catch (SmtpCommandException ex)
            {
                var permanent = (int)ex.StatusCode >= 500;
                await DropAsync(client);
                throw new PeerTransportException($"{(int)ex.StatusCode} {ex.Message.Trim()}", permanent, ex);
            }
            catch (Exception ex) when (ex is IOException or SmtpProtocolException or ServiceNotConnectedException or System.Net.Sockets.SocketException
                                           or SslHandshakeException or System.Security.Authentication.AuthenticationException or NotSupportedException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                await DropAsync(client);
                client = null;
                // A cached connection the peer closed meanwhile: one more try on a new one.
                if (!fresh && attempt == 0) continue;
                throw new PeerTransportException($"{host}:{port}: {ex.Message}", permanent: false, ex);
            }
        }
    }

    async Task<PeerSmtpClient> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var client = new PeerSmtpClient
        {
            LocalDomain = heloName,
            Timeout = (int)connectTimeout.TotalMilliseconds,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ServerCertificateValidationCallback = (_, _, _, _) => true,
            CheckCertificateRevocation = false,
        };
        try
        {
            await client.ConnectAsync(host, port, SecureSocketOptions.StartTls, cancellationToken);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    PeerSmtpClient? TakeIdle(string endpoint)
    {
        if (!_idle.TryGetValue(endpoint, out var queue)) return null;
        while (queue.TryDequeue(out var item))
        {
            if (DateTime.UtcNow - item.Since < IdleLimit && item.Client.IsConnected) return item.Client;
            item.Client.Dispose();
        }
        return null;
    }

    static async Task DropAsync(SmtpClient? client)
    {
        if (client is null) return;
        try { if (client.IsConnected) await client.DisconnectAsync(true, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2)); }
        catch (Exception) { }
        client.Dispose();
    }

    public void Dispose()
    {
        foreach (var queue in _idle.Values)
            while (queue.TryDequeue(out var item)) item.Client.Dispose();
    }
}
