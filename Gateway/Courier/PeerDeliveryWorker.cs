using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>A peer element did not take an Inter-Courier message: <see cref="Permanent"/> for a 5xx refusal, else try again.</summary>
public sealed class PeerTransportException(string message, bool permanent, Exception? inner = null) : Exception(message, inner)
{
    public bool Permanent { get; } = permanent;
}

/// <summary>Carries one Inter-Courier message to a peer element (SMTP in the host; the courier code knows no sockets).</summary>
public interface IPeerTransport
{
    /// <param name="message">The message, seekable, read from its start (never loaded whole).</param>
    Task SendAsync(string endpoint, string from, string to, Stream message, CancellationToken cancellationToken);
}

/// <summary>
/// Sends one element's <see cref="PeerOutbox"/>: every due message in turn; a message the peer did not take is tried
/// again after a delay that doubles from <c>firstRetry</c> up to an hour, and given up after <c>maxAge</c>; a
/// permanent refusal or giving up is handed to <c>failed</c> (the Foreground reports it to a local sender).
/// </summary>
public sealed class PeerDeliveryWorker(string element, PeerOutbox outbox, IPeerTransport transport, TimeSpan firstRetry, TimeSpan maxAge,
    Func<OutboundEntry, string, Task> failed, ILogger logger, TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>One pass over the due messages; returns when the next one is due (or null when none waits).</summary>
    public async Task<DateTime?> SendDueAsync(CancellationToken cancellationToken)
    {
        DateTime? next = null;
        foreach (var entry in outbox.All())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var now = _time.GetUtcNow().UtcDateTime;
            if (entry.NextAttemptUtc > now)
            {
                next = next is null || entry.NextAttemptUtc < next ? entry.NextAttemptUtc : next;
                continue;
            }
            var message = outbox.OpenMessage(entry.Id);
            if (message is null) { outbox.Remove(entry.Id); continue; }
            try
            {
                await using (message) await transport.SendAsync(entry.Endpoint, entry.From, entry.To, message, cancellationToken);
                outbox.Remove(entry.Id);
                logger.LogInformation("{Element} sent Inter-Courier {Kind} {MessageId} to {Peer} at {Endpoint} (<{To}>)",
                    element, entry.Kind, entry.MessageId, entry.Peer, entry.Endpoint, entry.To);
            }
            catch (PeerTransportException ex) when (!cancellationToken.IsCancellationRequested)
            {
                entry.Attempts++;
                entry.LastError = ex.Message;
                if (ex.Permanent || now - entry.CreatedUtc >= maxAge)
                {
                    logger.LogWarning("{Element}: {Peer} at {Endpoint} {How} Inter-Courier {Kind} {MessageId}: {Reason}", element, entry.Peer, entry.Endpoint,
                        ex.Permanent ? "refused" : "could not be reached in time for", entry.Kind, entry.MessageId, ex.Message);
                    await failed(entry, ex.Message);
                    outbox.Remove(entry.Id);
                    continue;
                }
                var delay = TimeSpan.FromTicks(Math.Min(firstRetry.Ticks * (1L << Math.Min(entry.Attempts - 1, 20)), TimeSpan.FromHours(1).Ticks));
                entry.NextAttemptUtc = now + delay;
                outbox.Update(entry);
                next = next is null || entry.NextAttemptUtc < next ? entry.NextAttemptUtc : next;
                logger.LogInformation("{Element}: Inter-Courier {Kind} {MessageId} to {Peer} at {Endpoint} deferred for {Seconds:0}s: {Reason}",
                    element, entry.Kind, entry.MessageId, entry.Peer, entry.Endpoint, delay.TotalSeconds, ex.Message);
            }
        }
        return next;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            DateTime? next;
            try
            {
                next = await SendDueAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "{Element}: sending Inter-Courier messages failed; tried again shortly", element);
                next = _time.GetUtcNow().UtcDateTime + firstRetry;
            }
            var wait = next is { } due ? due - _time.GetUtcNow().UtcDateTime : TimeSpan.FromSeconds(30);
            wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(30).Ticks));
            try { await outbox.WaitAsync(wait, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
