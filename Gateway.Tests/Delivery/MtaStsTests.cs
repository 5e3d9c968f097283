using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gateway.Configuration;
using Gateway.Delivery;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Delivery;

/// <summary>
/// MTA-STS (RFC 8461) for mail sent by MX: the recipient domain's TXT record and HTTPS policy (served here by a small
/// HTTPS server with a certificate from a test authority the gateway is told to trust) decide where and how mail may
/// go. Enforced: only the MX hosts the policy names, over TLS with a certificate valid for the MX name, or the message
/// waits; testing: delivered as usual.
/// </summary>
public sealed class MtaStsTests
{
    const string Alice = "alice@gateway.test";
    const string Password = "alice-password";

    [Theory]
    [InlineData("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n", MtaStsMode.Enforce, 2)]
    [InlineData("version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 604800\n", MtaStsMode.Testing, 1)]
    [InlineData("version: STSv1\nmode: none\nmax_age: 60\n", MtaStsMode.None, 0)]
    public void Policies_parse(string text, MtaStsMode mode, int patterns)
    {
        var policy = MtaStsPolicy.Parse(text, "id1", DateTimeOffset.UnixEpoch)!;
        Assert.Equal(mode, policy.Mode);
        Assert.Equal(patterns, policy.Mx.Count);
    }

