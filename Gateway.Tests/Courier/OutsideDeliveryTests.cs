using System.Text;
using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Tests.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.OpenSsl;

namespace Gateway.Tests.Courier;

/// <summary>
/// A local user's mail to recipients outside (no courier serves them) leaves only as the outside policy says: S/MIME
/// to an approved certificate (openssl opens it), plain over TLS that succeeded, or held and bounced; never in the
/// clear over an unencrypted connection.
/// </summary>
public sealed class OutsideDeliveryTests
{
    const string Alice = "alice@gateway.test";
    const string Password = "outside-secret-5";

    static async Task<TestGateway> StartAsync(ScriptedSmtpServer sink, Action<GatewayOptions>? configure = null)
    {
        var gw = await TestGateway.StartAsync(o =>
        {
            foreach (var domain in new[] { "outside.test", "held.test", "strict.test" })
                o.Routes.Add(new RouteOptions { Domain = domain, Host = "127.0.0.1", Port = sink.Port });
            configure?.Invoke(o);
        });
        gw.AddUser(Alice, Password);
        return gw;
    }

    static string Message(string to, string tag) =>
        $"From: {Alice}\r\nTo: {to}\r\nSubject: outside {tag}\r\nMessage-ID: <{tag}@gateway.test>\r\n\r\nThe vault code is 4711-{tag}.\r\n";

