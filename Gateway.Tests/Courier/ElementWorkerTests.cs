using Gateway.Courier;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Courier;

/// <summary>The element worker: the Agent's parts are handled several at once; an element's other traffic (an account,
/// an Introduction, a Key Replacement message) alone, after what came before it.</summary>
public class ElementWorkerTests
{
    static ElementInbox NewInbox(string name) => NewInbox(name, out _);

    static ElementInbox NewInbox(string name, out string directory) => new(directory = TempDirectory.Create(name), Gateway.Sealing.SpoolSeal.Ephemeral());

    static ElementWorker Worker(ElementInbox inbox, Func<string, CancellationToken, Task> process, int concurrency) =>
        new("Test", inbox, process, _ => Task.CompletedTask, TimeSpan.FromHours(1), NullLogger.Instance, null, concurrency, name => !ElementInbox.IsAgentPart(name));

    [Fact]
    public async Task The_agents_parts_are_handled_up_to_the_concurrency_at_once_and_each_once()
    {
        var inbox = NewInbox("worker-concurrent");
        for (var i = 0; i < 8; i++) inbox.Put("part" + i, new byte[] { (byte)i });
        var inFlight = 0;
        var most = 0;
        var handled = new System.Collections.Concurrent.ConcurrentBag<string>();
        var fourAtOnce = new TaskCompletionSource();
        var worker = Worker(inbox, async (name, ct) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            if (now == 4) fourAtOnce.TrySetResult();
            // Each part waits until four are in flight (bounded: a worker that takes one at a time never gets there).
            await Task.WhenAny(fourAtOnce.Task, Task.Delay(TimeSpan.FromSeconds(3), ct));
            handled.Add(name);
            inbox.Remove(name);
            Interlocked.Decrement(ref inFlight);
        }, concurrency: 4);
        await RunUntilEmptyAsync(worker, inbox);
        Assert.True(fourAtOnce.Task.IsCompleted, $"at most {most} part(s) were in flight at once");
        Assert.Equal(4, most);
        Assert.Equal(4, worker.MostInFlight);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => "part" + i).Order(), handled.Order());
    }

    [Fact]
    public async Task Other_traffic_runs_alone_after_the_parts_before_it()
    {
        var inbox = NewInbox("worker-alone", out var directory);
        inbox.Put("before1", new byte[] { 1 });
        inbox.Put("before2", new byte[] { 2 });
        File.SetLastWriteTimeUtc(Path.Combine(directory, "before1.part"), DateTime.UtcNow.AddSeconds(-3));
        File.SetLastWriteTimeUtc(Path.Combine(directory, "before2.part"), DateTime.UtcNow.AddSeconds(-3));
        inbox.Put("acct-someone", new byte[] { 3 });
        File.SetLastWriteTimeUtc(Path.Combine(directory, "acct-someone.part"), DateTime.UtcNow.AddSeconds(-2));
        inbox.Put("after1", new byte[] { 4 });
        var inFlight = 0;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var worker = Worker(inbox, async (name, ct) =>
        {
            var others = Interlocked.Increment(ref inFlight) - 1;
            log.Enqueue($"start {name} with {others} other(s)");
            await Task.Delay(150, ct);
            inbox.Remove(name);
            Interlocked.Decrement(ref inFlight);
            log.Enqueue($"end {name}");
        }, concurrency: 4);
        await RunUntilEmptyAsync(worker, inbox);
        var events = log.ToList();
        Assert.Contains("start acct-someone with 0 other(s)", events);
        var accountStart = events.IndexOf("start acct-someone with 0 other(s)");
        var accountEnd = events.IndexOf("end acct-someone");
        Assert.True(events.IndexOf("end before1") < accountStart && events.IndexOf("end before2") < accountStart, string.Join("; ", events));
        Assert.True(events.IndexOf("start after1 with 0 other(s)") > accountEnd, string.Join("; ", events));
        // The two parts before it ran together.
        Assert.Contains(events, e => e.StartsWith("start before", StringComparison.Ordinal) && e.EndsWith("with 1 other(s)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Q1a2b3c4d5", true)]
    [InlineData("acct-0123", false)]
    [InlineData("ic-Q1a2", false)]
    [InlineData("inv-Q1a2", false)]
    [InlineData("", false)]
    public void Only_a_queue_id_names_an_agents_part(string name, bool agentPart) => Assert.Equal(agentPart, ElementInbox.IsAgentPart(name));

    /// <summary>Runs the worker until its inbox is empty (at most 10 s), then stops it.</summary>
    static async Task RunUntilEmptyAsync(ElementWorker worker, ElementInbox inbox)
    {
        await worker.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 200 && inbox.Waiting().Count > 0; i++) await Task.Delay(50);
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }
    }

    static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
