using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gateway.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MimeKit;

namespace Gateway.Tests.Interop;

/// <summary>Real IMAP clients nobody here wrote (MailKit, curl, Python imaplib, mbsync) against the running gateway.</summary>
public sealed class ImapClientTests : IAsyncLifetime
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "client-secret-9";
    TestGateway _gw = null!;

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(Alice, Password);
        _gw.AddUser(Bob, Password);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    Task<ImapClient> ConnectAsync(string user) => ImapClients.ConnectAsync(_gw.ImapsPort, user, Password);

    async Task SendAsync(string subject, string body = "Hello Bob.")
    {
        var message = $"From: Alice <{Alice}>\r\nTo: Bob <{Bob}>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@gateway.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n";
        var reply = await _gw.SubmitAsync(Alice, Password, Alice, new[] { Bob }, message);
        Assert.Equal(250, reply.Code);
    }

    [Fact]
    public async Task MailKit_full_session_reads_delivered_mail_byte_exact_then_moves_and_expunges()
    {
        await SendAsync("first");
        var delivered = await _gw.WaitForMailAsync(Bob);
        using var client = await ConnectAsync(Bob);
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Idle));
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.Move));
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.UidPlus));
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.CondStore));
        Assert.Equal("Sent", client.GetFolder(SpecialFolder.Sent)?.Name);
        Assert.Equal("Trash", client.GetFolder(SpecialFolder.Trash)?.Name);

        var inbox = client.Inbox;
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.Equal(1, inbox.Count);
        var summary = (await inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure
            | MessageSummaryItems.Flags | MessageSummaryItems.Size | MessageSummaryItems.InternalDate)).Single();
        Assert.Equal("first", summary.Envelope.Subject);
        Assert.Equal(Alice, summary.Envelope.From.Mailboxes.Single().Address);
        Assert.Equal("text/plain", summary.Body.ContentType.MimeType);
        Assert.False(summary.Flags!.Value.HasFlag(MessageFlags.Seen));
        Assert.Equal(Encoding.UTF8.GetByteCount(delivered[0]), (int)summary.Size!.Value);

        using (var raw = await inbox.GetStreamAsync(summary.UniqueId, ""))
        using (var copy = new MemoryStream())
        {
            await raw.CopyToAsync(copy);
            Assert.Equal(delivered[0], Encoding.UTF8.GetString(copy.ToArray()));
        }
        var text = await inbox.GetMessageAsync(summary.UniqueId);
        Assert.Contains("Hello Bob.", text.TextBody);
        var seen = (await inbox.FetchAsync(new[] { summary.UniqueId }, MessageSummaryItems.Flags)).Single();
        Assert.False(seen.Flags!.Value.HasFlag(MessageFlags.Seen)); // MailKit reads with BODY.PEEK[], which must not set \Seen

        // A client keeps a copy of what it sends in Sent (APPEND).
        var sent = client.GetFolder(SpecialFolder.Sent)!;
        var appended = await sent.AppendAsync(MimeMessage.CreateFromMailMessage(new System.Net.Mail.MailMessage(Bob, Alice, "reply", "Thanks!")), MessageFlags.Seen);
        Assert.NotNull(appended);

        var archive = client.GetFolder(SpecialFolder.Archive)!;
        var moved = await inbox.MoveToAsync(summary.UniqueId, archive);
        Assert.NotNull(moved);
        Assert.Equal(0, inbox.Count);
        await archive.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(1, archive.Count);
        var fromArchive = await archive.GetMessageAsync(moved!.Value);
        Assert.Equal("first", fromArchive.Subject);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task MailKit_idle_hears_of_new_mail_and_a_second_session_sees_flag_changes()
    {
        using var watcher = await ConnectAsync(Bob);
        using var other = await ConnectAsync(Bob);
        await watcher.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Inbox.CountChanged += (_, _) => arrived.TrySetResult(watcher.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = watcher.IdleAsync(done.Token);
        await Task.Delay(200);
        await SendAsync("while idling");
        var count = await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, count);
        done.Cancel();
        await idle;

        await other.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var flagged = new TaskCompletionSource<MessageFlags?>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Inbox.MessageFlagsChanged += (_, e) => flagged.TrySetResult(e.Flags);
        await other.Inbox.AddFlagsAsync(0, MessageFlags.Flagged, true);
        await watcher.NoOpAsync();
        Assert.True((await flagged.Task.WaitAsync(TimeSpan.FromSeconds(5)))!.Value.HasFlag(MessageFlags.Flagged));

        var expunged = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        watcher.Inbox.MessageExpunged += (_, e) => expunged.TrySetResult(e.Index);
        await other.Inbox.AddFlagsAsync(0, MessageFlags.Deleted, true);
        await other.Inbox.ExpungeAsync();
        await watcher.NoOpAsync();
        Assert.Equal(0, await expunged.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, watcher.Inbox.Count);
        var search = await other.Inbox.SearchAsync(SearchQuery.All);
        Assert.Empty(search);
    }

    [Fact]
    public async Task Curl_lists_mailboxes_and_fetches_a_message_over_imaps()
    {
        ExternalTool.Require("curl");
        await SendAsync("for curl", "Fetched by curl.");
        await _gw.WaitForMailAsync(Bob);
        var list = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", $"imaps://127.0.0.1:{_gw.ImapsPort}/" });
        Assert.True(list.ExitCode == 0, list.All);
        Assert.Contains("\"INBOX\"", list.StdOut);
        Assert.Contains("\\Sent", list.StdOut);
        var fetch = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", $"imaps://127.0.0.1:{_gw.ImapsPort}/INBOX;UID=1" });
        Assert.True(fetch.ExitCode == 0, fetch.All);
        Assert.Contains("Subject: for curl", fetch.StdOut);
        Assert.Contains("Fetched by curl.", fetch.StdOut);
        // STARTTLS on the plain port, required by --ssl-reqd.
        var starttls = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--ssl-reqd", "--user", $"{Bob}:{Password}", $"imap://127.0.0.1:{_gw.ImapPort}/INBOX", "-X", "EXAMINE INBOX" });
        Assert.True(starttls.ExitCode == 0, starttls.All);
        Assert.Contains("1 EXISTS", starttls.StdOut);
        // Without TLS the login is refused, not sent in clear.
        var clear = await ExternalTool.RunAsync("curl", new[] { "-sS", "--user", $"{Bob}:{Password}", $"imap://127.0.0.1:{_gw.ImapPort}/" });
        Assert.NotEqual(0, clear.ExitCode);
    }

    [Fact]
    public async Task Python_imaplib_scripted_session()
    {
        ExternalTool.Require("python3");
        var script = Path.Combine(AppContext.BaseDirectory, "scripts", "imaplib-session.py");
        var r = await ExternalTool.RunAsync("python3", new[] { script, _gw.ImapsPort.ToString(), Alice, Password });
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("login: OK", r.StdOut);
        Assert.Contains("\"Archive\"", r.StdOut);
        Assert.Matches(@"append: OK \[APPENDUID \d+ 1\]", r.StdOut);
        Assert.Contains("search: OK 1", r.StdOut);
        Assert.Contains("fetch-exact: True", r.StdOut);
        Assert.Contains("\\Flagged", r.StdOut);
        Assert.Contains("expunge: OK 1", r.StdOut);
        Assert.Contains("logout: BYE", r.StdOut);
    }

    [Fact]
    public async Task Mbsync_syncs_a_mailbox_to_maildir_and_back_with_flags_and_appends()
    {
        ExternalTool.Require("mbsync");
        await SendAsync("sync me 1");
        await SendAsync("sync me 2");
        await _gw.WaitForMailAsync(Bob, 2);
        var dir = TempDirectory.Create("mbsync");
        var certificate = Path.Combine(dir, "server.pem");
        await File.WriteAllTextAsync(certificate, await ServerCertificatePemAsync(_gw.ImapsPort));
        var maildir = Path.Combine(dir, "mail");
        Directory.CreateDirectory(maildir);
        var config = Path.Combine(dir, "mbsyncrc");
        await File.WriteAllTextAsync(config, $"""
            IMAPAccount gw
            Host 127.0.0.1
            Port {_gw.ImapsPort}
            User {Bob}
            Pass {Password}
            SSLType IMAPS
            CertificateFile {certificate}

            IMAPStore gw-remote
            Account gw

            MaildirStore gw-local
            Path {maildir}/
            Inbox {maildir}/INBOX
            SubFolders Verbatim

            Channel gw
            Far :gw-remote:
            Near :gw-local:
            Patterns INBOX Sent
            Create Both
            SyncState *
            Sync All
            Expunge Both
            """);
        var first = await ExternalTool.RunAsync("mbsync", new[] { "-c", config, "-a" }, timeoutSeconds: 60);
        Assert.True(first.ExitCode == 0, first.All);
        var local = Directory.GetFiles(Path.Combine(maildir, "INBOX", "cur")).Concat(Directory.GetFiles(Path.Combine(maildir, "INBOX", "new"))).ToList();
        Assert.Equal(2, local.Count);
        Assert.Contains(local, f => File.ReadAllText(f).Contains("Subject: sync me 1"));

        // Locally: mark one as read and flagged (Maildir info ":2,FS"), and drop a new message into Sent.
        var one = local.First(f => File.ReadAllText(f).Contains("Subject: sync me 1"));
        var cur = Path.Combine(maildir, "INBOX", "cur");
        File.Move(one, Path.Combine(cur, Path.GetFileName(one).Split(":2,")[0] + ":2,FS"));
        var sentNew = Path.Combine(maildir, "Sent", "new");
        Directory.CreateDirectory(sentNew);
        Directory.CreateDirectory(Path.Combine(maildir, "Sent", "cur"));
        Directory.CreateDirectory(Path.Combine(maildir, "Sent", "tmp"));
        var marker = "MBSYNC" + Guid.NewGuid().ToString("N")[..12];
        await File.WriteAllTextAsync(Path.Combine(sentNew, "1700000000.local.test"), $"From: Bob <bob@gateway.test>\nTo: alice@gateway.test\nSubject: written offline\n\nsent from the maildir {marker}\n");

        var second = await ExternalTool.RunAsync("mbsync", new[] { "-c", config, "-a" }, timeoutSeconds: 60);
        Assert.True(second.ExitCode == 0, second.All);

        using var client = await ConnectAsync(Bob);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
        var synced = summaries.Single(s => s.Envelope.Subject == "sync me 1");
        Assert.True(synced.Flags!.Value.HasFlag(MessageFlags.Seen));
        Assert.True(synced.Flags!.Value.HasFlag(MessageFlags.Flagged));
        var sent = client.GetFolder(SpecialFolder.Sent)!;
        await sent.OpenAsync(FolderAccess.ReadOnly);
        var appended = await sent.GetMessageAsync(0);
        Assert.Equal("written offline", appended.Subject);
        Assert.Contains("sent from the maildir " + marker, appended.TextBody);
        // Stored sealed: nothing of what mbsync appended rests in clear in the gateway's data directory.
        Assert.Empty(Sealing.NothingRestsInClearTests.Leaks(_gw.DataDirectory, new[] { marker }));
    }

    [Fact]
    public async Task Curl_uploads_a_sent_copy_that_rests_sealed_and_is_found_and_fetched_again()
    {
        ExternalTool.Require("curl");
        var marker = "CURLUP" + Guid.NewGuid().ToString("N")[..12];
        var file = Path.Combine(TempDirectory.Create("curl-upload"), "sent.eml");
        await File.WriteAllTextAsync(file, $"From: {Bob}\r\nTo: {Alice}\r\nSubject: uploaded {marker}\r\n\r\nThe body {marker}.\r\n");
        var upload = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", "-T", file, $"imaps://127.0.0.1:{_gw.ImapsPort}/Sent" });
        Assert.True(upload.ExitCode == 0, upload.All);
        Assert.Empty(Sealing.NothingRestsInClearTests.Leaks(_gw.DataDirectory, new[] { marker }));
        var search = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", $"imaps://127.0.0.1:{_gw.ImapsPort}/Sent", "-X", $"UID SEARCH BODY \"The body {marker}\"" });
        Assert.True(search.ExitCode == 0, search.All);
        Assert.Contains("* SEARCH 1", search.StdOut);
        var fetch = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", $"imaps://127.0.0.1:{_gw.ImapsPort}/Sent;UID=1" });
        Assert.True(fetch.ExitCode == 0, fetch.All);
        Assert.Equal(await File.ReadAllTextAsync(file), fetch.StdOut);
    }

    /// <summary>The gateway's TLS certificate as PEM, for clients that pin it (mbsync's CertificateFile).</summary>
    static async Task<string> ServerCertificatePemAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        X509Certificate2? certificate = null;
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, c, _, _) => { certificate = new X509Certificate2(c!); return true; });
        await ssl.AuthenticateAsClientAsync("localhost");
        return certificate!.ExportCertificatePem();
    }
}
