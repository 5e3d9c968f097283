using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Runs one element (Foreground or Background) over its inbox: every waiting part in order, then waits for the
/// next. Parts that could not be finished stay waiting and are tried again on the next pass (every 30 s at least).
/// Every <paramref name="sweepEvery"/> it also runs <paramref name="sweep"/> (the element's look at its held parts) and
/// deletes the parts it refused longer than <paramref name="rejectedRetention"/> ago.
/// </summary>
/// <remarks>
/// Up to <paramref name="concurrency"/> parts are handled at once: each message's part is independent of the others,
/// and one part waits mostly on its own disk syncs and cryptography, so one at a time would leave the element a queue
/// that the rest of the courier waits on. A part for which <paramref name="runsAlone"/> holds (one that changes what the
/// element knows: an account, a peer, a Key Replacement) is handled with no other part in flight, in its turn, as is
/// the sweep: parts that arrived before it are finished first, and none after it starts until it is done.
/// </remarks>
public sealed class ElementWorker(string element, ElementInbox inbox, Func<string, CancellationToken, Task> process,
    Func<CancellationToken, Task> sweep, TimeSpan sweepEvery, ILogger logger, TimeSpan? rejectedRetention = null,
    int concurrency = 1, Func<string, bool>? runsAlone = null) : BackgroundService
{
    DateTime _nextSweep = DateTime.MinValue;
    readonly int _concurrency = Math.Max(1, concurrency);
    // Touched by the loop alone: the parts in flight and the names they work on.
    readonly Dictionary<Task, string> _running = new();
    readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);

    /// <summary>The most parts this worker has had in flight at once (for tests and metrics).</summary>
    public int MostInFlight { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        logger.LogInformation("{Element} started; {Count} part(s) waiting, up to {Concurrency} handled at once", element, inbox.Waiting().Count, _concurrency);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                foreach (var name in inbox.Waiting())
                {
                    if (stoppingToken.IsCancellationRequested) break;
                    if (_inFlight.Contains(name)) continue;
                    if (_concurrency == 1 || runsAlone?.Invoke(name) == true)
                    {
                        await DrainAsync();
                        await RunAsync(name, stoppingToken);
                        continue;
                    }
                    while (_running.Count >= _concurrency) await ReapAsync();
                    _inFlight.Add(name);
                    _running.Add(Task.Run(() => RunAsync(name, stoppingToken), CancellationToken.None), name);
                    MostInFlight = Math.Max(MostInFlight, _running.Count);
                }
                if (DateTime.UtcNow >= _nextSweep && !stoppingToken.IsCancellationRequested)
                {
                    await DrainAsync();
                    try
                    {
                        await sweep(stoppingToken);
                        var expired = inbox.ExpireRejected(DateTime.UtcNow - (rejectedRetention ?? TimeSpan.FromDays(14)));
                        if (expired > 0) logger.LogInformation("{Element} deleted {Count} refused part(s) kept past their retention", element, expired);
                    }
                    catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception ex)
                    {
                        logger.LogError(ex, "{Element} failed while looking at its held parts; tried again later", element);
                    }
                    _nextSweep = DateTime.UtcNow + sweepEvery;
                }
                try
                {
                    // Until the next sweep, at most 30 s (parts that could not be finished are tried again then). A part in
                    // flight that ends wakes nothing: one that failed waits for the next pass, not a loop of retries.
                    var wait = TimeSpan.FromTicks(Math.Clamp((_nextSweep - DateTime.UtcNow).Ticks, 0, TimeSpan.FromSeconds(30).Ticks));
                    await inbox.WaitAsync(wait, stoppingToken);
                    // Parts that ended meanwhile free their names (a failed one is taken again on this pass).
                    foreach (var ended in _running.Keys.Where(t => t.IsCompleted).ToList()) Forget(ended);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            // Stopping: the parts in flight end (or see the cancellation) before the host goes on shutting down.
            await DrainAsync();
        }
    }

    /// <summary>Handles one part; a failure leaves it waiting (logged), a stop leaves it waiting silently.</summary>
    async Task RunAsync(string name, CancellationToken stoppingToken)
    {
        try
        {
            await process(name, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "{Element} failed on part {Part}; it stays waiting", element, name);
        }
    }

    async Task ReapAsync()
    {
        var ended = await Task.WhenAny(_running.Keys);
        Forget(ended);
        foreach (var other in _running.Keys.Where(t => t.IsCompleted).ToList()) Forget(other);
    }

    void Forget(Task ended)
    {
        if (_running.Remove(ended, out var name)) _inFlight.Remove(name);
    }

    async Task DrainAsync()
    {
        while (_running.Count > 0) await ReapAsync();
    }
}
