using Gateway.Tests.Support;
using MailKit;

namespace Gateway.Tests.Lifecycle;

/// <summary>
/// kill -9 while messages are being accepted and delivered into local INBOXes, several times over: after the last
/// restart every acknowledged message is in the mailbox, and no message is there twice.
/// </summary>
public class LocalDeliveryCrashTests(Xunit.Abstractions.ITestOutputHelper output)
{
    const string User = "user@gateway.test";
    const string Password = "crash-imap-secret";

    static async Task SendAsync(int port, string subject)
    {
        await using var c = await SmtpWire.ConnectAsync(port);
        await c.HelloAsync();
        await c.CommandAsync("MAIL FROM:<sender@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        var reply = await c.CommandAsync($"Subject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nbody of {subject}\r\n.");
        if (reply.Code != 250) throw new InvalidOperationException(reply.ToString());
    }

    [Fact]
    public async Task Every_acknowledged_message_lands_in_the_inbox_exactly_once_across_repeated_kill_9()
    {
        var data = TempDirectory.Create("crash-local");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteLocalConfig(data, ports[0], ports[1]);
        var add = await GatewayProcess.RunCliAsync(data, Password + "\n", "user", "add", User, "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);

        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        for (var round = 0; round < 3; round++)
        {
            await using var gw = GatewayProcess.Start(data, config);
            await gw.WaitForPortAsync(ports[0]);
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
            {
                for (var i = 0; i < 300 && !stop.IsCancellationRequested; i++)
                {
                    var subject = $"r{round}-s{n}-m{i}";
                    try { await SendAsync(ports[0], subject); acked.Add(subject); }
                    catch (Exception) { return; } // the server died mid-conversation
                }
            })).ToList();
            // While messages are both arriving and being delivered; on a loaded machine the first acknowledgements can take
            // longer than the delay, so each round also waits (bounded) for ten of its own before the kill.
            var before = acked.Count;
            await Task.Delay(1200 + 400 * round);
            var until = DateTime.UtcNow.AddSeconds(20);
            while (acked.Count - before < 10 && DateTime.UtcNow < until) await Task.Delay(100);
            gw.KillHard();
            stop.Cancel();
            await Task.WhenAll(senders);
        }
        Assert.True(acked.Count > 20, $"only {acked.Count} messages were acknowledged before the kills");

        await using var last = GatewayProcess.Start(data, config);
        await last.WaitForPortAsync(ports[1]);
        var queueDir = Path.Combine(data, "queue", "messages");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Directory.EnumerateFiles(queueDir, "*.json").Any() && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Empty(Directory.GetFiles(queueDir, "*.json"));

        using var client = await ImapClients.ConnectAsync(ports[1], User, Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var subjects = (await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope)).Select(s => s.Envelope.Subject).ToList();
        output.WriteLine($"acknowledged {acked.Count}, in the INBOX {subjects.Count} (the rest were committed but their 250 was lost with the process)");
        var duplicates = subjects.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"delivered twice: {string.Join(", ", duplicates)}");
        var missing = acked.Where(s => !subjects.Contains(s)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not in the INBOX ({missing.Count} of {acked.Count}): {string.Join(", ", missing.Take(20))}");
    }
}
