using Gateway.Configuration;
using Gateway.Queue;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Delivery;

/// <summary>
/// The outbound delivery worker: recovers the queue at start-up, then attempts each message when it is due,
/// at most <see cref="DeliveryOptions.ConcurrentDeliveries"/> at once. Newly committed messages are attempted
/// at once. On shutdown, attempts in progress are cancelled; their recipients stay queued for the next start.
/// </summary>
public sealed class QueueRunner : BackgroundService
{
    readonly GatewayOptions options;
    readonly MessageQueue queue;
    readonly MessageDeliverer deliverer;
    readonly ILogger<QueueRunner> logger;
    readonly Platform.DataDirectory? data;

    /// <param name="data">Where operators' requests arrive (<see cref="QueueControl"/>); null: none are taken.</param>
    public QueueRunner(GatewayOptions options, MessageQueue queue, MessageDeliverer deliverer, ILogger<QueueRunner> logger, Platform.DataDirectory? data = null,
        TimeProvider? time = null)
    {
        this.options = options;
        this.queue = queue;
        this.deliverer = deliverer;
        this.logger = logger;
        this.data = data;
        _time = time ?? TimeProvider.System;
        // Subscribe at once: a listener may commit a message before ExecuteAsync runs.
        queue.Committed += OnCommitted;
    }

    static readonly TimeSpan ErrorBackoff = TimeSpan.FromSeconds(30);
    readonly TimeProvider _time;
    readonly PriorityQueue<string, DateTimeOffset> _schedule = new();
    readonly Dictionary<string, QueuedMessage> _live = new();
    readonly HashSet<string> _inFlight = new();
    readonly SemaphoreSlim _wake = new(0);
    readonly Lock _gate = new();

    public int QueuedCount { get { lock (_gate) return _live.Count; } }

    /// <summary>The queued messages as the worker holds them: how many, how many were tried before (deferred), how many are being tried now.</summary>
    public (int Queued, int Deferred, int InFlight) Counts()
    {
        lock (_gate)
            return (_live.Count, _live.Values.Count(m => m.Recipients.Any(r => r.State == RecipientState.Pending && r.Attempts > 0)), _inFlight.Count);
    }

    /// <summary>
    /// An operator's request (<c>gateway queue retry|delete</c>): retry makes the pending recipients of one message, or of
    /// every message, due now; delete takes a message out of the queue without a report. A message being delivered
    /// at this moment is left alone (the answer says so). Returns the answer for the operator.
    /// </summary>
    public string Apply(QueueRequest request)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (request.Verb == QueueRequest.Retry)
            {
                var ids = request.Id is null ? _live.Keys.ToList() : new List<string> { request.Id };
                var made = 0;
                var busy = 0;
                foreach (var id in ids)
                {
                    if (!_live.TryGetValue(id, out var message)) return $"no message {id} in the queue";
                    if (_inFlight.Contains(id)) { busy++; continue; }
                    foreach (var r in message.Recipients.Where(r => r.State == RecipientState.Pending)) r.NextAttemptUtc = now;
                    queue.Save(message);
                    _schedule.Enqueue(id, now);
                    made++;
                }
                _wake.Release();
                logger.LogInformation("Queue: the operator made {Count} message(s) due now", made);
                return $"{made} message(s) due now" + (busy > 0 ? $"; {busy} being delivered at this moment" : "");
            }
            if (request.Verb == QueueRequest.Delete && request.Id is { } victim)
            {
                if (!_live.ContainsKey(victim)) return $"no message {victim} in the queue";
                if (_inFlight.Contains(victim)) return $"message {victim} is being delivered at this moment; try again";
                _live.Remove(victim);
                queue.Remove(victim);
                deliverer.Discard(victim);
                logger.LogWarning("Queue: the operator deleted message {QueueId}; no report is sent", victim);
                return $"deleted {victim}";
            }
        }
        return $"'{request.Verb}' is not a queue request";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var message in queue.TakeRecovered()) Schedule(message);
        using var control = data is null ? null : QueueControl.Claim(data);
        // Operators' requests, every half second.
        var requests = control is null ? Task.CompletedTask
            : control.ServeAsync(Apply, (name, ex) => logger.LogError("Queue request {Name} failed: {Reason}", name, ex.Message), stoppingToken);
        var slots = new SemaphoreSlim(options.Delivery.ConcurrentDeliveries);
        var running = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var (due, wait) = NextDue();
                if (due is null)
                {
                    try { await _wake.WaitAsync(wait, stoppingToken); }
                    catch (OperationCanceledException) { break; }
                    continue;
                }
                try { await slots.WaitAsync(stoppingToken); }
                catch (OperationCanceledException) { break; }
                running.RemoveAll(t => t.IsCompleted);
                running.Add(Task.Run(async () =>
                {
                    var finished = false;
                    var failed = false;
                    try
                    {
                        finished = await deliverer.AttemptAsync(due, stoppingToken);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        failed = true;
                        logger.LogError(ex, "Delivery attempt for {QueueId} failed unexpectedly; it stays queued and is tried again in {Seconds}s", due.Id, ErrorBackoff.TotalSeconds);
                    }
                    finally
                    {
                        lock (_gate)
                        {
                            _inFlight.Remove(due.Id);
                            if (finished) _live.Remove(due.Id);
                            else if (!stoppingToken.IsCancellationRequested)
                                _schedule.Enqueue(due.Id, failed ? _time.GetUtcNow() + ErrorBackoff : Later(due.NextAttemptUtc));
                        }
                        slots.Release();
                        _wake.Release();
                    }
                }, CancellationToken.None));
            }
        }
        finally
        {
            queue.Committed -= OnCommitted;
            await Task.WhenAll(running);
            await requests;
            logger.LogInformation("Delivery worker stopped; {Count} message(s) remain queued", QueuedCount);
        }
    }

    DateTimeOffset Later(DateTimeOffset t)
    {
        // An attempt that failed for an unexpected reason leaves recipients due now; do not spin on it.
        var floor = _time.GetUtcNow().AddSeconds(1);
        return t < floor ? floor : t;
    }

    void OnCommitted(QueuedMessage message)
    {
        Schedule(message);
        _wake.Release();
    }

    void Schedule(QueuedMessage message)
    {
        lock (_gate)
        {
            _live[message.Id] = message;
            _schedule.Enqueue(message.Id, message.NextAttemptUtc);
        }
    }

    (QueuedMessage? Due, TimeSpan Wait) NextDue()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            while (_schedule.TryPeek(out var id, out var when))
            {
                if (when > now) return (null, Min(when - now, TimeSpan.FromMinutes(5)));
                _schedule.Dequeue();
                if (!_live.TryGetValue(id, out var message) || _inFlight.Contains(id)) continue;
                if (message.NextAttemptUtc > now) { _schedule.Enqueue(id, message.NextAttemptUtc); continue; }
                _inFlight.Add(id);
                return (message, TimeSpan.Zero);
            }
        }
        return (null, TimeSpan.FromMinutes(5));
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
