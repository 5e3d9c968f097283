using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.RegularExpressions;
using Gateway.Configuration;
using Gateway.Queue;
using Gateway.Smtp;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Delivery;

/// <summary>
/// Hands a queued message to the next hop over SMTP with MailKit: tries each host and address in turn until one
/// gives an answer, applies the outbound TLS policy, and turns every reply into a per-recipient outcome.
/// </summary>
public sealed partial class SmtpRelay(GatewayOptions options, MessageQueue queue, SmtpConnectionCache connections, ILogger<SmtpRelay> logger, OutboundTrust? trust = null)
{
    [GeneratedRegex(@"^([245])\.(\d{1,3})\.(\d{1,3})\b")]
    private static partial Regex EnhancedCode();

    public async Task<IReadOnlyList<RecipientOutcome>> DeliverAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients,
        IReadOnlyList<MailHost> hosts, OutboundTls tls, bool implicitTls, (string User, string Password)? credentials, CancellationToken cancellationToken,
        Func<MimeMessage, MimeMessage>? transform = null)
    {
        DeliveryException? last = null;
        foreach (var host in hosts)
        {
            foreach (var address in host.Addresses)
            {
                try
                {
                    return await DeliverToAsync(message, recipients, host, address, tls, implicitTls, credentials, transform, cancellationToken);
                }
                catch (DeliveryException ex) when (!ex.Permanent)
                {
                    logger.LogInformation("Delivery of {QueueId} via {Host}[{Address}]:{Port} failed, trying the next host: {Reason}",
                        message.Id, host.Name, address, host.Port, ex.Diagnostic);
                    last = ex;
                }
            }
        }
        last ??= new DeliveryException(false, "4.4.1", "no host to deliver to");
        return recipients.Select(r => RecipientOutcome.Transient(r.Address, last.Status, last.Diagnostic, last.RemoteMta)).ToList();
    }

    async Task<IReadOnlyList<RecipientOutcome>> DeliverToAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, MailHost host,
        IPAddress address, OutboundTls tls, bool implicitTls, (string User, string Password)? credentials, Func<MimeMessage, MimeMessage>? transform,
        CancellationToken cancellationToken)
    {
        var remote = $"{host.Name}[{address}]:{host.Port}";
        var key = new SmtpConnectionCache.Key(address, host.Port, tls, implicitTls, credentials?.User);
        var cached = connections.Take(key);
        if (cached is not null)
        {
            try
            {
                return await TransactAsync(cached, key, message, recipients, remote, transform, cancellationToken);
            }
            catch (ConnectionLostException)
            {
                // The next hop had closed the idle connection: start again on a fresh one.
                logger.LogDebug("Cached connection to {Remote} was gone; reconnecting", remote);
            }
        }
        var client = await ConnectAsync(host, address, tls, implicitTls, credentials, remote, cancellationToken);
        try
        {
            return await TransactAsync(client, key, message, recipients, remote, transform, cancellationToken);
        }
        catch (ConnectionLostException ex)
        {
            throw new DeliveryException(false, "4.4.2", $"connection to {remote} broke during the transaction: {ex.InnerException?.Message}", remote);
        }
    }

    sealed class ConnectionLostException(Exception inner) : Exception(inner.Message, inner);

    async Task<RelaySmtpClient> ConnectAsync(MailHost host, IPAddress address, OutboundTls tls, bool implicitTls,
        (string User, string Password)? credentials, string remote, CancellationToken cancellationToken)
    {
        var d = options.Delivery;
        var client = new RelaySmtpClient
        {
            LocalDomain = options.Hostname,
            Timeout = d.CommandTimeoutSeconds * 1000,
            CheckCertificateRevocation = false,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        };
        client.ServerCertificateValidationCallback = (_, certificate, _, errors) =>
            tls != OutboundTls.Verify || (trust?.Validates(certificate, errors) ?? errors == SslPolicyErrors.None);

        // No Nagle: SMTP is request/response, and a held-back command meets the peer's delayed ACK (~40 ms a message).
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(TimeSpan.FromSeconds(d.ConnectTimeoutSeconds));
                await socket.ConnectAsync(new IPEndPoint(address, host.Port), connectTimeout.Token);
            }
            var secure = implicitTls ? SecureSocketOptions.SslOnConnect : tls switch
            {
                OutboundTls.None => SecureSocketOptions.None,
                OutboundTls.Opportunistic => SecureSocketOptions.StartTlsWhenAvailable,
                _ => SecureSocketOptions.StartTls,
            };
            await client.ConnectAsync(socket, host.Name, host.Port, secure, cancellationToken);
            if (credentials is { } c) await client.AuthenticateAsync(c.User, c.Password, cancellationToken);
            return client;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Abandon(client, socket);
            throw new DeliveryException(false, "4.4.1", $"connection to {remote} timed out", remote);
        }
        catch (Exception ex) when (ex is SocketException or IOException or SmtpProtocolException or SslHandshakeException or System.Security.Authentication.AuthenticationException or NotSupportedException)
        {
            Abandon(client, socket);
            var status = ex is SslHandshakeException or NotSupportedException ? "4.7.5" : "4.4.1";
            throw new DeliveryException(false, status, $"{remote}: {ex.Message}", remote);
        }
        catch (SmtpCommandException ex)
        {
            Abandon(client, socket);
            throw new DeliveryException(false, StatusOf(ex.StatusCode, ex.Message), $"{remote} said: {(int)ex.StatusCode} {ex.Message}", remote);
        }
        catch (MailKit.Security.AuthenticationException ex)
        {
            Abandon(client, socket);
            throw new DeliveryException(false, "4.7.8", $"{remote} refused our credentials: {ex.Message}", remote);
        }
        catch
        {
            Abandon(client, socket);
            throw;
        }
    }

    static void Abandon(RelaySmtpClient client, Socket socket)
    {
        client.Dispose();
        socket.Dispose();
    }

    /// <summary>One MAIL/RCPT/DATA (or BDAT) transaction on a connected client; the client goes back to the cache if it stays usable.</summary>
    async Task<IReadOnlyList<RecipientOutcome>> TransactAsync(RelaySmtpClient client, SmtpConnectionCache.Key key, QueuedMessage message,
        IReadOnlyList<QueuedRecipient> recipients, string remote, Func<MimeMessage, MimeMessage>? transform, CancellationToken cancellationToken)
    {
        client.BeginMessage(recipients.Select(r => (r.Address, r.Notify, r.OriginalRecipient)), message.EnvelopeId, message.Ret);
        var canDsn = client.Capabilities.HasFlag(SmtpCapabilities.Dsn);

        // A relay may not downgrade what it cannot pass on unchanged, and converting would rewrite the message:
        // refuse instead (RFC 6152 3, RFC 6531 3.2).
        var needsUtf8 = !System.Text.Ascii.IsValid(message.Sender ?? "") || recipients.Any(r => !System.Text.Ascii.IsValid(r.Address));
        (string Status, string Reason)? unsupported = null;
        if (message.SmtpUtf8 && needsUtf8 && !client.Capabilities.HasFlag(SmtpCapabilities.UTF8))
            unsupported = ("5.6.7", "the next hop does not support SMTPUTF8, needed for the non-ASCII addresses of this message");
        else if (message.Body == BodyType.EightBitMime && !client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime))
            unsupported = ("5.6.3", "the next hop does not support 8BITMIME and this 8-bit message may not be converted");
        else if (message.RequireTls && !client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS))
            unsupported = ("5.7.30", "REQUIRETLS support required: the next hop does not offer REQUIRETLS (RFC 8689)");
        client.RequireTLS = message.RequireTls;
        if (unsupported is { } u)
        {
            connections.Return(key, client);
            return recipients.Select(r => RecipientOutcome.Permanent(r.Address, u.Status, $"{remote}: {u.Reason}", remote)).ToList();
        }
        await using var content = queue.OpenContent(message);
        // Parsed from the spool file in place (persistent: parts' content stays on disk), read without waiting.
        // Disposed when sent: a transformed message may own working copies of its own (an S/MIME body over the
        // in-memory size is a sealed scratch file).
        var loaded = MimeMessage.Load(content, persistent: true, cancellationToken);
        using var mime = transform is null ? loaded : transform(loaded);
        var sender = message.Sender is null ? new MailboxAddress("", "") : MailboxAddress.Parse(ParserOptions.Default, message.Sender);
        var mailboxes = recipients.Select(r => MailboxAddress.Parse(ParserOptions.Default, r.Address)).ToList();
        var format = FormatOptions.Default.Clone();
        format.International = message.SmtpUtf8;
        format.NewLineFormat = NewLineFormat.Dos;

        string reply;
        try
        {
            reply = content.Length >= BlockingSendBytes
                ? await SendBlockingAsync(client, format, mime, sender, mailboxes, cancellationToken)
                : await client.SendAsync(format, mime, sender, mailboxes, cancellationToken);
        }
        catch (SmtpCommandException ex) when (ex.ErrorCode == SmtpErrorCode.SenderNotAccepted || ex.ErrorCode == SmtpErrorCode.MessageNotAccepted)
        {
            // A refusal of MAIL or of the message applies to every recipient that was not already refused.
            var text = $"{remote} said: {(int)ex.StatusCode} {ex.Message}";
            var permanent = (int)ex.StatusCode >= 500;
            var status = StatusOf(ex.StatusCode, ex.Message);
            var outcomes = recipients.Select(r => client.Refused.TryGetValue(r.Address, out var refused)
                    ? Refusal(r.Address, refused, remote)
                    : permanent
                        ? RecipientOutcome.Permanent(r.Address, status, text, remote)
                        : RecipientOutcome.Transient(r.Address, status, text, remote))
                .ToList();
            connections.Close(client);
            return outcomes;
        }
        catch (Exception ex) when (ex is SocketException or IOException or SmtpProtocolException or ServiceNotConnectedException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // The message may or may not have been taken: not delivered, retried (at-least-once).
            client.Dispose();
            throw new ConnectionLostException(ex);
        }
        catch
        {
            client.Dispose();
            throw;
        }
        connections.Return(key, client);

        logger.LogInformation("Delivered {QueueId} to {Count} recipient(s) via {Remote}: {Reply}", message.Id, client.Accepted.Count, remote, reply);
        return recipients.Select(r =>
        {
            if (client.Refused.TryGetValue(r.Address, out var refused)) return Refusal(r.Address, refused, remote);
            var relayed = !canDsn && r.Notify.HasFlag(DsnNotify.Success);
            return new RecipientOutcome(r.Address, OutcomeKind.Delivered, "2.0.0", $"{remote} said: 250 {reply}", remote, relayed);
        }).ToList();
    }

    /// <summary>From this size on a message is sent with blocking writes, on a thread of its own.</summary>
    /// <remarks>MailKit's asynchronous writes start a timeout timer for every block (about 4 KB) they write: a 50 MB
    /// message leaves 12 MB of garbage that way, and the collector's budget (so the resident memory) grows with it. Its
    /// blocking writes use the socket's own timeout and leave none; a large message is worth a thread.</remarks>
    internal const long BlockingSendBytes = 1024 * 1024;

    static async Task<string> SendBlockingAsync(RelaySmtpClient client, FormatOptions format, MimeMessage mime, MailboxAddress sender,
        List<MailboxAddress> mailboxes, CancellationToken cancellationToken)
    {
        // A blocked write does not see the token: stopping closes the connection under it.
        await using var stop = cancellationToken.Register(() => client.Dispose());
        try
        {
            return await Task.Factory.StartNew(() => client.Send(format, mime, sender, mailboxes, cancellationToken),
                cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    static RecipientOutcome Refusal(string address, SmtpResponse response, string remote)
    {
        var text = $"{remote} said: {(int)response.StatusCode} {response.Response}";
        var status = StatusOf(response.StatusCode, response.Response);
        return (int)response.StatusCode >= 500
            ? RecipientOutcome.Permanent(address, status, text, remote)
            : RecipientOutcome.Transient(address, status, text, remote);
    }

    /// <summary>The enhanced status code from a reply's text, or a generic one from its class (RFC 3463 3.1).</summary>
    internal static string StatusOf(SmtpStatusCode code, string text)
    {
        var m = EnhancedCode().Match(text ?? "");
        var klass = ((int)code / 100).ToString();
        if (m.Success && m.Groups[1].Value == klass) return $"{m.Groups[1].Value}.{m.Groups[2].Value}.{m.Groups[3].Value}";
        return klass switch { "5" => "5.0.0", "4" => "4.0.0", _ => "2.0.0" };
    }
}