    [Fact]
    public async Task With_an_approved_certificate_the_message_leaves_signed_and_encrypted_and_openssl_opens_it()
    {
        ExternalTool.Require("openssl");
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await StartAsync(sink);
        var carol = ApprovedCarol(gw);

        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "carol@outside.test" }, Message("carol@outside.test", "smime"))).Code);
        var received = await sink.WaitForMessageAsync(30);
        Assert.DoesNotContain("vault code", received.Text);
        Assert.Contains("application/pkcs7-mime", received.Text);
        Assert.Contains("Subject: outside smime", received.Text); // the envelope headers stay readable, as with any S/MIME mail
        Assert.Contains("The vault code is 4711-smime.", await OpenWithOpensslAsync(received, carol));
    }

    /// <summary>carol@outside.test with a certificate from another network's CA, approved here; and her key.</summary>
    static (Org.BouncyCastle.X509.X509Certificate Certificate, Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Keys) ApprovedCarol(TestGateway gw)
    {
        var keys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var carol = new PkiHierarchy().Private.IssueUser(keys.Public, "carol@outside.test", TimeSpan.FromDays(30));
        gw.App.Services.GetRequiredService<CertificateDirectory>().Add(carol, "harvested", approved: true);
        return (carol, keys);
    }

    /// <summary>What carol reads: openssl decrypts the mail with her key and checks the signature inside.</summary>
    static async Task<string> OpenWithOpensslAsync(ScriptedMessage received,
        (Org.BouncyCastle.X509.X509Certificate Certificate, Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Keys) carol)
    {
        var dir = TempDirectory.Create("outside-smime");
        await File.WriteAllBytesAsync(Path.Combine(dir, "mail.eml"), received.Data);
        await File.WriteAllTextAsync(Path.Combine(dir, "carol.pem"), CourierAuthority.Pem(carol.Certificate));
        await File.WriteAllTextAsync(Path.Combine(dir, "carol.key"), CourierAuthority.Pem(new Pkcs8Generator(carol.Keys.Private)));
        var decrypt = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-in", Path.Combine(dir, "mail.eml"), "-recip", Path.Combine(dir, "carol.pem"),
            "-inkey", Path.Combine(dir, "carol.key"), "-out", Path.Combine(dir, "signed.eml") });
        Assert.True(decrypt.ExitCode == 0, decrypt.StdErr);
        // Signed by alice's certificate from this courier's CA (not in carol's trust store here: -noverify checks the signature only).
        var verify = await ExternalTool.RunAsync("openssl", new[] { "cms", "-verify", "-noverify", "-in", Path.Combine(dir, "signed.eml"), "-out", Path.Combine(dir, "inner.eml") });
        Assert.True(verify.ExitCode == 0, verify.StdErr);
        return await File.ReadAllTextAsync(Path.Combine(dir, "inner.eml"));
    }

    [Fact]
    public async Task A_message_larger_than_a_working_copy_in_memory_leaves_signed_and_encrypted_whole()
    {
        // Over ScratchSpace.InMemoryBytes the S/MIME layers live in sealed scratch files, which must stay open until
        // the relay has sent the message (they were closed with the S/MIME context before it was sent).
        ExternalTool.Require("openssl");
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await StartAsync(sink);
        var carol = ApprovedCarol(gw);
        var line = new string('x', 76) + "\r\n";
        var body = new StringBuilder();
        while (body.Length < 3 * Gateway.Sealing.ScratchSpace.InMemoryBytes) body.Append(line);
        var text = $"From: {Alice}\r\nTo: carol@outside.test\r\nSubject: outside large\r\nMessage-ID: <large@gateway.test>\r\n\r\n" +
            $"The vault code is 4711-large.\r\n{body}The end 4711-large.\r\n";

        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "carol@outside.test" }, text)).Code);
        var received = await sink.WaitForMessageAsync(60);
        Assert.Contains("application/pkcs7-mime", received.Text);
        var inner = await OpenWithOpensslAsync(received, carol);
        Assert.Contains("The vault code is 4711-large.", inner);
        Assert.Contains("The end 4711-large.", inner);
    }

    [Fact]
    public async Task Without_a_certificate_it_goes_plain_only_over_tls_and_waits_when_the_peer_has_none()
    {
        await using var noTls = new ScriptedSmtpServer { AdvertiseStartTls = false };
        await using (var gw = await StartAsync(noTls))
        {
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "dave@outside.test" }, Message("dave@outside.test", "no-tls"))).Code);
            await Task.Delay(4000); // several attempts (retries every 1-2 s in tests)
            Assert.True(noTls.Connections > 0);
            Assert.Empty(noTls.Messages);
            Assert.DoesNotContain(noTls.Commands, c => c.StartsWith("DATA", StringComparison.OrdinalIgnoreCase));
            Assert.Equal(1, gw.QueuedMessageCount());
        }

        await using var withTls = new ScriptedSmtpServer();
        await using var gw2 = await StartAsync(withTls);
        Assert.Equal(250, (await gw2.SubmitAsync(Alice, Password, Alice, new[] { "dave@outside.test" }, Message("dave@outside.test", "tls"))).Code);
        var received = await withTls.WaitForMessageAsync(30);
        Assert.Contains("The vault code is 4711-tls.", received.Text);
        Assert.True(withTls.MessagesOverTls.Single());
    }

    [Fact]
    public async Task The_gateways_own_header_fields_never_leave_with_a_users_mail()
    {
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await StartAsync(sink);
        var message = $"From: {Alice}\r\nTo: erin@outside.test\r\nSubject: outside hygiene\r\nX-Gateway-Max-Opens: 1\r\n" +
                      "X-Gateway-No-Forward: yes\r\nx-gateway-expires: 1d\r\nX-Gateway-Receipt: yes\r\nX-Mailer: kept\r\n\r\nThe body.\r\n";
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "erin@outside.test" }, message)).Code);
        var received = await sink.WaitForMessageAsync(30);
        Assert.DoesNotContain("x-gateway-", received.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Mailer: kept", received.Text);
        Assert.Contains("The body.", received.Text);
    }

    [Fact]
    public async Task Held_domains_and_smime_only_domains_without_a_certificate_are_bounced_with_the_reason()
    {
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await StartAsync(sink, o =>
        {
            o.Courier.OutsideDomains["held.test"] = OutsideDelivery.Hold;
            o.Courier.OutsideDomains["strict.test"] = OutsideDelivery.Smime;
            o.Delivery.MaxQueueAgeSeconds = 3;
        });
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "erin@held.test", "frank@strict.test" },
            Message("erin@held.test", "held"))).Code);
        // One report or two (the recipients expire in the same attempt or not), each recipient with its reason.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var bounces = "";
        while (DateTime.UtcNow < deadline && !(bounces.Contains("mail to held.test is not sent outside") && bounces.Contains("no approved certificate for <frank@strict.test>")))
        {
            await Task.Delay(200);
            bounces = string.Join("\n", gw.ReadableMail(Alice)!.Where(m => m.Contains("Undelivered Mail Returned to Sender")));
        }
        Assert.Contains("held by policy: mail to held.test is not sent outside", bounces);
        Assert.Contains("no approved certificate for <frank@strict.test>", bounces);
        Assert.Empty(sink.Messages);
        Assert.DoesNotContain(sink.Commands, c => c.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase));
    }
}
