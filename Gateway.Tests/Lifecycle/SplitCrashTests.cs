using Gateway.Tests.Support;
using MailKit;

namespace Gateway.Tests.Lifecycle;

/// <summary>
/// The split under crashes: the process dies (SIGKILL) exactly between two durable steps of the Agent, the
/// Foreground or the Background, and again at random moments under load; after restart every acknowledged
/// message is in bob's INBOX exactly once and opens (its content part and its ARM both arrived, once).
/// </summary>
public class SplitCrashTests(Xunit.Abstractions.ITestOutputHelper output)
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "split-crash-secret";

    static string WriteConfig(string directory, int submissionPort, int imapsPort)
    {
        var path = Path.Combine(directory, "gateway.json");
        File.WriteAllText(path, $$"""
            {
              "Gateway": {
                "Hostname": "crash.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [
                  { "Name": "submissions", "Endpoint": "127.0.0.1:{{submissionPort}}", "Role": "Submission", "Tls": "Implicit" },
                  { "Name": "imaps", "Endpoint": "127.0.0.1:{{imapsPort}}", "Role": "Imap", "Tls": "Implicit" }
                ],
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 1, "DnsServers": [ "127.0.0.1:9" ] },
                "Web": { "Endpoint": "" }
              }
            }
            """);
        return path;
    }

    static async Task SubmitAsync(int port, string subject)
    {
        var reply = await TestGateway.SubmitAsync(port, Alice, Password, Alice, new[] { Bob },
            $"From: {Alice}\r\nTo: {Bob}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@gateway.test>\r\n\r\nsecret body of {subject}\r\n");
        if (reply.Code != 250) throw new InvalidOperationException(reply.ToString());
    }

    static async Task<(string Data, string Config, int[] Ports)> PrepareAsync(string name)
    {
        var data = TempDirectory.Create(name);
        var ports = Ports.Free(2);
        var config = WriteConfig(data, ports[0], ports[1]);
        foreach (var user in new[] { Alice, Bob })
        {
            var add = await GatewayProcess.RunCliAsync(data, Password + "\n", "user", "add", user, "--password-stdin");
            Assert.True(add.ExitCode == 0, add.All);
        }
        return (data, config, ports);
    }

    /// <summary>Restarts, waits until queue and element inboxes are empty, and returns bob's INBOX: subject and body of each message.</summary>
    static async Task<(List<(string Subject, string Body)> Inbox, string Log)> SettleAndReadAsync(string data, string config, int[] ports)
    {
        await using var last = GatewayProcess.Start(data, config);
        await last.WaitForPortAsync(ports[1]);
        // The queue, the elements' inboxes, and the Agent's outbox (whose staged parts the inboxes adopt): all emptied.
        var outbox = Path.Combine(data, "agent", "outbox");
        string[] Waiting() => new[] { Path.Combine(data, "queue", "messages"), Path.Combine(data, "foreground", "inbox"), Path.Combine(data, "background", "inbox") }
            .SelectMany(d => Directory.Exists(d) ? Directory.GetFiles(d).Where(f => f.EndsWith(".json") || f.EndsWith(".part")) : Array.Empty<string>())
            .Concat(Directory.Exists(outbox) ? Directory.GetFiles(outbox) : Array.Empty<string>()).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (Waiting().Length > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(Waiting().Length == 0, "still waiting: " + string.Join(", ", Waiting().Select(Path.GetFileName)) + "\n" + last.Output);

        using var client = await ImapClients.ConnectAsync(ports[1], Bob, Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var result = new List<(string, string)>();
        foreach (var summary in await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.UniqueId))
        {
            var message = await client.Inbox.GetMessageAsync(summary.UniqueId);
            result.Add((summary.Envelope.Subject, message.TextBody ?? ""));
        }
        await client.DisconnectAsync(true);
        return (result, last.Output);
    }

    [Theory]
    [InlineData("agent-after-arm")]
    [InlineData("agent-after-content")]
    [InlineData("background-after-store")]
    [InlineData("foreground-after-store")]
    public async Task A_crash_between_two_steps_of_the_split_delivers_the_message_once(string crashPoint)
    {
        var (data, config, ports) = await PrepareAsync("split-crash");
        await using (var dying = GatewayProcess.Start(data, config, new Dictionary<string, string> { ["GATEWAY_CRASH_POINT"] = crashPoint }))
        {
            await dying.WaitForPortAsync(ports[0]);
            try { await SubmitAsync(ports[0], "exactly-once"); }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                throw new InvalidOperationException($"submitting to the gateway armed with {crashPoint} failed: {e.Message}\n{dying.Output}", e);
            }
            // WaitForExitAsync also waits until the process's output has been read to its end.
            Assert.True(await dying.WaitForExitAsync(60), $"the crash point {crashPoint} was never reached:\n{dying.Output}");
            Assert.Contains($"crash point {crashPoint}", dying.Output);
        }
        // Killed between two steps: the message waits in the queue, an inbox or an outbox, sealed in each.
        var leaks = Sealing.NothingRestsInClearTests.Leaks(data, new[] { "secret body of exactly-once" });
        Assert.True(leaks.Count == 0, "plaintext at rest after the kill:\n" + string.Join("\n", leaks));
        var (inbox, log) = await SettleAndReadAsync(data, config, ports);
        var message = Assert.Single(inbox);
        Assert.Equal("exactly-once", message.Subject);
        Assert.True(message.Body.Contains("secret body of exactly-once"), message.Body + "\n" + log);
    }

    [Fact]
    public async Task Every_acknowledged_split_message_opens_exactly_once_across_repeated_kill_9()
    {
        var (data, config, ports) = await PrepareAsync("split-crash-load");
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (var round = 0; round < 3; round++)
        {
            await using var gw = GatewayProcess.Start(data, config);
            await gw.WaitForPortAsync(ports[0]);
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 3).Select(n => Task.Run(async () =>
            {
                for (var i = 0; i < 200 && !stop.IsCancellationRequested; i++)
                {
                    var subject = $"r{round}-s{n}-m{i}";
                    try { await SubmitAsync(ports[0], subject); acked.Add(subject); }
                    catch (Exception) { return; } // the server died mid-conversation
                }
            })).ToList();
            // Kill once this round has had some acknowledgements (a slow machine still gets its share of work
            // in flight), then at a different moment each round.
            var before = acked.Count;
            var waitUntil = DateTime.UtcNow.AddSeconds(60);
            while (acked.Count < before + 5 && DateTime.UtcNow < waitUntil && senders.Any(s => !s.IsCompleted)) await Task.Delay(50);
            await Task.Delay(700 + 700 * round);
            gw.KillHard();
            stop.Cancel();
            await Task.WhenAll(senders);
        }
        Assert.True(acked.Count > 10, $"only {acked.Count} messages were acknowledged before the kills");

        var (inbox, log) = await SettleAndReadAsync(data, config, ports);
        output.WriteLine($"acknowledged {acked.Count}, in bob's INBOX {inbox.Count}");
        var unreadable = inbox.Where(m => !m.Body.Contains("secret body of " + m.Subject)).Select(m => m.Subject).ToList();
        Assert.True(unreadable.Count == 0, $"stored but not readable ({unreadable.Count}): {string.Join(", ", unreadable.Take(20))}\n" +
            string.Join("\n", log.Split('\n').Where(l => l.Contains("Agent") || l.Contains("fail")).Take(20)));
        var duplicates = inbox.GroupBy(m => m.Subject).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"delivered twice: {string.Join(", ", duplicates)}");
        var missing = acked.Where(s => inbox.All(m => m.Subject != s)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not in the INBOX ({missing.Count} of {acked.Count}): {string.Join(", ", missing.Take(20))}");
    }
}