    [Theory]
    [InlineData("mode: enforce\nmx: a.example\nmax_age: 60\n")]                      // no version
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 60\n")]
    [InlineData("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 60\n")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 60\n")]                      // enforce without mx
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\n")]                    // no max_age
    [InlineData("<html>not a policy</html>")]
    public void Invalid_policies_are_no_policy(string text) => Assert.Null(MtaStsPolicy.Parse(text, "id1", DateTimeOffset.UnixEpoch));

    [Fact]
    public void Mx_patterns_match_the_name_or_one_leftmost_label_and_txt_records_name_their_id()
    {
        var policy = MtaStsPolicy.Parse("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400\n", "x", DateTimeOffset.UnixEpoch)!;
        Assert.True(policy.Allows("MAIL.example.com."));
        Assert.True(policy.Allows("mx1.example.net"));
        Assert.False(policy.Allows("example.net"));
        Assert.False(policy.Allows("a.b.example.net"));
        Assert.False(policy.Allows("evil-mail.example.com"));
        Assert.Equal("20260101", MtaStsPolicy.IdOfRecord("v=STSv1; id=20260101;"));
        Assert.Null(MtaStsPolicy.IdOfRecord("v=STSv2; id=1"));
        Assert.Null(MtaStsPolicy.IdOfRecord("v=STSv1;"));
        Assert.Null(MtaStsPolicy.IdOfRecord("v=STSv1; id=has space"));
    }

    /// <summary>Serves one policy at /.well-known/mta-sts.txt over HTTPS (HTTP/1.1, one request per connection).</summary>
    sealed class PolicyServer : IAsyncDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly CancellationTokenSource _stop = new();
        readonly Task _serving;
        public int Port { get; }
        public int Requests;

        public PolicyServer(X509Certificate2 certificate, string policy)
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _serving = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                    catch { return; }
                    _ = Task.Run(async () =>
                    {
                        using var _ = client;
                        try
                        {
                            await using var ssl = new SslStream(client.GetStream());
                            await ssl.AuthenticateAsServerAsync(certificate);
                            var reader = new StreamReader(ssl, Encoding.ASCII);
                            var requestLine = await reader.ReadLineAsync() ?? "";
                            while (!string.IsNullOrEmpty(await reader.ReadLineAsync())) { }
                            Interlocked.Increment(ref Requests);
                            var found = requestLine.StartsWith("GET /.well-known/mta-sts.txt ", StringComparison.Ordinal);
                            var body = found ? policy : "not found";
                            var head = $"HTTP/1.1 {(found ? "200 OK" : "404 Not Found")}\r\nContent-Type: text/plain\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n";
                            await ssl.WriteAsync(Encoding.UTF8.GetBytes(head + body));
                        }
                        catch (Exception) { /* a client that went away */ }
                    });
                }
            });
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            try { await _serving; } catch { }
        }
    }

    sealed record Setup(TestAuthority Authority, TestDnsServer Dns, ScriptedSmtpServer Mx, PolicyServer Policy, TestGateway Gateway) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Policy.DisposeAsync();
            await Mx.DisposeAsync();
            await Dns.DisposeAsync();
            Authority.Dispose();
        }
    }

    /// <summary>sts.test: MX mx.sts.test (a scripted server with <paramref name="mxCertificateFor"/>'s certificate, or a
    /// self-signed one), the given policy at mta-sts.sts.test, the authority trusted by the gateway.</summary>
    static async Task<Setup> StartAsync(string policy, string? mxCertificateFor = "mx.sts.test")
    {
        var authority = new TestAuthority();
        var mx = new ScriptedSmtpServer();
        if (mxCertificateFor is not null) mx.ServerCertificate = authority.Issue(mxCertificateFor);
        var server = new PolicyServer(authority.Issue("mta-sts.sts.test"), policy);
        var dns = new TestDnsServer()
            .AddMx("sts.test", 10, "mx.sts.test").AddA("mx.sts.test", "127.0.0.1")
            .AddA("mta-sts.sts.test", "127.0.0.1").AddTxt("_mta-sts.sts.test", "v=STSv1; id=20261125;");
        var anchors = authority.WritePem(TempDirectory.Create("mta-sts"));
        var gateway = await TestGateway.StartAsync(o =>
        {
            o.Delivery.DnsServers = new() { $"127.0.0.1:{dns.Port}" };
            o.Delivery.MxPort = mx.Port;
            o.Delivery.MtaStsPolicyPort = server.Port;
            o.Delivery.TrustedCertificatesPath = anchors;
            o.Delivery.Tls = OutboundTls.Opportunistic;
        });
        gateway.AddUser(Alice, Password);
        return new Setup(authority, dns, mx, server, gateway);
    }

    static string Message(string subject) => $"From: {Alice}\r\nTo: bob@sts.test\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nbody of {subject}\r\n";

    [Fact]
    public async Task Under_an_enforced_policy_mail_goes_over_verified_tls_to_a_named_mx()
    {
        await using var s = await StartAsync("version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n");
        Assert.Equal(250, (await s.Gateway.SubmitAsync(Alice, Password, Alice, new[] { "bob@sts.test" }, Message("enforced"))).Code);
        var received = await s.Mx.WaitForMessageAsync(30);
        Assert.Contains("body of enforced", received.Text);
        Assert.True(s.Mx.MessagesOverTls.TryDequeue(out var overTls) && overTls);
        Assert.Equal(1, s.Policy.Requests);
        // The policy is cached: the next message does not fetch it again.
        Assert.Equal(250, (await s.Gateway.SubmitAsync(Alice, Password, Alice, new[] { "bob@sts.test" }, Message("cached"))).Code);
        await s.Mx.WaitForMessageAsync(30);
        Assert.Equal(1, s.Policy.Requests);
    }

    [Fact]
    public async Task Under_an_enforced_policy_an_mx_it_does_not_name_gets_nothing_and_the_mail_waits()
    {
        await using var s = await StartAsync("version: STSv1\nmode: enforce\nmx: mail.sts.test\nmax_age: 86400\n");
        Assert.Equal(250, (await s.Gateway.SubmitAsync(Alice, Password, Alice, new[] { "bob@sts.test" }, Message("wrong mx"))).Code);
        await WaitForDiagnosticAsync(s.Gateway, "MTA-STS: no MX host of sts.test");
        Assert.Empty(s.Mx.Messages);
    }

    [Fact]
    public async Task Under_an_enforced_policy_an_mx_whose_certificate_does_not_verify_gets_nothing_in_clear()
    {
        await using var s = await StartAsync("version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n", mxCertificateFor: null);
        Assert.Equal(250, (await s.Gateway.SubmitAsync(Alice, Password, Alice, new[] { "bob@sts.test" }, Message("self-signed mx"))).Code);
        await WaitForDiagnosticAsync(s.Gateway, "SSL or TLS connection"); // the handshake failed: verification is required
        Assert.Empty(s.Mx.Messages);
    }

    [Fact]
    public async Task A_testing_policy_is_only_reported_and_mail_is_delivered_as_usual()
    {
        await using var s = await StartAsync("version: STSv1\nmode: testing\nmx: mail.sts.test\nmax_age: 86400\n", mxCertificateFor: null);
        Assert.Equal(250, (await s.Gateway.SubmitAsync(Alice, Password, Alice, new[] { "bob@sts.test" }, Message("testing"))).Code);
        Assert.Contains("body of testing", (await s.Mx.WaitForMessageAsync(30)).Text);
        Assert.Equal(1, s.Policy.Requests);
    }

    /// <summary>Waits until the queued message's recipient has been tried and deferred with a diagnostic containing <paramref name="text"/>.</summary>
    static async Task WaitForDiagnosticAsync(TestGateway gateway, string text)
    {
        var queue = gateway.App.Services.GetRequiredService<Gateway.Queue.MessageQueue>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var pending = queue.List().SelectMany(m => m.Recipients).FirstOrDefault(r => r.Attempts > 0);
            if (pending is not null)
            {
                Assert.Equal(Gateway.Queue.RecipientState.Pending, pending.State);
                Assert.StartsWith("4.", pending.Status);
                Assert.Contains(text, pending.Diagnostic);
                return;
            }
            await Task.Delay(200);
        }
        Assert.Fail("the message was not tried within 30 s");
    }
}
