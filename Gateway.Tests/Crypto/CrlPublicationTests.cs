using Gateway.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.Asn1.X509;

namespace Gateway.Tests.Crypto;

public class CrlPublicationTests
{
    [Fact]
    public async Task The_crl_is_served_over_https_where_issued_certificates_say_it_is()
    {
        // This test sets up the courier CA itself.
        await using var gw = await TestGateway.StartAsync(o => o.Courier.CreateRootOnFirstStart = false);
        var health = await ExternalTool.RunAsync("curl", new[] { "--silent", "--insecure", "--fail", $"https://127.0.0.1:{gw.HttpsPort}/health" });
        Assert.Equal("ok", health.StdOut.Trim());
        var before = await ExternalTool.RunAsync("curl", new[] { "--silent", "--insecure", "--write-out", "%{http_code}", "--output", "/dev/null", $"https://127.0.0.1:{gw.HttpsPort}/crl/courier.crl" });
        Assert.Equal("404", before.StdOut.Trim()); // no CA yet

        var authority = gw.App.Services.GetRequiredService<CourierAuthority>();
        authority.InitRoot("mx.gateway.test", KeyAlgorithm.EcP256);
        var user = authority.IssueUser("alice@gateway.test", KeyAlgorithm.EcP256);
        authority.Revoke(user.SerialNumber);

        var points = CrlDistPoint.GetInstance(user.GetExtensionValue(X509Extensions.CrlDistributionPoints).GetOctets()).GetDistributionPoints();
        var url = GeneralNames.GetInstance(points.Single().DistributionPointName.Name).GetNames().Single().Name.ToString();
        Assert.Equal($"https://mx.gateway.test:{gw.HttpsPort}/crl/courier.crl", url);

        var dir = TempDirectory.Create("crl");
        var crlFile = Path.Combine(dir, "courier.crl");
        var fetch = await ExternalTool.RunAsync("curl", new[] { "--silent", "--insecure", "--fail", "--output", crlFile, "--resolve", $"mx.gateway.test:{gw.HttpsPort}:127.0.0.1", url });
        Assert.True(fetch.ExitCode == 0, fetch.All);
        var text = await ExternalTool.RunAsync("openssl", new[] { "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text" });
        Assert.True(text.ExitCode == 0, text.All);
        Assert.Contains("Issuer: CN = mx.gateway.test Courier CA", text.StdOut);
        Assert.Contains(user.SerialNumber.ToString(16).ToUpperInvariant(), text.StdOut.Replace(":", "").ToUpperInvariant());
    }
}
