using Gateway.Tests.Support;
using MailKit;
using MailKit.Search;

namespace Gateway.Tests.Sealing;

/// <summary>
/// kill -9 at each durable step of a message's way from the delivery port into a mailbox, and in the middle of its
/// DATA: after each kill no file under the data directory holds the message's marker (raw or base64), and after a
/// restart every message that was committed is in the mailbox exactly once.
/// </summary>
public sealed class SealedCrashTests
{
    const string User = "carol@gateway.test";
    const string Password = "sealed-crash-15";

    static string Message(string marker) =>
        $"From: someone@internet.test\r\nTo: {User}\r\nSubject: Subject-{marker}\r\nMessage-ID: <{marker}@internet.test>\r\n\r\nBody-{marker}\r\n" +
        string.Concat(Enumerable.Repeat($"a body line that carries the marker {marker}\r\n", 3000)); // ~150 KB: several chunks

    static async Task WaitForInboxAsync(int imapsPort, int count)
    {
        using var client = await ImapClients.ConnectAsync(imapsPort, User, Password);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            if (client.Inbox.Count >= count || DateTime.UtcNow > deadline) break;
            await client.Inbox.CloseAsync();
            await Task.Delay(300);
        }
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_kill_at_any_durable_step_leaves_no_plaintext_and_loses_nothing_committed()
    {
        var parent = TempDirectory.Create("sealed-crash");
        var data = Path.Combine(parent, "data");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteLocalConfig(parent, ports[0], ports[1]);
        var add = await GatewayProcess.RunCliAsync(data, Password + "\n", "user", "add", User, "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);
        var markers = new List<string>();

        foreach (var point in new[] { "queue-after-commit", "mailbox-after-blob", "mailbox-after-record" })
        {
            var marker = "CRASH" + point.Replace("-", "") + Guid.NewGuid().ToString("N")[..10];
            markers.Add(marker);
            await using var gw = GatewayProcess.Start(data, config, new Dictionary<string, string> { ["GATEWAY_CRASH_POINT"] = point });
            await gw.WaitForPortAsync(ports[0]);
            try
            {
                await using var c = await SmtpWire.ConnectAsync(ports[0]);
                await c.HelloAsync();
                await c.CommandAsync("MAIL FROM:<someone@internet.test>");
                await c.CommandAsync($"RCPT TO:<{User}>");
                await c.CommandAsync("DATA");
                await c.CommandAsync(Message(marker) + ".");
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException) { } // the kill came before the reply
            Assert.True(await gw.WaitForExitAsync(60), $"the gateway did not reach crash point {point}:\n{gw.Output}");
            Assert.Contains($"crash point {point}", gw.Output);
            var leaks = NothingRestsInClearTests.Leaks(data, markers);
            Assert.True(leaks.Count == 0, $"plaintext at rest after a kill at {point}:\n" + string.Join("\n", leaks));
            // Restarted unarmed until the message is in the INBOX, so that the next crash point is reached by its own message.
            await using var resumed = GatewayProcess.Start(data, config);
            await resumed.WaitForPortAsync(ports[1]);
            await WaitForInboxAsync(ports[1], markers.Count);
        }

        // In the middle of DATA: half a message received, then kill -9. It was never acknowledged; nothing of it may rest.
        var halfMarker = "HALFDATA" + Guid.NewGuid().ToString("N")[..10];
        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(ports[0]);
            await using var c = await SmtpWire.ConnectAsync(ports[0]);
            await c.HelloAsync();
            await c.CommandAsync("MAIL FROM:<someone@internet.test>");
            await c.CommandAsync($"RCPT TO:<{User}>");
            await c.CommandAsync("DATA");
            await c.SendRawAsync(Message(halfMarker)); // no final dot
            await Task.Delay(500);
            gw.KillHard();
            await gw.WaitForExitAsync(10);
        }
        var afterHalf = NothingRestsInClearTests.Leaks(data, markers.Append(halfMarker));
        Assert.True(afterHalf.Count == 0, "plaintext at rest after a kill during DATA:\n" + string.Join("\n", afterHalf));

        // Restarted: each committed message lands exactly once, and reads back whole.
        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(ports[1]);
            await WaitForInboxAsync(ports[1], markers.Count);
            using var client = await ImapClients.ConnectAsync(ports[1], User, Password);
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            foreach (var marker in markers)
            {
                var found = await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker));
                Assert.True(found.Count == 1, $"{marker}: {found.Count} message(s) in the INBOX\n{gw.Output}");
                var body = (await client.Inbox.GetMessageAsync(found[0])).TextBody;
                Assert.StartsWith("Body-" + marker, body);
            }
            Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.SubjectContains(halfMarker)));
            Assert.Equal(markers.Count, client.Inbox.Count);
            var running = NothingRestsInClearTests.Leaks(data, markers.Append(halfMarker));
            Assert.True(running.Count == 0, "plaintext at rest after the restart:\n" + string.Join("\n", running));

            // The operator's recovery (README, "Mail at rest"): the user's key, exported under a passphrase, opens every
            // stored message with openssl alone.
            var keyFile = Path.Combine(parent, "carol.key");
            var export = await GatewayProcess.RunCliAsync(data, "recovery-passphrase\n", "user", "export-key", User, "--out", keyFile, "--passphrase-stdin");
            Assert.True(export.ExitCode == 0, export.All);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            Assert.Contains("ENCRYPTED PRIVATE KEY", await File.ReadAllTextAsync(keyFile));
            var recovered = new List<string>();
            foreach (var blob in Directory.GetFiles(Path.Combine(data, "mailboxes", "blobs"), "*.p7m", SearchOption.AllDirectories))
            {
                var outFile = Path.Combine(parent, Path.GetFileName(blob) + ".eml");
                var decrypt = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-binary", "-in", blob, "-inkey", keyFile,
                    "-passin", "pass:recovery-passphrase", "-out", outFile });
                Assert.True(decrypt.ExitCode == 0, decrypt.All);
                recovered.Add(await File.ReadAllTextAsync(outFile));
            }
            foreach (var marker in markers) Assert.Single(recovered, m => m.Contains("Subject: Subject-" + marker) && m.Contains("Body-" + marker));
        }
    }
}
