using Gateway.Crypto;
using Gateway.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Crypto;

/// <summary>Signed mail arriving for a local user teaches the courier the signer's certificate.</summary>
public class HarvestTests
{
    [Fact]
    public async Task Signers_of_incoming_mail_are_harvested_trusted_only_when_they_chain_to_our_network()
    {
        // This test sets up the courier CA itself.
        await using var gw = await TestGateway.StartAsync(o => o.Courier.CreateRootOnFirstStart = false);
        gw.AddUser("alice@gateway.test", "alice-password");
        var services = gw.App.Services;
        var authority = services.GetRequiredService<CourierAuthority>();
        authority.InitRoot("mx.gateway.test", KeyAlgorithm.EcP256);
        var directory = services.GetRequiredService<CertificateDirectory>();

        // A correspondent in our network (certificate from our CA) and a stranger (self-made CA).
        var insiderKeys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var insiderCert = new CertificateAuthority(authority.Certificate!, services.GetRequiredService<KeyStore>().GetPrivateKey(CourierAuthority.CaKeyId))
            .IssueUser(insiderKeys.Public, "insider@gateway.test", TimeSpan.FromDays(30));
        var strangerNetwork = new PkiHierarchy();
        var strangerKeys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var strangerCert = strangerNetwork.Public.IssueUser(strangerKeys.Public, "stranger@elsewhere.example", TimeSpan.FromDays(30));
        directory.AddCrl(authority.CurrentCrl());

        foreach (var (address, cert, key) in new[] { ("insider@gateway.test", insiderCert, insiderKeys.Private), ("stranger@elsewhere.example", strangerCert, strangerKeys.Private) })
        {
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse(address));
            message.To.Add(MailboxAddress.Parse("alice@gateway.test"));
            message.Subject = "signed by " + address;
            using var signingContext = new TemporarySecureMimeContext();
            message.Body = MultipartSigned.Create(signingContext, new CmsSigner(cert, key), new TextPart("plain") { Text = "hello" });
            var raw = message.ToString().Replace("\r\n", "\n").Replace("\n", "\r\n");
            await using var c = await SmtpWire.ConnectAsync(gw.DeliveryPort);
            await c.HelloAsync();
            await c.CommandAsync($"MAIL FROM:<{address}>");
            await c.CommandAsync("RCPT TO:<alice@gateway.test>");
            await c.CommandAsync("DATA");
            Assert.Equal(250, (await c.CommandAsync(raw.Replace("\r\n.", "\r\n..") + "\r\n.")).Code);
        }
        await gw.WaitForMailAsync("alice@gateway.test", 2);

        var entries = directory.Entries();
        var insider = entries.Single(e => e.Addresses.Contains("insider@gateway.test"));
        var stranger = entries.Single(e => e.Addresses.Contains("stranger@elsewhere.example"));
        Assert.Equal("harvested", insider.Source);
        Assert.True(insider.Approved);   // chains to our root, not revoked
        Assert.False(stranger.Approved); // waits for an admin
        Assert.True(directory.Approve(stranger.Id[..16]));
        Assert.True(directory.Entries().Single(e => e.Id == stranger.Id).Approved);
    }
}
