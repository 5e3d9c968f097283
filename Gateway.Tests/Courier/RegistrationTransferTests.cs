using System.Text;
using Gateway.Crypto;
using Gateway.Tests.Support;
using MailKit;

namespace Gateway.Tests.Courier;

/// <summary>
/// Registration Transfer between two couriers on loopback, S (the Root) and T (Public, under S), each its own process:
/// a user with a full mailbox moves from S to T with both operators' consent; attempts without it change nothing.
/// </summary>
public sealed class RegistrationTransferTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    const string Password = "transfer-pass-1";
    const int Messages = 100;
    static readonly int[] AllPorts = Ports.Free(8);
    readonly CourierNode _s = new("s.test", AllPorts[0..4]);
    readonly CourierNode _t = new("t.test", AllPorts[4..8]);

    public async Task InitializeAsync()
    {
        await CourierNode.JoinAsync(_s, _t);
        foreach (var user in new[] { "alice", "sam", "bob", "carol", "dave" }) await _s.AddUserAsync($"{user}@s.test", Password);
        _s.Start();
        _t.Start();
        await _s.WaitUntilListeningAsync();
        await _t.WaitUntilListeningAsync();
        await _s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await _s.WaitForLogAsync(60, "Background recorded peer t.test");
    }

    public async Task DisposeAsync()
    {
        await _t.DisposeAsync();
        await _s.DisposeAsync();
    }

    static string Message(string to, string token) => $"From: <sam@s.test>\r\nTo: <{to}>\r\nSubject: transfer {token}\r\n\r\nBody {token}\r\n";

    async Task<string> StatusAsync(CourierNode node, string address) => (await node.CliAsync(null, "transfer", "status", address)).StdOut;

    async Task WaitForStatusAsync(CourierNode node, string address, string state, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        string status;
        while (!(status = await StatusAsync(node, address)).Contains("\t" + state + "\t") && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.True(status.Contains("\t" + state + "\t"), $"{node.Name}: {address} is not {state}:\n{status}");
    }

    /// <summary>Every message in every folder, as "FOLDER [flags] text".</summary>
    async Task<IReadOnlyList<string>> ReadAllAsync(CourierNode node, string user)
    {
        using var client = await ImapClients.ConnectAsync(node.ImapsPort, user, Password);
        var texts = new List<string>();
        foreach (var folder in await client.GetFoldersAsync(client.PersonalNamespaces[0]))
        {
            await folder.OpenAsync(FolderAccess.ReadOnly);
            // Messages may still be arriving: what the fetch saw is what is read.
            var summaries = folder.Count == 0 ? new List<IMessageSummary>() : (await folder.FetchAsync(0, -1, MessageSummaryItems.Flags | MessageSummaryItems.UniqueId)).ToList();
            foreach (var summary in summaries)
            {
                using var buffer = new MemoryStream();
                await (await folder.GetMessageAsync(summary.UniqueId)).WriteToAsync(buffer);
                texts.Add($"{folder.FullName} [{summary.Flags}] " + Encoding.UTF8.GetString(buffer.ToArray()));
            }
            await folder.CloseAsync();
        }
        await client.DisconnectAsync(true);
        return texts;
    }

    async Task<bool> IsUserAsync(CourierNode node, string address) => (await node.CliAsync(null, "user", "list")).StdOut.Contains(address + "\t");

    [Fact]
    public async Task A_user_with_a_hundred_messages_moves_with_both_consents_and_mail_to_the_old_address_follows()
    {
        var tokens = Enumerable.Range(0, Messages).Select(i => $"{i:000}-{Guid.NewGuid():N}").ToList();
        foreach (var token in tokens)
            Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "alice@s.test", Message("alice@s.test", token))).Code);
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while ((await _s.StoredHeadersAsync("alice@s.test", Password)).Count < Messages && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.Equal(Messages, (await _s.StoredHeadersAsync("alice@s.test", Password)).Count);

        // Her folders and flags: the first ten messages filed in Projects, the first of them flagged.
        string flagged;
        using (var client = await ImapClients.ConnectAsync(_s.ImapsPort, "alice@s.test", Password))
        {
            var projects = await client.GetFolder(client.PersonalNamespaces[0]).CreateAsync("Projects", true);
            await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
            flagged = tokens.Single(t => (client.Inbox.GetMessage(0).TextBody ?? "").Contains("Body " + t));
            await client.Inbox.AddFlagsAsync(0, MessageFlags.Flagged, true);
            await client.Inbox.MoveToAsync(Enumerable.Range(0, 10).ToList(), projects);
            await client.DisconnectAsync(true);
        }

        Assert.Contains("accepted", (await _t.CliAsync(null, "transfer", "accept", "alice@s.test", "--from", "s.test")).StdOut);
        var started = DateTime.UtcNow;
        var start = await _s.CliAsync(null, "transfer", "start", "alice@s.test", "--to", "t.test", "--wait");
        Assert.Contains("completed", start.StdOut);
        Assert.Contains("moving the mailbox", start.StdErr);
        var moved = DateTime.UtcNow - started;

        // Both sides record every step with its time.
        var old = await StatusAsync(_s, "alice@s.test");
        foreach (var step in new[] { "Transfer Subscription sent to t.test", "Configuration Update from t.test", "Exchange Keys from the user's Agent (accepting the new configuration) sent to t.test",
                     "Transfer Complete from t.test", "mailbox moved" })
            Assert.Contains(step, old);
        var incoming = await StatusAsync(_t, "alice@s.test");
        foreach (var step in new[] { "Configuration Update to s.test; waiting for the user's Agent", "Exchange Keys from s.test: the user's Agent accepted certificate" })
            Assert.Contains(step, incoming);
        Assert.Contains("\tCompleted\t", incoming);
        // The old courier's side of the key exchange: the Notice to Rekey with the new configuration went through the
        // Background to alice's Agent, which accepted it with her key.
        var rekey = (await _s.CliAsync(null, "rekey", "status", "alice@s.test")).StdOut;
        foreach (var step in new[] { "alice@s.test\tCompleted\ttransfer", "Notice to Rekey with the new configuration (t.test) sent to the user's Agent through the Background",
                     "Exchange Keys from the user's Agent (signed with certificate" })
            Assert.Contains(step, rekey);

        // The user logs in at T with the same password and finds every message, readable, and the new settings.
        var texts = new List<string>();
        deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            texts = (await ReadAllAsync(_t, "alice@s.test")).ToList();
            if (tokens.All(t => texts.Any(x => x.Contains("Body " + t)))) break;
            await Task.Delay(1000);
        }
        Assert.All(tokens, t => Assert.Contains(texts, x => x.Contains("Body " + t)));
        Assert.Equal(10, texts.Count(x => x.StartsWith("Projects ", StringComparison.Ordinal)));
        Assert.Contains(texts, x => x.StartsWith("Projects [", StringComparison.Ordinal) && x.Contains("Flagged") && x.Contains("Body " + flagged));
        Assert.Single(texts, x => x.Contains("Flagged"));
        Assert.Contains(texts, x => x.Contains("Subject: Welcome"));
        // The moved mail travelled protected (content part and ARM, split by S's Agent), never in clear: T's Foreground
        // stored a content part from alice for each message.
        Assert.True(System.Text.RegularExpressions.Regex.Matches(_t.Output, @"Foreground stored content part \S+ from alice@s\.test").Count >= Messages,
            "T did not store every moved message as a protected part");

        // Mail sent to the old courier now goes to the new one.
        var after = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "alice@s.test", Message("alice@s.test", after))).Code);
        await _t.WaitForMessageAsync("alice@s.test", Password, t => t.Contains("Body " + after), 60);
        await _s.WaitForLogAsync(30, "Foreground relays ContentPart", "to t.test");

        // Mail from outside the courier network that still reaches the old courier is passed on too.
        var outside = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SendAsync("someone@outside.test", "alice@s.test",
            $"From: <someone@outside.test>\r\nTo: <alice@s.test>\r\nSubject: plain\r\n\r\nBody {outside}\r\n")).Code);
        await _t.WaitForMessageAsync("alice@s.test", Password, t => t.Contains("Body " + outside), 60);

        // The old courier holds no account, key or mail of hers.
        Assert.False(await IsUserAsync(_s, "alice@s.test"));
        using (var keys = HeldPartAudit.OpenKeyStoreCopy(_s.DataDirectory, TempDirectory.Create("transfer-keys-s")))
            Assert.DoesNotContain(keys.List(), k => KeyStore.IsKeyOf(k.Id, "user:alice@s.test"));
        Assert.Contains($"{Messages} message(s) and", old);
        await Assert.ThrowsAnyAsync<Exception>(() => ImapClients.ConnectAsync(_s.ImapsPort, "alice@s.test", Password));
        output.WriteLine($"transfer of {Messages} messages: {moved.TotalSeconds:0.0} s from 'transfer start' to completed");
    }

    [Fact]
    public async Task Transfers_without_both_consents_are_refused_and_change_nothing()
    {
        // The old courier starts, the new one never accepted: refused, bob stays.
        await _s.CliAsync(null, "transfer", "start", "bob@s.test", "--to", "t.test");
        await WaitForStatusAsync(_s, "bob@s.test", "Refused");
        Assert.Contains("was accepted here", await StatusAsync(_s, "bob@s.test"));
        // The new courier accepted carol from another courier, not from S: refused as well.
        await _t.CliAsync(null, "transfer", "accept", "carol@s.test", "--from", "x.test");
        await _s.CliAsync(null, "transfer", "start", "carol@s.test", "--to", "t.test");
        await WaitForStatusAsync(_s, "carol@s.test", "Refused");
        // The new courier accepts dave, the old one never starts: nothing moves.
        await _t.CliAsync(null, "transfer", "accept", "dave@s.test", "--from", "s.test");
        await Task.Delay(3000);
        Assert.Contains("Authorised", await StatusAsync(_t, "dave@s.test"));

        // A forged Transfer Subscription (not sealed to T's Foreground, not signed by a courier of the network) is refused at once.
        var forged = "From: <foreground@s.test>\r\nTo: <foreground@t.test>\r\nSubject: Inter-Courier TransferSubscription x\r\nContent-Type: application/vnd.gateway.transfer+json\r\n\r\n" +
                     "{\"TransferId\":\"x\",\"Address\":\"dave@s.test\",\"PasswordHash\":\"forged\"}\r\n";
        Assert.Equal(554, (await _t.SendAsync("foreground@s.test", "foreground@t.test", forged)).Code);
        foreach (var user in new[] { "bob@s.test", "carol@s.test", "dave@s.test" })
        {
            Assert.True(await IsUserAsync(_s, user), $"{user} is no longer at S");
            Assert.False(await IsUserAsync(_t, user), $"{user} is at T");
        }
        await _t.WaitForLogAsync(10, "Foreground refused a Transfer Subscription of bob@s.test from s.test");
        // Still served at S: mail to bob arrives there.
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "bob@s.test", Message("bob@s.test", token))).Code);
        await _s.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + token), 60);
        // An operator cannot start what the other side must do, or twice.
        Assert.NotEqual(0, (await GatewayProcess.RunCliAsync(_s.DataDirectory, null, "transfer", "start", "nobody@s.test", "--to", "t.test", "--config", _s.ConfigPath)).ExitCode);
        Assert.NotEqual(0, (await GatewayProcess.RunCliAsync(_s.DataDirectory, null, "transfer", "start", "sam@s.test", "--to", "unknown.test", "--config", _s.ConfigPath)).ExitCode);
    }
}
