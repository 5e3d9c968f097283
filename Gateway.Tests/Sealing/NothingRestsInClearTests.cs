using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Support;
using MailKit;
using MailKit.Search;
using MimeKit;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Tests.Sealing;

/// <summary>
/// Every everyday path mail takes, each with its own marker in subject and body; then every file under the data
/// directory is searched for each marker, raw and in base64 (at the three alignments base64 can put it in), while
/// the gateway runs and after it stopped. Server-side SEARCH finds the same mail by subject and body.
/// </summary>
public sealed class NothingRestsInClearTests
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "sealed-at-rest-15";

    /// <summary>The marker as raw octets and as it appears inside any base64 text.</summary>
    public static IReadOnlyList<byte[]> Forms(string marker)
    {
        var forms = new List<byte[]> { Encoding.UTF8.GetBytes(marker) };
        for (var shift = 0; shift < 3; shift++)
        {
            // Base64 of the marker after 0, 1 or 2 other octets: drop the characters that depend on the neighbours.
            var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(new string('x', shift) + marker));
            var skip = shift == 0 ? 0 : (shift * 8 + 5) / 6;
            forms.Add(Encoding.ASCII.GetBytes(encoded.Substring(skip, encoded.Length - skip - 4)));
        }
        return forms;
    }

    /// <summary>Files under <paramref name="root"/> holding any marker in any form, as "marker: path".</summary>
    public static List<string> Leaks(string root, IEnumerable<string> markers)
    {
        var forms = markers.Select(m => (m, Forms(m))).ToList();
        var leaks = new List<string>();
        foreach (var path in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(path); }
            catch (IOException) { continue; } // removed while we looked
            foreach (var (marker, variants) in forms)
                if (variants.Any(v => bytes.AsSpan().IndexOf(v) >= 0)) leaks.Add($"{marker}: {Path.GetRelativePath(root, path)}");
        }
        return leaks;
    }

    static string Message(string from, string to, string marker) =>
        $"From: {from}\r\nTo: {to}\r\nSubject: Subject-{marker}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nBody-{marker}\r\n" +
        string.Concat(Enumerable.Repeat($"more of the body, so that it spans blocks {marker}\r\n", 30));

    [Fact]
    public async Task Every_path_mail_takes_leaves_no_marker_in_any_file_and_search_finds_it()
    {
        await using var refusing = new ScriptedSmtpServer { RcptReply = _ => "550 5.1.1 <gone@remote.test>: user unknown" };
        var deadPort = Ports.Free(1)[0];
        var gw = await TestGateway.StartAsync(o =>
        {
            o.Routes.Add(new RouteOptions { Domain = "remote.test", Host = "127.0.0.1", Port = refusing.Port });
            o.Routes.Add(new RouteOptions { Domain = "waiting.test", Host = "127.0.0.1", Port = deadPort });
            o.Delivery.FirstRetrySeconds = 600; // the waiting message stays queued for the whole test
            o.Delivery.MaxRetrySeconds = 600;
        });
        gw.KeepData = true;
        var data = gw.DataDirectory;
        gw.AddUser(Alice, Password);
        gw.AddUser(Bob, Password);
        var marker = new Dictionary<string, string>();
        string Mark(string flow) => marker[flow] = "M" + flow.Replace(" ", "") + Guid.NewGuid().ToString("N")[..12];

        try
        {
            // 1. The split: a local user to a local user.
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { Bob }, Message(Alice, Bob, Mark("split")))).Code);
            // 2. Inbound Internet mail on the delivery port.
            await using (var c = await SmtpWire.ConnectAsync(gw.DeliveryPort))
            {
                await c.HelloAsync();
                await c.CommandAsync("MAIL FROM:<someone@internet.test>");
                await c.CommandAsync($"RCPT TO:<{Alice}>");
                await c.CommandAsync("DATA");
                Assert.Equal(250, (await c.CommandAsync(Message("someone@internet.test", Alice, Mark("inbound")) + ".")).Code);
            }
            // 3. Outside mail waiting in the queue (its next hop does not answer).
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "friend@waiting.test" }, Message(Alice, "friend@waiting.test", Mark("queued")))).Code);
            // 4. Outside mail refused by its next hop: the DSN carries the original back into alice's INBOX.
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "gone@remote.test" }, Message(Alice, "gone@remote.test", Mark("bounced")))).Code);

            using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Alice, Password))
            {
                // 5. What the mail program saves: the Sent copy and a draft (IMAP APPEND).
                var sent = client.GetFolder(SpecialFolder.Sent);
                await sent.AppendAsync(new AppendRequest(MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(Message(Alice, Bob, Mark("sent")))))) { Flags = MessageFlags.Seen });
                var drafts = client.GetFolder(SpecialFolder.Drafts);
                await drafts.AppendAsync(new AppendRequest(MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(Message(Alice, Bob, Mark("draft")))))) { Flags = MessageFlags.Draft });
                // 6. COPY and MOVE.
                await sent.OpenAsync(FolderAccess.ReadWrite);
                await sent.CopyToAsync(new[] { (await sent.SearchAsync(SearchQuery.All)).Single() }, client.GetFolder(SpecialFolder.Archive));
                await drafts.OpenAsync(FolderAccess.ReadWrite);
                await drafts.MoveToAsync(new[] { (await drafts.SearchAsync(SearchQuery.All)).Single() }, client.GetFolder(SpecialFolder.Trash));
            }
            var inbox = await gw.WaitForMailAsync(Alice, 2);
            Assert.Contains(inbox, m => m.Contains("Body-" + marker["inbound"]));
            Assert.Contains(inbox, m => m.Contains("Undelivered Mail Returned to Sender") && m.Contains("Body-" + marker["bounced"]));
            Assert.Contains(await gw.WaitForMailAsync(Bob, 1), m => m.Contains("Body-" + marker["split"]));
            Assert.Equal(1, gw.QueuedMessageCount()); // the one waiting for its next hop

            // Search on the server: by subject and by body, for the owner's own mail and for protected mail alike.
            using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Alice, Password))
            {
                await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
                Assert.Single(await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker["inbound"])));
                Assert.Single(await client.Inbox.SearchAsync(SearchQuery.BodyContains(marker["bounced"])));
                Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker["split"])));
                var archive = client.GetFolder(SpecialFolder.Archive);
                await archive.OpenAsync(FolderAccess.ReadOnly);
                Assert.Single(await archive.SearchAsync(SearchQuery.SubjectContains(marker["sent"]).And(SearchQuery.BodyContains("Body-" + marker["sent"]))));
            }
            using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Bob, Password))
            {
                await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
                var bySubject = await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker["split"]));
                Assert.Single(bySubject);
                Assert.Single(await client.Inbox.SearchAsync(SearchQuery.BodyContains("Body-" + marker["split"])));
                Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.SubjectContains("Protected message")));
                var envelope = (await client.Inbox.FetchAsync(bySubject, MessageSummaryItems.Envelope)).Single().Envelope;
                Assert.Equal("Subject-" + marker["split"], envelope.Subject);
            }

            var whileRunning = Leaks(data, marker.Values);
            Assert.True(whileRunning.Count == 0, "plaintext at rest while running:\n" + string.Join("\n", whileRunning));
        }
        finally
        {
            await gw.DisposeAsync();
        }
        var afterStop = Leaks(data, marker.Values);
        Assert.True(afterStop.Count == 0, "plaintext at rest after stopping:\n" + string.Join("\n", afterStop));
        Directory.Delete(data, recursive: true);
    }
}
