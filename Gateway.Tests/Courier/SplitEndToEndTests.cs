using System.Text;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Storage.Mail;
using Gateway.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace Gateway.Tests.Courier;

/// <summary>
/// One gateway, all three roles: alice submits over SMTP, bob reads over IMAP (MailKit). The mailbox holds only the
/// re-wrapped content part, the Background only ARMs; restrictions, receipts and revocation act on bob's reads.
/// </summary>
public sealed class SplitEndToEndTests : IAsyncLifetime
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "split-secret-5";
    TestGateway _gw = null!;

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync(o => o.Courier.PendingCheckSeconds = 1); // the Foreground drives Key Replacement at each look
        _gw.AddUser(Alice, Password);
        _gw.AddUser(Bob, Password);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    static string Message(string subject, string extraHeaders = "") =>
        $"From: {Alice}\r\nTo: {Bob}\r\nSubject: {subject}\r\n{extraHeaders}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe vault code is 4711-{subject}.\r\n";

    Task<ImapClient> ConnectAsync(string user) => ImapClients.ConnectAsync(_gw.ImapsPort, user, Password);

    IReadOnlyList<MessageRecord> BobsInbox() => _gw.MailStore.Messages(_gw.MailStore.Find(Bob, "INBOX")!.Id);

    /// <param name="readable">Also wait until bob could read it (its ARM has arrived), not only until it is stored.</param>
    async Task<MessageRecord> SubmitAndWaitAsync(string message, bool readable = true)
    {
        var before = BobsInbox().Count;
        var reply = await _gw.SubmitAsync(Alice, Password, Alice, new[] { Bob }, message);
        Assert.Equal(250, reply.Code);
        return await WaitForNextAsync(before, readable);
    }

    /// <summary>Waits for the message after the first <paramref name="before"/> in bob's INBOX (stored, and readable if asked).</summary>
    async Task<MessageRecord> WaitForNextAsync(int before, bool readable = true)
    {
        var reader = _gw.App.Services.GetRequiredService<IProtectedMessageReader>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            // Only this message counts: an earlier one that no longer opens (expired, revoked) must not hold it up.
            if (BobsInbox() is var inbox && inbox.Count > before && inbox[before] is var stored
                && (!readable || (await reader.ReadAsync(Bob, stored, countAsOpen: false, openedInSession: true)).IsOriginal))
                return stored;
            await Task.Delay(50);
        }
        throw new TimeoutException($"the message to {Bob} was not {(readable ? "readable" : "stored")} within 60 s");
    }

    static async Task<byte[]> BodyAsync(ImapClient client, UniqueId uid)
    {
        var inbox = client.Inbox;
        if (!inbox.IsOpen) await inbox.OpenAsync(FolderAccess.ReadWrite);
        using var stream = await inbox.GetStreamAsync(uid, "");
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    [Fact]
    public async Task Bob_reads_alices_exact_message_while_only_ciphertext_is_at_rest()
    {
        var original = Message("plans");
        var stored = await SubmitAndWaitAsync(original);
        Assert.NotNull(stored.ProtectedId);

        // At rest: neither subject nor body in the mailbox file; the Background's store holds no content.
        var blob = await new StreamReader(_gw.MailStore.OpenContent(stored)).ReadToEndAsync();
        Assert.DoesNotContain("vault code", blob);
        Assert.DoesNotContain("Subject: ", await File.ReadAllTextAsync(_gw.MailStore.Blobs.PathOf(stored.BlobId))); // sealed for bob besides
        Assert.DoesNotContain("Subject: plans", blob);
        Assert.Contains("Subject: " + ForegroundElement.ProtectedSubject, blob);
        var backgroundDb = await File.ReadAllBytesAsync(Path.Combine(_gw.DataDirectory, "background", "background.db"));
        Assert.DoesNotContain("vault code", Encoding.Latin1.GetString(backgroundDb));

        using var client = await ConnectAsync(Bob);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var uid = new UniqueId(stored.Uid);
        var summary = (await client.Inbox.FetchAsync(new[] { uid }, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure | MessageSummaryItems.Size))[0];
        Assert.Equal("plans", summary.Envelope.Subject);
        var body = Encoding.UTF8.GetString(await BodyAsync(client, uid));
        // The queue's Received: trace, then alice's octets exactly.
        Assert.StartsWith("Received: ", body);
        Assert.EndsWith(original, body);
        Assert.Equal(body.Length, (int)summary.Size!.Value);
        await client.DisconnectAsync(true);

        var arm = _gw.App.Services.GetRequiredService<BackgroundElement>().ArmsOf(stored.ProtectedId!).Single();
        Assert.Equal(1, arm.Opens);
    }

    [Fact]
    public async Task Openssl_opens_the_stored_content_part_with_the_arms_cek_and_not_without()
    {
        ExternalTool.Require("openssl");
        var stored = await SubmitAndWaitAsync(Message("cms"));
        var services = _gw.App.Services;
        var keys = services.GetRequiredService<KeyStore>();
        var directory = services.GetRequiredService<CertificateDirectory>();
        using var bobContext = new CourierSecureMimeContext(ScopedKeyRing.Agent(keys), directory);

        // Bob's Agent unwraps the stored part (Foreground layer) and the ARM (Background layer).
        var mail = MimeMessage.Load(_gw.MailStore.OpenContent(stored));
        var contentPart = CourierMime.Decode(ForegroundElement.Read(PartEnvelope.Open(bobContext, mail.Body, null).Entity).ContentPart);
        var release = (KeyRelease.Released)services.GetRequiredService<BackgroundElement>().Release(stored.ProtectedId!, Bob, ReleasePurpose.Preview);
        var arm = AccessRestrictionsMessage.FromEntity(PartEnvelope.Open(bobContext, MimeMessage.Load(new MemoryStream(release.SealedArm)).Body, null).Entity);

        var dir = TempDirectory.Create("split-cms");
        var path = Path.Combine(dir, "content.der");
        await File.WriteAllBytesAsync(path, contentPart);
        var keyId = Convert.ToHexString(Encoding.UTF8.GetBytes(stored.ProtectedId!));
        var ok = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-secretkey", Convert.ToHexString(arm.Cek), "-secretkeyid", keyId, "-out", Path.Combine(dir, "plain") });
        Assert.True(ok.ExitCode == 0, ok.StdErr);
        Assert.Contains("The vault code is 4711-cms.", await File.ReadAllTextAsync(Path.Combine(dir, "plain")));
        var without = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-secretkey", Convert.ToHexString(ContentPart.NewCek()), "-secretkeyid", keyId, "-out", Path.Combine(dir, "wrong") });
        Assert.NotEqual(0, without.ExitCode);

        // The Foreground's keys alone open neither the stored part nor the content inside it.
        using var foregroundContext = new CourierSecureMimeContext(ScopedKeyRing.Foreground(keys), directory);
        Assert.Throws<PartRejectedException>(() => PartEnvelope.Open(foregroundContext, mail.Body, null));
    }

    [Fact]
    public async Task Max_opens_counts_body_reads_only_and_the_receipt_arrives_once()
    {
        var stored = await SubmitAndWaitAsync(Message("once", "X-Gateway-Max-Opens: 1\r\nX-Gateway-Receipt: yes\r\n"));
        var uid = new UniqueId(stored.Uid);
        using (var client = await ConnectAsync(Bob))
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
            // Envelope and structure, twice: not an open.
            for (var i = 0; i < 2; i++)
                Assert.Equal("once", (await client.Inbox.FetchAsync(new[] { uid }, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure))[0].Envelope.Subject);
            Assert.Empty(await _gw.ReceiptsAsync(Alice, 0));
            // The body, twice in one session: one open.
            Assert.Contains("4711-once", Encoding.UTF8.GetString(await BodyAsync(client, uid)));
            Assert.Contains("4711-once", Encoding.UTF8.GetString(await BodyAsync(client, uid)));
            await client.DisconnectAsync(true);
        }
        var receipts = await _gw.ReceiptsAsync(Alice, 1);
        Assert.Contains($"opened by {Bob}", receipts[0]);

        using (var client = await ConnectAsync(Bob))
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
            var shown = Encoding.UTF8.GetString(await BodyAsync(client, uid));
            Assert.DoesNotContain("vault code", shown); // not "4711": a random message id may contain it
            Assert.Contains("can no longer be opened", shown);
            await client.DisconnectAsync(true);
        }
        var arm = _gw.App.Services.GetRequiredService<BackgroundElement>().ArmsOf(stored.ProtectedId!).Single();
        Assert.Equal(1, arm.Opens);
        Assert.Contains(arm.Events, e => !e.Released);
        // The refused attempt is reported too, and the first-open receipt was not sent again.
        var all = await _gw.ReceiptsAsync(Alice, 2);
        Assert.Single(all, r => r.Contains($"opened by {Bob}"));
        Assert.Single(all, r => r.Contains("refused"));
    }

    [Fact]
    public async Task Expired_and_revoked_messages_show_a_notice()
    {
        // Expires in 2 s, which may pass before it is even stored on a busy machine: wait only for it to be stored.
        var expiring = await SubmitAndWaitAsync(Message("late", $"X-Gateway-Expires: {DateTimeOffset.UtcNow.AddSeconds(2):R}\r\n"), readable: false);
        var revoked = await SubmitAndWaitAsync(Message("oops"));
        Assert.True(_gw.App.Services.GetRequiredService<BackgroundElement>().Revoke(revoked.ProtectedId!, Alice));
        await Task.Delay(2500);
        using var client = await ConnectAsync(Bob);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var late = Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(expiring.Uid)));
        Assert.Contains("expired", late);
        Assert.DoesNotContain("vault code", late);
        var oops = Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(revoked.Uid)));
        Assert.Contains("revoked", oops);
        Assert.DoesNotContain("vault code", oops);
        await client.DisconnectAsync(true);
    }

    Task<ToolResult> CurlAsync(params string[] args) =>
        ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--resolve", $"mx.gateway.test:{_gw.HttpsPort}:127.0.0.1", "-w", "\n%{http_code}" }.Concat(args));

    static (string Body, int Status) Split(ToolResult r)
    {
        var last = r.StdOut.LastIndexOf('\n');
        return (r.StdOut[..last], int.Parse(r.StdOut[(last + 1)..].Trim()));
    }

    [Fact]
    public async Task After_a_user_rekey_mail_sent_before_and_after_both_open_and_the_old_key_is_kept()
    {
        var keys = _gw.App.Services.GetRequiredService<KeyStore>();
        var before = await SubmitAndWaitAsync(Message("before-rekey")); // the Agent issues bob's first certificate for it
        var old = keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Bob))!;

        // The Foreground drives it with bob's Agent: the command waits and shows each step.
        var rekey = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "rekey", "user", Bob, "--wait");
        Assert.True(rekey.ExitCode == 0, rekey.All);
        var current = keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Bob))!;
        foreach (var step in new[] { "Notice to Rekey sent", "Exchange Keys: the Agent's new certificate", "Rekeying Complete from the Agent; Background Key Replacement sent",
                     $"completed: {Bob}'s certificate {old.SerialNumber.ToString(16)} replaced by {current.SerialNumber.ToString(16)}" })
            Assert.Contains(step, rekey.StdOut);
        var status = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "rekey", "status", Bob);
        Assert.Contains($"{Bob}\tCompleted\toperator\tcertificate {old.SerialNumber.ToString(16)} -> {current.SerialNumber.ToString(16)}", status.StdOut);
        Assert.NotEqual(old.SerialNumber, current.SerialNumber);
        Assert.True(keys.HasPrivateKey(KeyStore.ArchivedId(CourierSecureMimeContext.UserKeyId(Bob), old)));
        Assert.NotEqual(0, (await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "rekey", "user", "nobody@gateway.test")).ExitCode);

        var after = await SubmitAndWaitAsync(Message("after-rekey"));
        // The part stored after the rekey is sealed to the new certificate, the one before to the old.
        Assert.Equal(current.SerialNumber, RecipientSerial(after));
        Assert.Equal(old.SerialNumber, RecipientSerial(before));
        using var client = await ConnectAsync(Bob);
        Assert.Contains("4711-before-rekey", Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(before.Uid))));
        Assert.Contains("4711-after-rekey", Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(after.Uid))));
        await client.DisconnectAsync(true);
    }

    /// <summary>The serial number in the (only) recipient info of a stored protected message.</summary>
    Org.BouncyCastle.Math.BigInteger RecipientSerial(MessageRecord stored)
    {
        using var file = _gw.MailStore.OpenContent(stored);
        var body = (MimeKit.Cryptography.ApplicationPkcs7Mime)MimeMessage.Load(file).Body;
        using var der = new MemoryStream();
        body.Content.DecodeTo(der);
        var recipient = new Org.BouncyCastle.Cms.CmsEnvelopedData(der.ToArray()).GetRecipientInfos().GetRecipients().Single();
        return recipient.RecipientID.SerialNumber ?? throw new InvalidOperationException("the recipient is not named by issuer and serial");
    }

    [Fact]
    public async Task The_senders_status_page_shows_each_recipient_and_revokes_with_its_form()
    {
        ExternalTool.Require("curl");
        var opened = await SubmitAndWaitAsync(Message("seen", "Message-ID: <seen@gateway.test>\r\n"));
        var unread = await SubmitAndWaitAsync(Message("unseen", "Message-ID: <unseen@gateway.test>\r\n"));
        using (var client = await ConnectAsync(Bob))
        {
            Assert.Contains("4711-seen", Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(opened.Uid))));
            await client.DisconnectAsync(true);
        }
        var url = $"https://mx.gateway.test:{_gw.HttpsPort}/status";

        Assert.Equal(401, Split(await CurlAsync(url)).Status);
        Assert.Equal(401, Split(await CurlAsync("-u", $"{Alice}:wrong-password", url)).Status);
        var (page, status) = Split(await CurlAsync("-u", $"{Alice}:{Password}", url));
        Assert.Equal(200, status);
        var seen = page[page.IndexOf("&lt;seen@gateway.test&gt;", StringComparison.Ordinal)..];
        Assert.Matches($"<td>{Bob}</td><td>opened</td><td>opened 1 time\\(s\\), first at ", seen);
        var unseen = page[page.IndexOf("&lt;unseen@gateway.test&gt;", StringComparison.Ordinal)..page.IndexOf("&lt;seen@gateway.test&gt;", StringComparison.Ordinal)];
        Assert.Contains($"<td>{Bob}</td><td>delivered</td>", unseen);
        // Bob sent nothing: his page lists nothing of alice's.
        var (bobPage, _) = Split(await CurlAsync("-u", $"{Bob}:{Password}", url));
        Assert.DoesNotContain("seen@gateway.test", bobPage);

        var token = System.Text.RegularExpressions.Regex.Match(unseen, "name=\"token\" value=\"([0-9A-F]+)\"").Groups[1].Value;
        Assert.NotEmpty(token);
        var revokeUrl = $"https://mx.gateway.test:{_gw.HttpsPort}/status/revoke";
        // A forged form (no valid token) and bob posting alice's form are refused; nothing is revoked.
        Assert.Equal(403, Split(await CurlAsync("-u", $"{Alice}:{Password}", "-d", $"id={unread.ProtectedId}&token=00", revokeUrl)).Status);
        Assert.Equal(403, Split(await CurlAsync("-u", $"{Bob}:{Password}", "-d", $"id={unread.ProtectedId}&token={token}", revokeUrl)).Status);
        Assert.True((await _gw.App.Services.GetRequiredService<IProtectedMessageReader>().ReadAsync(Bob, unread, countAsOpen: false, openedInSession: true)).IsOriginal);

        var (_, revokeStatus) = Split(await CurlAsync("-u", $"{Alice}:{Password}", "-d", $"id={unread.ProtectedId}&token={token}", revokeUrl));
        Assert.Equal(303, revokeStatus);
        using (var client = await ConnectAsync(Bob))
        {
            var shown = Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(unread.Uid)));
            Assert.Contains("revoked", shown);
            Assert.DoesNotContain("vault code", shown); // not "4711": a random message id may contain it
            await client.DisconnectAsync(true);
        }
        (page, _) = Split(await CurlAsync("-u", $"{Alice}:{Password}", url));
        unseen = page[page.IndexOf("&lt;unseen@gateway.test&gt;", StringComparison.Ordinal)..page.IndexOf("&lt;seen@gateway.test&gt;", StringComparison.Ordinal)];
        Assert.Contains("<strong>Revoked</strong>", unseen);
        Assert.Matches($"<td>{Bob}</td><td>refused</td><td>refused: the sender revoked it</td>", unseen);
    }

    [Fact]
    public async Task The_admin_verb_revokes_a_message_of_the_running_gateway()
    {
        var stored = await SubmitAndWaitAsync(Message("cli", "Message-ID: <cli-revoke@gateway.test>\r\n"));
        var list = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "message", "list", "--sender", Alice);
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.Contains(stored.ProtectedId!, list.StdOut);
        Assert.Contains("0/1 opened", list.StdOut);

        var missing = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "message", "revoke", "no-such-message");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no sent message no-such-message", missing.StdErr);

        var revoke = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "message", "revoke", "<cli-revoke@gateway.test>");
        Assert.True(revoke.ExitCode == 0, revoke.StdErr);
        Assert.Contains($"revoked {stored.ProtectedId}", revoke.StdOut);

        using (var client = await ConnectAsync(Bob))
        {
            var shown = Encoding.UTF8.GetString(await BodyAsync(client, new UniqueId(stored.Uid)));
            Assert.Contains("revoked", shown);
            await client.DisconnectAsync(true);
        }
        var show = await GatewayProcess.RunCliAsync(_gw.DataDirectory, null, "message", "show", stored.ProtectedId!);
        Assert.True(show.ExitCode == 0, show.StdErr);
        Assert.Contains("revoked ", show.StdOut);
        Assert.Contains($"{Bob}\trefused\trefused: the sender revoked it", show.StdOut);
    }

    [Fact]
    public async Task Swaks_submits_and_curl_reads_the_exact_message_while_the_mailbox_holds_only_ciphertext()
    {
        ExternalTool.Require("swaks");
        ExternalTool.Require("curl");
        var body = "Swaks body, vault code 4711-swaks.";
        var before = BobsInbox().Count;
        var r = await ExternalTool.RunAsync("swaks", new[]
        {
            "--server", $"127.0.0.1:{_gw.SubmissionPort}", "--tls", "--auth", "PLAIN", "--auth-user", Alice, "--auth-password", Password,
            "--from", Alice, "--to", Bob, "--header", "Subject: swaks split", "--header", "Message-Id: <swaks-split@gateway.test>", "--body", body,
        });
        Assert.True(r.ExitCode == 0, r.All);
        var stored = await WaitForNextAsync(before);
        Assert.NotNull(stored.ProtectedId);
        Assert.DoesNotContain("4711-swaks", await new StreamReader(_gw.MailStore.OpenContent(stored)).ReadToEndAsync());

        var fetch = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--user", $"{Bob}:{Password}", $"imaps://127.0.0.1:{_gw.ImapsPort}/INBOX;UID={stored.Uid}" });
        Assert.True(fetch.ExitCode == 0, fetch.All);
        // What swaks sent, after the submission server's Received: line: its headers and body as they were.
        Assert.StartsWith("Received: ", fetch.StdOut);
        Assert.Contains("Subject: swaks split", fetch.StdOut);
        Assert.Contains("Message-Id: <swaks-split@gateway.test>", fetch.StdOut);
        Assert.Contains(body, fetch.StdOut);
        Assert.Contains("X-Mailer: swaks", fetch.StdOut);
    }
}
