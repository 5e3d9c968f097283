using System.Net;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Smtp;
using Gateway.Tests.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Tests.Courier;

/// <summary>
/// What the Foreground and Background do with parts that are not what they claim (forged, re-keyed, replayed) and
/// with parts for recipients who are not local users: rejected and reported, or held and released, never stored wrongly.
/// </summary>
public sealed class PartCheckTests : IAsyncLifetime
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Carol = "carol@gateway.test";
    const string Password = "part-checks-5";
    TestGateway _gw = null!;

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync(o =>
        {
            o.Courier.PendingCheckSeconds = 1;
            o.Courier.PendingDays = 20.0 / 86400; // 20 s
        });
        _gw.AddUser(Alice, Password);
        _gw.AddUser(Bob, Password);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    T Service<T>() where T : notnull => _gw.App.Services.GetRequiredService<T>();
    string ElementDirectory(string element, string sub) => Path.Combine(_gw.DataDirectory, element, sub);

    /// <summary>Builds a content part and an ARM as an Agent would, with a chosen signer and key id, sealed to this courier's elements.</summary>
    (byte[] Content, byte[] Arm) Forge(string id, string sender, string[] recipients, CmsSigner signer, string? keyedTo = null)
    {
        var identity = Service<CourierIdentity>();
        using var context = new CourierSecureMimeContext(ScopedKeyRing.Agent(Service<KeyStore>()), Service<CertificateDirectory>());
        var original = System.Text.Encoding.UTF8.GetBytes($"From: {sender}\r\nTo: {recipients[0]}\r\nSubject: forged\r\nMessage-ID: <{id}@forge.test>\r\n\r\nforged body {id}\r\n");
        var cek = ContentPart.NewCek();
        var sealedContent = ContentPart.Seal(original, keyedTo ?? id, cek);
        var manifest = new ContentManifest { MessageId = id, Sender = sender, Recipients = recipients, Headers = new[] { KeyValuePair.Create("Message-ID", $"<{id}@forge.test>") } };
        var arm = new AccessRestrictionsMessage
        {
            MessageId = id, InternetMessageId = $"<{id}@forge.test>", Cek = cek, ContentDigest = ContentPart.Digest(sealedContent), Sender = sender,
            Recipients = recipients, CreatedUtc = DateTimeOffset.UtcNow, Restrictions = new AccessRestrictions(),
        };
        var content = CourierMime.Message(sender, identity.ElementAddress(CourierElement.Foreground)!, "Content " + id,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Foreground)!, new Multipart("mixed")
            {
                CourierMime.Part(ContentManifest.MediaType, manifest.ToJson()),
                CourierMime.Part("application/pkcs7-mime", sealedContent, "content.p7m"),
            }));
        var armMessage = CourierMime.Message(sender, identity.ElementAddress(CourierElement.Background)!, "ARM " + id,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Background)!, arm.ToEntity()));
        return (CourierMime.Bytes(content), CourierMime.Bytes(armMessage));
    }

    CmsSigner UserSigner(string address)
    {
        var keys = Service<KeyStore>();
        if (keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address)) is null) Service<CourierAuthority>().IssueUser(address, KeyAlgorithm.EcP256);
        return PartEnvelope.Signer(keys, CourierSecureMimeContext.UserKeyId(address));
    }

    async Task<string> ReportAsync(string containing)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var report = (_gw.ReadableMail(Alice) ?? Array.Empty<string>()).FirstOrDefault(m => m.Contains("Undelivered Mail Returned to Sender") && m.Contains(containing));
            if (report is not null) return report;
            await Task.Delay(100);
        }
        throw new TimeoutException($"no delivery report mentioning {containing} reached {Alice}");
    }

    async Task WaitUntilRejectedAsync(string element, string id)
    {
        var path = Path.Combine(ElementDirectory(element, "inbox"), "rejected", id + ".part");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(path))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{element} did not reject {id}");
            await Task.Delay(50);
        }
    }

    bool StoredFor(string user, string id) =>
        _gw.MailStore.Messages(_gw.MailStore.Find(user, "INBOX")!.Id).Any(m => m.ProtectedId == id)
        || Service<BackgroundStore>().ArmsOf(id).Count > 0;

    [Fact]
    public async Task A_part_signed_outside_this_network_is_rejected_and_the_named_sender_told()
    {
        var foreign = new PkiHierarchy(); // another network's root: alice's name, a certificate nobody here trusts
        var keys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var certificate = foreign.Root.IssueUser(keys.Public, Alice, TimeSpan.FromDays(30));
        var signer = new CmsSigner(new[] { certificate }, keys.Private) { DigestAlgorithm = DigestAlgorithm.Sha256 };
        var (content, arm) = Forge("forged-signer-1", Alice, new[] { Bob }, signer);
        Service<BackgroundElement>().Inbox.Put("forged-signer-1", arm);
        Service<ForegroundElement>().Inbox.Put("forged-signer-1", content);

        await WaitUntilRejectedAsync("foreground", "forged-signer-1");
        await WaitUntilRejectedAsync("background", "forged-signer-1");
        var report = await ReportAsync("forged-signer-1@forge.test");
        Assert.Contains("Status: 5.7.7", report);
        Assert.Contains("not trusted", report);
        Assert.False(StoredFor(Bob, "forged-signer-1"));
    }

    [Fact]
    public async Task A_content_part_keyed_to_another_message_is_rejected_and_reported()
    {
        var (content, _) = Forge("rekeyed-1", Alice, new[] { Bob }, UserSigner(Alice), keyedTo: "some-other-message");
        Service<ForegroundElement>().Inbox.Put("rekeyed-1", content);
        await WaitUntilRejectedAsync("foreground", "rekeyed-1");
        var report = await ReportAsync("rekeyed-1@forge.test");
        Assert.Contains("the content is keyed to some-other-message", report);
        Assert.False(StoredFor(Bob, "rekeyed-1"));
    }

    [Fact]
    public async Task An_arm_replayed_under_another_message_id_is_rejected_and_the_first_message_is_untouched()
    {
        UserSigner(Bob); // bob's certificate, which the Agent would have issued on submission
        var (content, arm) = Forge("genuine-1", Alice, new[] { Bob }, UserSigner(Alice));
        Service<BackgroundElement>().Inbox.Put("genuine-1", arm);
        Service<ForegroundElement>().Inbox.Put("genuine-1", content);
        await _gw.WaitForMailAsync(Bob, 1);

        // The same signed ARM handed in again as the key of a different message.
        Service<BackgroundElement>().Inbox.Put("replayed-1", arm);
        await WaitUntilRejectedAsync("background", "replayed-1");
        var report = await ReportAsync("the ARM in part replayed-1 is for message genuine-1");
        Assert.Contains("Status: 5.7.7", report);
        Assert.Empty(Service<BackgroundStore>().ArmsOf("replayed-1"));
        Assert.Single(Service<BackgroundStore>().ArmsOf("genuine-1"));
    }

    [Fact]
    public async Task A_part_signed_by_someone_else_than_its_sender_is_rejected_without_telling_the_named_sender()
    {
        _gw.AddUser(Carol, Password);
        var (content, _) = Forge("impostor-1", Alice, new[] { Bob }, UserSigner(Carol));
        Service<ForegroundElement>().Inbox.Put("impostor-1", content);
        await WaitUntilRejectedAsync("foreground", "impostor-1");
        await Task.Delay(1000);
        // Carol signed it, so alice did not send it: no report to alice (and none to carol, who claimed to be alice).
        Assert.DoesNotContain(_gw.ReadableMail(Alice)!, m => m.Contains("impostor-1"));
        Assert.False(StoredFor(Bob, "impostor-1"));
    }

    static SmtpMailbox Mailbox(string address) => SmtpMailbox.TryParse(address, out var m) ? m : throw new FormatException(address);

    async Task SubmitAcceptedAsync(string subject, params string[] to)
    {
        // As the submission server would have accepted it from alice, before one recipient's account went away.
        await using var spool = _gw.Queue.CreateSpool();
        var text = $"From: {Alice}\r\nTo: {string.Join(", ", to)}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@gateway.test>\r\n\r\nheld for a while: {subject}\r\n";
        await spool.Content.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        await spool.CommitAsync(new SmtpEnvelope
        {
            Sender = Mailbox(Alice),
            Recipients = to.Select(r => new SmtpRecipient(Mailbox(r), DsnNotify.None, null)).ToList(),
            PrependedHeaders = "",
            Size = text.Length,
            Session = new SmtpSessionInfo { SessionId = "test", ListenerName = "submission", Role = Configuration.ListenerRole.Submission, RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 1), AuthenticatedUser = Alice },
        }, CancellationToken.None);
    }

    [Fact]
    public async Task Parts_for_a_missing_user_are_held_and_released_when_the_account_appears()
    {
        await SubmitAcceptedAsync("held-then-released", Bob, Carol);
        Assert.Contains(await _gw.WaitForMailAsync(Bob, 1), m => m.Contains("held for a while: held-then-released"));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Directory.GetFiles(ElementDirectory("foreground", "pending"), "*.json").Length == 0 || Directory.GetFiles(ElementDirectory("background", "pending"), "*.json").Length == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the parts for carol were not held");
            await Task.Delay(50);
        }

        _gw.AddUser(Carol, Password);
        var mail = await _gw.WaitForMailAsync(Carol, 1, 30);
        Assert.Contains("held for a while: held-then-released", mail[0]);
        // Each element removes a held part after it has handed it on: the mail can show a moment before the removal.
        deadline = DateTime.UtcNow.AddSeconds(10);
        while ((Directory.GetFiles(ElementDirectory("foreground", "pending")).Length > 0 || Directory.GetFiles(ElementDirectory("background", "pending")).Length > 0)
               && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(ElementDirectory("foreground", "pending")));
        Assert.Empty(Directory.GetFiles(ElementDirectory("background", "pending")));
        Assert.DoesNotContain(_gw.ReadableMail(Alice)!, m => m.Contains("Undelivered"));
    }

    [Fact]
    public async Task Parts_held_too_long_are_dropped_and_the_sender_gets_one_report()
    {
        await SubmitAcceptedAsync("never-claimed", Bob, "dave@gateway.test");
        await _gw.WaitForMailAsync(Bob, 1);
        var report = await ReportAsync("never-claimed@gateway.test");
        Assert.Contains("Final-Recipient: rfc822; dave@gateway.test", report);
        Assert.Contains("Status: 5.1.1", report);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Directory.GetFiles(ElementDirectory("foreground", "pending")).Length + Directory.GetFiles(ElementDirectory("background", "pending")).Length > 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("held parts were not dropped");
            await Task.Delay(100);
        }
        await Task.Delay(1500);
        Assert.Single(_gw.ReadableMail(Alice)!, m => m.Contains("never-claimed@gateway.test") && m.Contains("Undelivered"));
    }
}
