using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Runs one element (Foreground or Background) over its inbox: every waiting part in order, then waits for the
/// next. Parts that could not be finished stay waiting and are tried again on the next pass (every 30 s at least).
/// Every <paramref name="sweepEvery"/> it also runs <paramref name="sweep"/> (the element's look at its held parts) and
/// deletes the parts it refused longer than <paramref name="rejectedRetention"/> ago.
/// </summary>
public sealed class ElementWorker(string element, ElementInbox inbox, Func<string, CancellationToken, Task> process,
    Func<CancellationToken, Task> sweep, TimeSpan sweepEvery, ILogger logger, TimeSpan? rejectedRetention = null) : BackgroundService
{
    DateTime _nextSweep = DateTime.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        logger.LogInformation("{Element} started; {Count} part(s) waiting", element, inbox.Waiting().Count);
        while (!stoppingToken.IsCancellationRequested)
        {
            foreach (var name in inbox.Waiting())
            {
                if (stoppingToken.IsCancellationRequested) break;
                try
                {
                    await process(name, stoppingToken);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    logger.LogError(ex, "{Element} failed on part {Part}; it stays waiting", element, name);
                }
            }
            if (DateTime.UtcNow >= _nextSweep)
            {
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
                // Until the next sweep, at most 30 s (parts that could not be finished are tried again then).
                var wait = TimeSpan.FromTicks(Math.Clamp((_nextSweep - DateTime.UtcNow).Ticks, 0, TimeSpan.FromSeconds(30).Ticks));
                await inbox.WaitAsync(wait, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
