using System.Text;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Storage.Mail;
using Gateway.Tests.Support;
using MailKit;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace Gateway.Tests.Courier;

/// <summary>
/// The Foreground never holds a CEK and the Background never holds content: after a message went through the
/// split and was read, every file of each element (and the mailbox store the Foreground fills) and every log line
/// is searched for the other's data: the CEK (raw, hex, base64), the plaintext, the content part's ciphertext.
/// </summary>
public sealed class SeparationTests
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "separation-5";

    static IEnumerable<(string Path, byte[] Bytes)> FilesUnder(params string[] roots) =>
        roots.Where(Directory.Exists).SelectMany(r => Directory.EnumerateFiles(r, "*", SearchOption.AllDirectories))
            .Where(p => !Gateway.Tests.Support.HeldPartAudit.EmptyLock(p)).Select(p => (p, File.ReadAllBytes(p)));

    static bool Holds(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    [Fact]
    public async Task Foreground_files_and_logs_hold_no_cek_and_background_files_and_logs_hold_no_content()
    {
        var logs = new CapturingLoggerProvider();
        await using var gw = await TestGateway.StartAsync(logging: logs.AddTo);
        gw.AddUser(Alice, Password);
        gw.AddUser(Bob, Password);
        var marker = "SEPARATION-" + Guid.NewGuid().ToString("N");
        var subject = "SUBJECT-" + marker;
        var message = $"From: {Alice}\r\nTo: {Bob}\r\nSubject: {subject}\r\nMessage-ID: <{marker}@gateway.test>\r\n\r\nBODY-{marker}\r\n" +
                      string.Concat(Enumerable.Repeat($"filler line so the content spans several blocks {marker}\r\n", 40));
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { Bob }, message)).Code);
        Assert.Contains(await gw.WaitForMailAsync(Bob, 1), m => m.Contains("BODY-" + marker));

        // Bob reads it over IMAP, so the read side has run (and logged) too.
        using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Bob, Password))
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            Assert.Contains("BODY-" + marker, (await client.Inbox.GetMessageAsync(0)).TextBody);
            await client.DisconnectAsync(true);
        }

        // What bob's Agent sees: the CEK from the ARM and the content part's ciphertext.
        var services = gw.App.Services;
        var stored = gw.MailStore.Messages(gw.MailStore.Find(Bob, "INBOX")!.Id).Single();
        using var bob = new CourierSecureMimeContext(ScopedKeyRing.Agent(services.GetRequiredService<KeyStore>()), services.GetRequiredService<CertificateDirectory>());
        var contentPart = CourierMime.Decode(ForegroundElement.Read(PartEnvelope.Open(bob, MimeMessage.Load(gw.MailStore.OpenContent(stored)).Body, null).Entity).ContentPart);
        var release = (KeyRelease.Released)services.GetRequiredService<BackgroundElement>().Release(stored.ProtectedId!, Bob, ReleasePurpose.Preview);
        var cek = AccessRestrictionsMessage.FromEntity(PartEnvelope.Open(bob, MimeMessage.Load(new MemoryStream(release.SealedArm)).Body, null).Entity).Cek;
        Assert.Equal(32, cek.Length);

        var cekForms = new[] { cek, Encoding.ASCII.GetBytes(Convert.ToHexString(cek)), Encoding.ASCII.GetBytes(Convert.ToHexString(cek).ToLowerInvariant()),
            Encoding.ASCII.GetBytes(Convert.ToBase64String(cek)) };
        var plaintext = new[] { Encoding.UTF8.GetBytes("BODY-" + marker), Encoding.UTF8.GetBytes(subject), Encoding.UTF8.GetBytes("filler line so the content") };
        // Ciphertext of the content part: a raw slice, and a slice of its base64 within one 76-column MIME line.
        var base64 = Convert.ToBase64String(contentPart);
        var contentForms = new[] { contentPart.AsSpan(contentPart.Length / 2, 48).ToArray(), Encoding.ASCII.GetBytes(base64.Substring(76 * 4 + 8, 60)) };

        var data = new Gateway.Platform.DataDirectory(gw.DataDirectory);
        var foreground = FilesUnder(data.ForegroundDirectory, data.MailboxDirectory).ToList();
        var background = FilesUnder(data.BackgroundDirectory).ToList();
        Assert.NotEmpty(foreground);
        Assert.Contains(background, f => f.Path.EndsWith("background.db"));

        foreach (var (path, bytes) in foreground)
        {
            Assert.False(cekForms.Any(c => Holds(bytes, c)), $"the CEK is in a Foreground file: {path}");
            Assert.False(plaintext.Any(p => Holds(bytes, p)), $"plaintext is in a Foreground file: {path}");
        }
        foreach (var (path, bytes) in background)
        {
            Assert.False(cekForms.Any(c => Holds(bytes, c)), $"the CEK is in the clear in a Background file: {path}");
            Assert.False(plaintext.Any(p => Holds(bytes, p)), $"plaintext is in a Background file: {path}");
            Assert.False(contentForms.Any(c => Holds(bytes, c)), $"the content part is in a Background file: {path}");
        }
        // The search sees what these files hold in the clear: both name the message (so the checks above can fail).
        var id = Encoding.UTF8.GetBytes(stored.ProtectedId!);
        Assert.Contains(background, f => Holds(f.Bytes, id));
        Assert.Contains(foreground, f => Holds(f.Bytes, id));

        var lines = logs.Lines.ToList();
        Assert.Contains(lines, l => l.Category.Contains("Foreground"));
        Assert.Contains(lines, l => l.Category.Contains("Background"));
        foreach (var line in lines)
        {
            var text = Encoding.UTF8.GetBytes(line.Text);
            Assert.False(cekForms.Any(c => Holds(text, c)), $"the CEK is in a log line of {line.Category}: {line.Text}");
            Assert.False(plaintext.Any(p => Holds(text, p)), $"plaintext is in a log line of {line.Category}: {line.Text}");
            Assert.False(contentForms.Any(c => Holds(text, c)), $"ciphertext is in a log line of {line.Category}");
        }

        // The Foreground cannot decrypt anything it relays: not the ARM as the Agent seals it for the Background, not
        // the ARM the Background keeps for bob, not what it stored for bob; the content inside needs the CEK it never has.
        var identity = services.GetRequiredService<CourierIdentity>();
        var fullArm = AccessRestrictionsMessage.FromEntity(PartEnvelope.Open(bob, MimeMessage.Load(new MemoryStream(release.SealedArm)).Body, null).Entity);
        using var agent = new CourierSecureMimeContext(ScopedKeyRing.Agent(services.GetRequiredService<KeyStore>()), services.GetRequiredService<CertificateDirectory>());
        var toBackground = PartEnvelope.Seal(agent, PartEnvelope.Signer(ScopedKeyRing.Agent(services.GetRequiredService<KeyStore>()), CourierSecureMimeContext.UserKeyId(Alice)),
            identity.ElementCertificate(CourierElement.Background)!, fullArm.ToEntity());
        using var fgOnly = new CourierSecureMimeContext(ScopedKeyRing.Foreground(services.GetRequiredService<KeyStore>()), services.GetRequiredService<CertificateDirectory>());
        using var bgOnly = new CourierSecureMimeContext(ScopedKeyRing.Background(services.GetRequiredService<KeyStore>()), services.GetRequiredService<CertificateDirectory>());
        Assert.Throws<PartRejectedException>(() => PartEnvelope.Open(fgOnly, toBackground, null));
        Assert.Equal(stored.ProtectedId, AccessRestrictionsMessage.FromEntity(PartEnvelope.Open(bgOnly, toBackground, null).Entity).MessageId); // control
        Assert.Throws<PartRejectedException>(() => PartEnvelope.Open(fgOnly, MimeMessage.Load(new MemoryStream(release.SealedArm)).Body, null));
        Assert.Throws<PartRejectedException>(() => PartEnvelope.Open(fgOnly, MimeMessage.Load(gw.MailStore.OpenContent(stored)).Body, null));
        Assert.ThrowsAny<Exception>(() => ContentPart.Open(contentPart, stored.ProtectedId!, ContentPart.NewCek()));

        // Separate keys in memory: each element's key ring refuses the other's key.
        var keys = services.GetRequiredService<KeyStore>();
        Assert.Throws<KeyStoreException>(() => ScopedKeyRing.Foreground(keys).GetPrivateKey(CourierAuthority.IntroductionKeyId(CourierElement.Background)));
        Assert.Throws<KeyStoreException>(() => ScopedKeyRing.Background(keys).GetPrivateKey(CourierAuthority.IntroductionKeyId(CourierElement.Foreground)));
        Assert.Throws<KeyStoreException>(() => ScopedKeyRing.Foreground(keys).GetPrivateKey(CourierSecureMimeContext.UserKeyId(Bob)));
        Assert.Throws<KeyStoreException>(() => ScopedKeyRing.Background(keys).GetPrivateKey(CourierSecureMimeContext.UserKeyId(Bob)));
    }
}
