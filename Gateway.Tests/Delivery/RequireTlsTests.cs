using Gateway.Configuration;
using Gateway.Tests.Support;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Tests.Delivery;

/// <summary>
/// REQUIRETLS (RFC 8689): offered only over TLS and refused in clear; a message sent with it is relayed only over TLS
/// with a verified certificate to a next hop that offers REQUIRETLS (and says so again in MAIL FROM), otherwise it is
/// returned to its sender with 5.7.30, never sent another way. Mail without it goes as before.
/// </summary>
public sealed class RequireTlsTests
{
    const string Alice = "alice@gateway.test";
    const string Password = "alice-password";

    static string Message(string subject) => $"From: {Alice}\r\nTo: bob@remote.test\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nbody of {subject}\r\n";

    [Fact]
    public async Task Requiretls_is_offered_only_over_tls_and_refused_in_clear()
    {
        await using var gw = await TestGateway.StartAsync();
        await using var c = await SmtpWire.ConnectAsync(gw.DeliveryPort);
        var ehlo = await c.HelloAsync();
        Assert.DoesNotContain("REQUIRETLS", ehlo.Text);
        var refused = await c.CommandAsync("MAIL FROM:<a@example.org> REQUIRETLS");
        Assert.Equal(530, refused.Code);
        Assert.StartsWith("5.7.10", refused.Text);
        Assert.Equal(220, (await c.CommandAsync("STARTTLS")).Code);
        await c.HandshakeAsync();
        Assert.Contains("REQUIRETLS", (await c.CommandAsync("EHLO client.test")).Text);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.org> REQUIRETLS")).Code);
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal(501, (await c.CommandAsync("MAIL FROM:<a@example.org> REQUIRETLS=YES")).Code); // the parameter takes no value
    }

    static async Task<(TestAuthority Authority, ScriptedSmtpServer NextHop, TestGateway Gateway)> StartAsync(bool offersRequireTls, bool trustedCertificate)
    {
        var authority = new TestAuthority();
        var nextHop = new ScriptedSmtpServer { AdvertiseRequireTls = offersRequireTls };
        if (trustedCertificate) nextHop.ServerCertificate = authority.Issue("localhost");
        var anchors = authority.WritePem(TempDirectory.Create("requiretls"));
        var gateway = await TestGateway.StartAsync(o =>
        {
            o.Routes.Add(new RouteOptions { Domain = "remote.test", Host = "localhost", Port = nextHop.Port });
            o.Delivery.TrustedCertificatesPath = anchors;
            o.Delivery.Tls = OutboundTls.Opportunistic;
            o.Delivery.FirstRetrySeconds = 3600;
            o.Delivery.MaxRetrySeconds = 3600;
        });
        gateway.AddUser(Alice, Password);
        return (authority, nextHop, gateway);
    }

    [Fact]
    public async Task A_requiretls_message_goes_over_verified_tls_to_a_next_hop_that_offers_it_and_says_so()
    {
        var (authority, nextHop, gw) = await StartAsync(offersRequireTls: true, trustedCertificate: true);
        await using (gw) await using (nextHop) using (authority)
        {
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, Message("required"), "REQUIRETLS")).Code);
            var received = await nextHop.WaitForMessageAsync(30);
            Assert.Contains("REQUIRETLS", received.MailFrom);
            Assert.True(nextHop.MessagesOverTls.TryDequeue(out var overTls) && overTls);
        }
    }

    [Fact]
    public async Task A_requiretls_message_is_returned_with_5_7_30_when_the_next_hop_does_not_offer_it()
    {
        var (authority, nextHop, gw) = await StartAsync(offersRequireTls: false, trustedCertificate: true);
        await using (gw) await using (nextHop) using (authority)
        {
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, Message("no support"), "REQUIRETLS")).Code);
            var bounce = (await gw.WaitForMailAsync(Alice, 1, 30)).Single();
            Assert.Contains("5.7.30", bounce);
            Assert.Contains("REQUIRETLS support required", bounce);
            Assert.Empty(nextHop.Messages);
            // The same next hop still takes mail that did not ask for REQUIRETLS.
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, Message("ordinary"))).Code);
            Assert.Contains("body of ordinary", (await nextHop.WaitForMessageAsync(30)).Text);
        }
    }

    [Fact]
    public async Task A_requiretls_message_is_not_sent_to_a_next_hop_whose_certificate_does_not_verify()
    {
        var (authority, nextHop, gw) = await StartAsync(offersRequireTls: true, trustedCertificate: false);
        await using (gw) await using (nextHop) using (authority)
        {
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, Message("unverified"), "REQUIRETLS")).Code);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!gw.Queue.List().Any(m => m.Recipients.Any(r => r.Attempts > 0)) && DateTime.UtcNow < deadline) await Task.Delay(100);
            var tried = Assert.Single(gw.Queue.List()).Recipients.Single();
            Assert.StartsWith("4.", tried.Status);
            Assert.Empty(nextHop.Messages);
        }
    }
}
