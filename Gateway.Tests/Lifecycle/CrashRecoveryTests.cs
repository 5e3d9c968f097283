using Gateway.Tests.Support;

namespace Gateway.Tests.Lifecycle;

/// <summary>kill -9 at the worst moments: what was acknowledged with 250 is delivered after restart; nothing else is.</summary>
public class CrashRecoveryTests
{
    static async Task<string> SendAsync(int port, string subject)
    {
        await using var c = await SmtpWire.ConnectAsync(port);
        await c.HelloAsync();
        await c.CommandAsync("MAIL FROM:<sender@example.org>");
        await c.CommandAsync("RCPT TO:<user@gateway.test>");
        await c.CommandAsync("DATA");
        var reply = await c.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n.");
        Assert.Equal(250, reply.Code);
        return reply.Text.Split(' ').Last();
    }

    [Fact]
    public async Task Message_acknowledged_just_before_kill_9_is_delivered_after_restart()
    {
        var data = TempDirectory.Create("crash-after");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(ports[0]);
            await SendAsync(ports[0], "acked then killed");
            gw.KillHard(); // immediately after 250
        }
        Assert.Single(Directory.GetFiles(Path.Combine(data, "queue", "messages"), "*.json"));

        await using var sink = new ScriptedSmtpServer(ports[1]);
        await using var again = GatewayProcess.Start(data, config);
        await again.WaitForPortAsync(ports[0]);
        var received = await sink.WaitForMessageAsync(30);
        Assert.Contains("Subject: acked then killed", received.Text);
        Assert.Contains("body of acked then killed", received.Text);
    }

    [Fact]
    public async Task Message_killed_before_250_leaves_nothing_behind()
    {
        var data = TempDirectory.Create("crash-before");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(ports[0]);
            await using var c = await SmtpWire.ConnectAsync(ports[0]);
            await c.HelloAsync();
            await c.CommandAsync("MAIL FROM:<sender@example.org>");
            await c.CommandAsync("RCPT TO:<user@gateway.test>");
            await c.CommandAsync("DATA");
            await c.SendRawAsync("Subject: half a message\r\n\r\n" + string.Concat(Enumerable.Repeat("partial content line\r\n", 2000)));
            var incoming = Path.Combine(data, "queue", "incoming");
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!Directory.EnumerateFiles(incoming).Any(f => new FileInfo(f).Length > 0) && DateTime.UtcNow < deadline) await Task.Delay(20);
            Assert.NotEmpty(Directory.GetFiles(incoming)); // the spool file really was being written
            gw.KillHard();
        }

        await using var sink = new ScriptedSmtpServer(ports[1]);
        await using var again = GatewayProcess.Start(data, config);
        await again.WaitForPortAsync(ports[0]);
        await Task.Delay(3000);
        Assert.Empty(sink.Messages);
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "queue", "incoming")));
        Assert.Empty(Directory.GetFiles(Path.Combine(data, "queue", "messages")));
    }

    [Fact]
    public async Task Kill_9_during_a_stream_of_messages_loses_none_that_were_acknowledged()
    {
        var data = TempDirectory.Create("crash-stream");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(ports[0]);
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
            {
                for (var i = 0; i < 200 && !stop.IsCancellationRequested; i++)
                {
                    try { await SendAsync(ports[0], $"stream-{n}-{i}"); acked.Add($"stream-{n}-{i}"); }
                    catch (Exception) { return; } // the server died mid-conversation
                }
            })).ToList();
            await Task.Delay(1500);
            gw.KillHard();
            stop.Cancel();
            await Task.WhenAll(senders);
        }
        Assert.NotEmpty(acked);

        await using var sink = new ScriptedSmtpServer(ports[1]);
        await using var again = GatewayProcess.Start(data, config);
        await again.WaitForPortAsync(ports[0]);
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!acked.All(seen.Contains) && DateTime.UtcNow < deadline)
        {
            while (sink.Messages.TryDequeue(out var m))
                seen.Add(m.Text.Split("\r\n").First(l => l.StartsWith("Subject: "))["Subject: ".Length..]);
            await Task.Delay(100);
        }
        Assert.Empty(acked.Except(seen));
    }
}
