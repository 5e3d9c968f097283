using System.Net;
using System.Security.Cryptography;
using Gateway.Configuration;
using Gateway.Smtp;
using Gateway.Storage.Mail;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Imap;

/// <summary>
/// Kestrel entry point for every IMAP listener: connection limits, implicit TLS where configured, a log scope with
/// a session id, then an <see cref="ImapSession"/>. The listener's name is in <see cref="ConnectionContext.Items"/>.
/// </summary>
public sealed class ImapConnectionHandler(
    ImapListenerRegistry listeners,
    MailStore store,
    IImapAuthenticator authenticator,
    ConnectionLimiter limiter,
    AuthThrottle authThrottle,
    ImapUserSessions userSessions,
    IHostApplicationLifetime lifetime,
    ILogger<ImapConnectionHandler> logger,
    IProtectedMessageReader? protectedReader = null) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var settings = listeners.Get((string)connection.Items[SmtpConnectionHandler.ListenerKey]!);
        var remote = connection.RemoteEndPoint as IPEndPoint;
        var address = remote?.Address ?? IPAddress.None;
        var sessionId = Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        using var scope = logger.BeginScope(new SessionLogScope(sessionId, settings.Listener.Name, remote?.ToString()));

        if (!limiter.TryAcquire(address, out var reason))
        {
            logger.LogWarning("Refused IMAP connection: {Reason}", reason);
            if (settings.Listener.Tls != TlsMode.Implicit)
                await connection.Transport.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"* BYE {reason}, try again later\r\n"));
            await connection.Transport.Output.CompleteAsync();
            return;
        }

        logger.LogInformation("IMAP session opened");
        var started = DateTime.UtcNow;
        var secure = false;
        try
        {
            await using var io = new ImapConnection(connection.Transport, settings.Limits.MaxLineLength, settings.Limits.MaxLiteralSize);
            if (settings.Listener.Tls == TlsMode.Implicit)
            {
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
                handshake.CancelAfter(TimeSpan.FromSeconds(30));
                try { await io.UpgradeToTlsAsync(settings.TlsOptions(), handshake.Token); }
                catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
                {
                    logger.LogInformation("TLS handshake failed: {Reason}", ex.Message);
                    return;
                }
            }
            var session = new ImapSession(settings, io, store, authenticator, authThrottle, userSessions, address, logger,
                lifetime.ApplicationStopping, connection.ConnectionClosed) { ProtectedReader = protectedReader };
            await session.RunAsync();
            secure = io.IsSecure;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException or System.Security.Authentication.AuthenticationException)
        {
            // A failed STARTTLS handshake (a client or scanner offering only what is refused) ends the session like a dropped connection.
            logger.LogInformation("IMAP connection ended: {Reason}", ex.Message);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "IMAP session failed");
        }
        finally
        {
            limiter.Release(address);
            Metrics.GatewayInstruments.ImapSessions.Add(1, new KeyValuePair<string, object?>("tls", secure ? "yes" : "no"));
            logger.LogInformation("IMAP session closed after {Seconds:F1}s", (DateTime.UtcNow - started).TotalSeconds);
        }
    }
}

/// <summary>The settings of each configured IMAP listener, by name.</summary>
public sealed class ImapListenerRegistry
{
    readonly Dictionary<string, ImapSessionSettings> _byName = new(StringComparer.OrdinalIgnoreCase);

    public void Add(ImapSessionSettings settings) => _byName[settings.Listener.Name] = settings;
    public ImapSessionSettings Get(string name) => _byName[name];
}
