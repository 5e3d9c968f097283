using System.Security.Cryptography;
using System.Text;
using JsonSerializer = System.Text.Json.JsonSerializer;
using MessageStructure = Gateway.Imap.MessageStructure;
using Gateway.Platform;
using Gateway.Queue;
using Gateway.Storage.Mail;
using Gateway.Tests.Support;
using LiteDB;
using MailKit;
using MailKit.Search;

namespace Gateway.Tests.Sealing;

/// <summary>
/// A data directory as the version before sealing left it (plain blobs named by their SHA-256, structures in clear
/// in mail.db, a plain queued message) is sealed on the first start of this version; a kill in the middle of that
/// only leaves less to do; afterwards no file holds the plaintext, and every message reads and searches as before.
/// </summary>
public sealed class LegacyUpgradeTests
{
    const string User = "dora@gateway.test";
    const string Password = "legacy-upgrade-15";

    static byte[] Message(string marker) => Encoding.ASCII.GetBytes(
        $"From: old@internet.test\r\nTo: {User}\r\nSubject: Subject-{marker}\r\nMessage-ID: <{marker}@internet.test>\r\n\r\nBody-{marker}\r\nsecond line {marker}\r\n");

    /// <summary>What the version before sealing wrote for one stored message: a plain blob and a record with its structure in clear.</summary>
    static void WriteLegacyMessages(DataDirectory data, IReadOnlyList<string> markers)
    {
        using var db = new LiteDatabase(new ConnectionString { Filename = data.MailDatabasePath, Connection = ConnectionType.Direct });
        var mailboxes = db.GetCollection<MailboxRecord>("mailboxes");
        var messages = db.GetCollection<MessageRecord>("messages");
        var inbox = mailboxes.FindOne(m => m.Key == User + "/INBOX") ?? throw new InvalidOperationException("no INBOX yet");
        db.DropCollection("meta"); // the old version had no record of the upgrade (the first run of this one made it)
        foreach (var marker in markers)
        {
            var octets = Message(marker);
            var id = Convert.ToHexString(SHA256.HashData(octets)).ToLowerInvariant();
            Directory.CreateDirectory(Path.Combine(data.BlobDirectory, id[..2]));
            File.WriteAllBytes(Path.Combine(data.BlobDirectory, id[..2], id + ".eml"), octets);
            messages.Insert(new MessageRecord
            {
                MailboxId = inbox.Id, Uid = inbox.UidNext++, ModSeq = ++inbox.HighestModSeq, InternalDateUtc = DateTime.UtcNow, Size = octets.Length,
                BlobId = id, Structure = MessageStructure.Parse(new MemoryStream(octets)).ToJson(),
            });
        }
        mailboxes.Update(inbox);
        db.Checkpoint();
    }

    /// <summary>A plain queued message for the user, as the version before sealing left it after a stop.</summary>
    static void WriteLegacyQueued(DataDirectory data, string marker)
    {
        var id = "0000000000a" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        var messagesDirectory = Path.Combine(data.QueueDirectory, "messages");
        File.WriteAllBytes(Path.Combine(messagesDirectory, id + ".eml"), Message(marker));
        var envelope = new QueuedMessage
        {
            Id = id, ArrivedUtc = DateTimeOffset.UtcNow, Sender = "old@internet.test", Size = Message(marker).Length,
            Recipients = new() { new QueuedRecipient { Address = User, NextAttemptUtc = DateTimeOffset.UtcNow } },
        };
        File.WriteAllBytes(Path.Combine(messagesDirectory, id + ".json"), JsonSerializer.SerializeToUtf8Bytes(envelope, MessageQueue.Json));
    }

    [Fact]
    public async Task Plain_mail_from_the_version_before_is_sealed_on_start_even_across_a_kill()
    {
        var parent = TempDirectory.Create("legacy");
        var dataPath = Path.Combine(parent, "data");
        var data = new DataDirectory(dataPath);
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteLocalConfig(parent, ports[0], ports[1]);
        Assert.Equal(0, (await GatewayProcess.RunCliAsync(dataPath, Password + "\n", "user", "add", User, "--password-stdin")).ExitCode);
        // A first run makes the courier's CA and the user's INBOX, as the old version's runs did.
        await using (var first = GatewayProcess.Start(dataPath, config))
        {
            await first.WaitForPortAsync(ports[1]);
            using var client = await ImapClients.ConnectAsync(ports[1], User, Password);
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        }

        var stored = Enumerable.Range(0, 3).Select(i => $"LEGACY{i}x" + Guid.NewGuid().ToString("N")[..10]).ToList();
        var queued = "LEGACYQ" + Guid.NewGuid().ToString("N")[..10];
        WriteLegacyMessages(data, stored);
        WriteLegacyQueued(data, queued);
        // Plain files in the courier's spools, as the version before left them (their content does not matter here).
        var spooled = "LEGACYS" + Guid.NewGuid().ToString("N")[..10];
        foreach (var (directory, name) in new[] { (Path.Combine(data.ForegroundDirectory, "inbox"), "old.part"), (Path.Combine(data.BackgroundDirectory, "pending"), "old.part"),
                     (Path.Combine(data.ForegroundDirectory, "outbound"), "old.eml") })
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, name), $"Subject: {spooled}\r\n\r\nplain part of {spooled}\r\n");
        }
        var all = stored.Append(queued).ToList();
        Assert.NotEmpty(NothingRestsInClearTests.Leaks(dataPath, all)); // the plain data is there to be found

        // Killed right after the first batch of records is sealed, before the plain files go.
        await using (var killed = GatewayProcess.Start(dataPath, config, new Dictionary<string, string> { ["GATEWAY_CRASH_POINT"] = "upgrade-after-commit" }))
            Assert.True(await killed.WaitForExitAsync(60), killed.Output);

        await using var gw = GatewayProcess.Start(dataPath, config);
        await gw.WaitForPortAsync(ports[1]);
        using (var client = await ImapClients.ConnectAsync(ports[1], User, Password))
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
                if (client.Inbox.Count >= all.Count || DateTime.UtcNow > deadline) break;
                await client.Inbox.CloseAsync();
                await Task.Delay(300);
            }
            Assert.Equal(all.Count, client.Inbox.Count);
            foreach (var marker in all)
            {
                var found = await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker).And(SearchQuery.BodyContains("second line " + marker)));
                Assert.True(found.Count == 1, $"{marker}: {found.Count}\n{gw.Output}");
                Assert.Contains("Body-" + marker, (await client.Inbox.GetMessageAsync(found[0])).TextBody);
            }
        }
        var leaks = NothingRestsInClearTests.Leaks(dataPath, all.Append(spooled));
        Assert.True(leaks.Count == 0, "plaintext left after the upgrade:\n" + string.Join("\n", leaks) + "\n" + gw.Output);
        Assert.Empty(Directory.GetFiles(data.BlobDirectory, "*.eml", SearchOption.AllDirectories));
    }
}
