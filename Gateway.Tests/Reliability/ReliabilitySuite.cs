using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Tests.Support;
using Xunit.Abstractions;

namespace Gateway.Tests.Reliability;

/// <summary>
/// The reliability suite: not part of the default test run (<c>./test.sh --reliability</c> runs it). A real gateway
/// process under load, killed with SIGKILL again and again, its queue on a file system that fills up or turns
/// read-only. Counted each time: every message answered 250 is delivered (duplicates are allowed and reported:
/// at-least-once), no message answered with an error or cut off before its end is delivered, and the gateway
/// answers 451/452 (never 250) while it cannot store, recovering by itself when it can again. The figures go to the
/// test output and to $RELIABILITY_REPORT when set.
/// </summary>
[Trait("Category", "Reliability")]
public sealed partial class ReliabilitySuite(ITestOutputHelper output)
{
    static int Setting(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) && v > 0 ? v : fallback;

    void Report(string line)
    {
        output.WriteLine(line);
        if (Environment.GetEnvironmentVariable("RELIABILITY_REPORT") is { Length: > 0 } path) File.AppendAllText(path, line + "\n");
    }

    /// <summary>How one send ended, as the client saw it.</summary>
    enum Sent { Acked, Refused, Unanswered, Incomplete, NotConnected }

    [GeneratedRegex(@"Subject: rel-([0-9a-f]{32})")]
    private static partial Regex TokenOf();

    static string Body(int size) => string.Concat(Enumerable.Repeat("reliability payload line of some length for the body\r\n", Math.Max(1, size / 54)));

