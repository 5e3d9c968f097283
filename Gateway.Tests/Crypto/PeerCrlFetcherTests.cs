using System.Net;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Org.BouncyCastle.Math;

namespace Gateway.Tests.Crypto;

/// <summary>
/// Peer CRLs fetched while certificates are checked: several checks at once (a Foreground and a Background checking
/// the two parts of one message) each see the CRLs the fetches brought, whichever fetch stored them.
/// </summary>
public class PeerCrlFetcherTests
{
    [Fact]
    public async Task Checks_running_at_once_all_see_the_peer_crls_their_fetches_brought()
    {
        var port = Ports.Free(1)[0];
        var rootKeys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var root = CertificateAuthority.CreateRoot(rootKeys, "crlrace.test", TimeSpan.FromDays(30));
        var rootAuthority = new CertificateAuthority(root, rootKeys.Private, $"http://127.0.0.1:{port}/root.crl");
        var subKeys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var sub = rootAuthority.SignSubordinate(CertificateAuthority.CreateRequest(subKeys, "sub.crlrace.test"), CourierRole.Public, Array.Empty<string>(), TimeSpan.FromDays(30));
        var subAuthority = new CertificateAuthority(sub, subKeys.Private, $"http://127.0.0.1:{port}/sub.crl");
        var user = subAuthority.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "someone@sub.crlrace.test", TimeSpan.FromDays(30));

        // A CRL server that, like a courier, makes a new CRL (new number) for every request, and takes its time.
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var serving = Task.Run(async () =>
        {
            while (server.IsListening)
            {
                HttpListenerContext request;
                try { request = await server.GetContextAsync(); } catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    await Task.Delay(Random.Shared.Next(20, 120));
                    var authority = request.Request.Url!.AbsolutePath == "/root.crl" ? rootAuthority : subAuthority;
                    var now = DateTime.UtcNow;
                    var der = authority.CreateCrl(Array.Empty<(BigInteger, DateTime)>(), BigInteger.ValueOf(now.Ticks), now.AddMinutes(-5), now.AddDays(7)).GetEncoded();
                    request.Response.ContentType = "application/pkix-crl";
                    await request.Response.OutputStream.WriteAsync(der);
                    request.Response.Close();
                });
            }
        });

        var data = TempDirectory.Create("crl-race");
        using var directory = new CertificateDirectory(Path.Combine(data, "certificates.db"));
        directory.Add(root, "hierarchy", anchor: true);
        directory.Add(sub, "peer");
        using var fetcher = new PeerCrlFetcher(directory, () => null, TimeSpan.FromSeconds(3600), NullLogger<PeerCrlFetcher>.Instance);
        directory.CrlSource = fetcher;
        using var keys = new KeyStore(Path.Combine(data, "keys.db"), MasterKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

        using var start = new ManualResetEventSlim();
        var checks = Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
        {
            start.Wait();
            using var context = new CourierSecureMimeContext(keys, directory);
            return context.ValidateCertificate(user);
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(checks);
        server.Stop();
        await serving;
        Assert.All(results, r => Assert.True(r.IsValid, r.Reason));
    }
}