    /// <summary>One message per connection; what the client saw is recorded under its token.</summary>
    static async Task<(string Token, Sent How, int Code)> SendOneAsync(int port, int size, CancellationToken cancellationToken)
    {
        var token = Guid.NewGuid().ToString("N");
        var endSent = false;
        SmtpWire c;
        try { c = await SmtpWire.ConnectAsync(port); }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            return (token, Sent.NotConnected, 0); // the gateway is down (killed, restarting): nothing was sent
        }
        try
        {
            await using var _ = c;
            await c.HelloAsync();
            if ((await c.CommandAsync("MAIL FROM:<load@example.org>")).Code != 250) return (token, Sent.Incomplete, 0);
            if ((await c.CommandAsync("RCPT TO:<user@gateway.test>")).Code != 250) return (token, Sent.Incomplete, 0);
            var data = await c.CommandAsync("DATA");
            if (data.Code != 354) return (token, data.Code >= 400 ? Sent.Refused : Sent.Incomplete, data.Code);
            await c.SendRawAsync($"Subject: rel-{token}\r\n\r\n{Body(size)}");
            endSent = true;
            var reply = await c.CommandAsync(".");
            return (token, reply.Code == 250 ? Sent.Acked : Sent.Refused, reply.Code);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or TimeoutException or OperationCanceledException)
        {
            return (token, endSent ? Sent.Unanswered : Sent.Incomplete, 0);
        }
    }

    static Dictionary<string, int> Delivered(ScriptedSmtpServer sink) =>
        sink.Messages.Select(m => TokenOf().Match(m.Text)).Where(m => m.Success).GroupBy(m => m.Groups[1].Value).ToDictionary(g => g.Key, g => g.Count());

    static async Task WaitUntilAsync(Func<bool> condition, int seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(200);
    }

    [Fact]
    public async Task Kill_9_under_load_loses_nothing_answered_250_and_delivers_nothing_refused()
    {
        var kills = Setting("RELIABILITY_KILLS", 10);
        var senders = Setting("RELIABILITY_SENDERS", 4);
        var seed = Setting("RELIABILITY_SEED", Environment.TickCount & 0x7fffffff);
        var random = new Random(seed);
        var data = TempDirectory.Create("reliability-kill");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        await using var sink = new ScriptedSmtpServer(ports[1]);
        var sent = new ConcurrentDictionary<string, Sent>();
        var clock = Stopwatch.StartNew();
        GatewayProcess? gateway = null;
        for (var round = 0; round <= kills; round++)
        {
            gateway = GatewayProcess.Start(data, config);
            await gateway.WaitForPortAsync(ports[0], 60);
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var (token, how, _) = await SendOneAsync(ports[0], 2048, stop.Token);
                    if (how == Sent.NotConnected) await Task.Delay(50);
                    else sent[token] = how;
                }
            })).ToArray();
            // Under load for a random while, then SIGKILL at whatever moment that is (the last round stays up).
            await Task.Delay(random.Next(300, 2500));
            if (round < kills)
            {
                gateway.KillHard();
                await gateway.WaitForExitAsync(10);
            }
            stop.Cancel();
            await Task.WhenAll(load);
            if (round < kills) await gateway.DisposeAsync();
        }

        var acked = sent.Where(s => s.Value == Sent.Acked).Select(s => s.Key).ToHashSet();
        await WaitUntilAsync(() => Delivered(sink).Keys.Count(acked.Contains) == acked.Count, 120);
        await Task.Delay(2000); // stragglers: a duplicate on its way
        await gateway!.DisposeAsync();
        var delivered = Delivered(sink);
        var lost = acked.Count(t => !delivered.ContainsKey(t));
        var duplicated = delivered.Count(d => d.Value > 1);
        var refusedDelivered = sent.Count(s => s.Value is Sent.Refused && delivered.ContainsKey(s.Key));
        var incompleteDelivered = sent.Count(s => s.Value is Sent.Incomplete && delivered.ContainsKey(s.Key));
        var unanswered = sent.Count(s => s.Value == Sent.Unanswered);
        var unansweredDelivered = sent.Count(s => s.Value == Sent.Unanswered && delivered.ContainsKey(s.Key));
        Report($"kill -9 under load (seed {seed}, {senders} senders, 2 KB messages): {kills} kills in {clock.Elapsed.TotalSeconds:F0} s; " +
               $"{acked.Count} answered 250, {lost} of them lost, {duplicated} delivered more than once; " +
               $"{sent.Count(s => s.Value == Sent.Refused)} refused ({refusedDelivered} delivered); " +
               $"{unanswered} cut off after their end was sent ({unansweredDelivered} delivered, either is right); " +
               $"{sent.Count(s => s.Value == Sent.Incomplete)} cut off before their end ({incompleteDelivered} delivered)");
        Assert.True(acked.Count > 0, "the load produced no accepted message");
        Assert.Equal(0, lost);
        Assert.Equal(0, refusedDelivered);
        Assert.Equal(0, incompleteDelivered);
    }

    static async Task<(string Status, string Body)> HealthAsync(int port)
    {
        var result = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "-w", "\n%{http_code}", $"https://127.0.0.1:{port}/health" });
        var last = result.StdOut.LastIndexOf('\n');
        return (result.StdOut[(last + 1)..].Trim(), last < 0 ? "" : result.StdOut[..last]);
    }

    /// <summary>A tmpfs of <paramref name="megabytes"/> mounted on the data directory's queue (the gateway's spool).</summary>
    static async Task<string> MountQueueAsync(string data, int megabytes)
    {
        var queue = Path.Combine(data, "queue");
        Directory.CreateDirectory(queue);
        var mounted = await ExternalTool.RunAsync("mount", new[] { "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", queue });
        Assert.True(mounted.ExitCode == 0, "the reliability suite needs root to mount a tmpfs: " + mounted.All);
        return queue;
    }

    static async Task UnmountAsync(string path)
    {
        for (var i = 0; i < 20 && (await ExternalTool.RunAsync("umount", new[] { path })).ExitCode != 0; i++) await Task.Delay(250);
    }

    [Fact]
    public async Task A_full_disk_gets_452_never_250_and_mail_flows_again_when_space_returns()
    {
        var data = TempDirectory.Create("reliability-full");
        var ports = Ports.Free(3);
        var queue = await MountQueueAsync(data, 8);
        try
        {
            var config = GatewayProcess.WriteConfig(data, ports[0], ports[1], extraLimits: ", \"Limits\": { \"MaxMessageSize\": 4000000 }", webPort: ports[2]);
            await using var sink = new ScriptedSmtpServer(ports[1]) { RcptReply = _ => "451 4.3.0 not now" };
            var sent = new List<(string Token, Sent How, int Code)>();
            await using (var gateway = GatewayProcess.Start(data, config))
            {
                await gateway.WaitForPortAsync(ports[0], 60);
                await gateway.WaitForPortAsync(ports[2], 60);
                Assert.Equal("200", (await HealthAsync(ports[2])).Status);
                // The next hop takes nothing: 1 MB messages pile up until the spool's file system is full.
                var refusedInARow = 0;
                for (var i = 0; i < 30 && refusedInARow < 3; i++)
                {
                    var result = await SendOneAsync(ports[0], 1_000_000, CancellationToken.None);
                    sent.Add(result);
                    refusedInARow = result.How == Sent.Acked ? 0 : refusedInARow + 1;
                }
                Assert.Equal(3, refusedInARow);
                var refusals = sent.Where(s => s.How != Sent.Acked).ToList();
                Assert.All(refusals, r => Assert.True(r.Code is 451 or 452, $"a full disk was answered {r.Code} ({r.How})"));
                var unhealthy = await HealthAsync(ports[2]);
                Assert.Equal("503", unhealthy.Status);
                Assert.Contains("unhealthy", unhealthy.Body);

                // Space returns as the queue drains (the next hop takes mail again); then mail is accepted again.
                sink.RcptReply = _ => "250 2.1.5 Ok";
                var acked = sent.Where(s => s.How == Sent.Acked).Select(s => s.Token).ToHashSet();
                await GatewayProcess.RunCliAsync(data, null, "queue", "retry", "--all", "--config", config);
                await WaitUntilAsync(() => Delivered(sink).Keys.Count(acked.Contains) == acked.Count, 90);
                var after = await SendOneAsync(ports[0], 1_000_000, CancellationToken.None);
                Assert.Equal(Sent.Acked, after.How);
                Assert.Equal("200", (await HealthAsync(ports[2])).Status);
                await WaitUntilAsync(() => Delivered(sink).ContainsKey(after.Token), 30);
                var delivered = Delivered(sink);
                Report($"disk full (8 MB spool, 1 MB messages): {acked.Count} answered 250 before it filled, all {acked.Count(delivered.ContainsKey)} delivered; " +
                       $"{refusals.Count} refused with {string.Join("/", refusals.Select(r => r.Code).Distinct())}, {refusals.Count(r => delivered.ContainsKey(r.Token))} of them delivered; " +
                       $"accepted again once space returned: {delivered.ContainsKey(after.Token)}; /health said 503 while full, 200 before and after: {unhealthy.Body.Trim()}");
                Assert.All(acked, t => Assert.True(delivered.ContainsKey(t), $"{t} was answered 250 and not delivered"));
                Assert.DoesNotContain(refusals, r => delivered.ContainsKey(r.Token));
                Assert.True(delivered.ContainsKey(after.Token));
            }
        }
        finally
        {
            await UnmountAsync(queue);
        }
    }

    [Fact]
    public async Task A_read_only_spool_gets_451_or_452_never_250_and_recovers_when_writable_again()
    {
        var data = TempDirectory.Create("reliability-readonly");
        var ports = Ports.Free(2);
        var queue = await MountQueueAsync(data, 64);
        try
        {
            var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
            await using var sink = new ScriptedSmtpServer(ports[1]);
            await using var gateway = GatewayProcess.Start(data, config);
            await gateway.WaitForPortAsync(ports[0], 60);
            var before = await SendOneAsync(ports[0], 4096, CancellationToken.None);
            Assert.Equal(Sent.Acked, before.How);
            await WaitUntilAsync(() => Delivered(sink).ContainsKey(before.Token), 30);

            var readOnly = await ExternalTool.RunAsync("mount", new[] { "-o", "remount,ro", queue });
            Assert.True(readOnly.ExitCode == 0, readOnly.All);
            var during = new List<(string Token, Sent How, int Code)>();
            for (var i = 0; i < 5; i++) during.Add(await SendOneAsync(ports[0], 4096, CancellationToken.None));
            Assert.All(during, d => Assert.True(d.How == Sent.Refused && d.Code is 451 or 452, $"a read-only spool was answered {d.Code} ({d.How})"));

            Assert.Equal(0, (await ExternalTool.RunAsync("mount", new[] { "-o", "remount,rw", queue })).ExitCode);
            var after = await SendOneAsync(ports[0], 4096, CancellationToken.None);
            Assert.Equal(Sent.Acked, after.How);
            await WaitUntilAsync(() => Delivered(sink).ContainsKey(after.Token), 30);
            var delivered = Delivered(sink);
            Report($"read-only spool: {during.Count} sends while read-only answered {string.Join("/", during.Select(d => d.Code).Distinct())}, " +
                   $"{during.Count(d => delivered.ContainsKey(d.Token))} delivered; accepted and delivered again once writable: {delivered.ContainsKey(after.Token)}");
            Assert.DoesNotContain(during, d => delivered.ContainsKey(d.Token));
            Assert.True(delivered.ContainsKey(after.Token));
        }
        finally
        {
            await UnmountAsync(queue);
        }
    }

    /// <summary>S and T joined under S's Root, with sam@s.test and tina@t.test, both running and S knowing T's elements.</summary>
    static async Task StartJoinedAsync(CourierNode s, CourierNode t, string password)
    {
        await CourierNode.JoinAsync(s, t);
        await s.AddUserAsync("sam@s.test", password);
        await t.AddUserAsync("tina@t.test", password);
        s.Start();
        t.Start();
        await s.WaitUntilListeningAsync();
        await t.WaitUntilListeningAsync();
        await s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await s.WaitForLogAsync(60, "Background recorded peer t.test");
    }

    [Fact]
    public async Task Mail_for_a_peer_courier_that_is_down_waits_and_is_delivered_when_it_returns()
    {
        var ports = Ports.Free(8);
        var s = new CourierNode("s.test", ports[0..4]);
        var t = new CourierNode("t.test", ports[4..8]);
        try
        {
            await StartJoinedAsync(s, t, "peer-down-pass");

            // T goes down (SIGKILL: no goodbye); S takes mail for it and keeps both parts.
            t.Process!.KillHard();
            await t.Process.WaitForExitAsync(10);
            var tokens = new List<string>();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 5; i++)
            {
                var token = Guid.NewGuid().ToString("N");
                tokens.Add(token);
                Assert.Equal(250, (await s.SubmitAsync("sam@s.test", "peer-down-pass", "tina@t.test",
                    $"From: <sam@s.test>\r\nTo: <tina@t.test>\r\nSubject: peer down {token}\r\n\r\nBody {token}\r\n")).Code);
            }
            await s.WaitForLogAsync(60, "t.test");
            await Task.Delay(5000); // several retries fail meanwhile
            var downFor = clock.Elapsed;

            await t.StartAsync(new Dictionary<string, string>());
            await t.WaitUntilListeningAsync();
            var back = Stopwatch.StartNew();
            foreach (var token in tokens) await t.WaitForMessageAsync("tina@t.test", "peer-down-pass", x => x.Contains("Body " + token), 120);
            Report($"peer courier down: {tokens.Count} messages for it answered 250 while it was down ({downFor.TotalSeconds:F0} s), " +
                   $"all {tokens.Count} delivered and readable {back.Elapsed.TotalSeconds:F1} s after it returned");
        }
        finally
        {
            await t.DisposeAsync();
            await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task Kill_9_of_a_courier_under_load_loses_nothing_and_no_plaintext_reaches_disk_or_the_peer()
    {
        var kills = Setting("RELIABILITY_COURIER_KILLS", 5);
        var seed = Setting("RELIABILITY_SEED", Environment.TickCount & 0x7fffffff);
        var random = new Random(seed);
        var ports = Ports.Free(8);
        var s = new CourierNode("s.test", ports[0..4]);
        var t = new CourierNode("t.test", ports[4..8]);
        const string Password = "courier-kill-pass";
        try
        {
            await StartJoinedAsync(s, t, Password);

            var acked = new ConcurrentDictionary<string, bool>();
            var refused = new ConcurrentDictionary<string, bool>();
            var clock = Stopwatch.StartNew();
            for (var round = 0; round <= kills; round++)
            {
                if (round > 0)
                {
                    await s.StartAsync(new Dictionary<string, string>());
                    await s.WaitUntilListeningAsync();
                }
                using var stop = new CancellationTokenSource();
                var load = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var token = Guid.NewGuid().ToString("N");
                        try
                        {
                            var reply = await s.SubmitAsync("sam@s.test", Password, "tina@t.test",
                                $"From: <sam@s.test>\r\nTo: <tina@t.test>\r\nSubject: courier kill\r\n\r\nBody {token}\r\n");
                            (reply.Code == 250 ? acked : refused)[token] = true;
                        }
                        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or TimeoutException
                                                       or System.Security.Authentication.AuthenticationException)
                        {
                            await Task.Delay(100); // cut off, or the courier is restarting: not acknowledged
                        }
                    }
                })).ToArray();
                await Task.Delay(random.Next(1000, 4000));
                if (round < kills)
                {
                    s.Process!.KillHard();
                    await s.Process.WaitForExitAsync(10);
                }
                stop.Cancel();
                await Task.WhenAll(load);
            }

            // Every acknowledged message becomes readable at T (read as a mail program reads it, through T's Agent).
            var seen = new Dictionary<string, int>();
            var deadline = DateTime.UtcNow.AddSeconds(180);
            while (DateTime.UtcNow < deadline)
            {
                seen = await BodiesAsync(t, "tina@t.test", Password);
                if (acked.Keys.All(seen.ContainsKey)) break;
                await Task.Delay(2000);
            }
            var lost = acked.Keys.Count(k => !seen.ContainsKey(k));
            var duplicated = seen.Count(x => x.Value > 1);
            var refusedDelivered = refused.Keys.Count(seen.ContainsKey);
            // No plaintext anywhere on disk: what crossed to T, what T stores, and what S kept are all protected.
            var leaked = 0;
            foreach (var file in Directory.EnumerateFiles(s.DataDirectory, "*", SearchOption.AllDirectories)
                         .Concat(Directory.EnumerateFiles(t.DataDirectory, "*", SearchOption.AllDirectories)))
            {
                byte[] bytes;
                try { bytes = await File.ReadAllBytesAsync(file); }
                catch (IOException) { continue; }
                var text = Encoding.Latin1.GetString(bytes);
                leaked += acked.Keys.Count(k => text.Contains("Body " + k, StringComparison.Ordinal));
            }
            Report($"courier kill -9 under load (seed {seed}, 2 senders, S -> T): {kills} kills of S in {clock.Elapsed.TotalSeconds:F0} s; " +
                   $"{acked.Count} answered 250, {lost} lost, {duplicated} readable more than once; {refused.Count} refused ({refusedDelivered} delivered); " +
                   $"plaintext found on disk at S or T: {leaked}");
            Assert.True(acked.Count > 0, "the load produced no accepted message");
            Assert.Equal(0, lost);
            Assert.Equal(0, refusedDelivered);
            Assert.Equal(0, leaked);
        }
        finally
        {
            await t.DisposeAsync();
            await s.DisposeAsync();
        }
    }

    /// <summary>Every message in the user's INBOX read over IMAPS (protected ones opened): how often each "Body TOKEN" occurs.</summary>
    static async Task<Dictionary<string, int>> BodiesAsync(CourierNode node, string user, string password)
    {
        var counts = new Dictionary<string, int>();
        using var client = await ImapClients.ConnectAsync(node.ImapsPort, user, password);
        await client.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        for (var i = 0; i < client.Inbox.Count; i++)
        {
            var text = (await client.Inbox.GetMessageAsync(i)).TextBody ?? "";
            foreach (Match m in BodyToken().Matches(text)) counts[m.Groups[1].Value] = counts.GetValueOrDefault(m.Groups[1].Value) + 1;
        }
        await client.DisconnectAsync(true);
        return counts;
    }

    [GeneratedRegex(@"Body ([0-9a-f]{32})")]
    private static partial Regex BodyToken();
}
