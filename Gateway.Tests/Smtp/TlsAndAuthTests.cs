using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

public class TlsAndAuthTests
{
    const string User = "alice@gateway.test";
    const string Password = "alice-password";

    [Fact]
    public async Task Plaintext_pipelined_after_starttls_is_discarded_not_executed()
    {
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser(User, Password);
        await using var c = await SmtpWire.ConnectAsync(gw.DeliveryPort);
        await c.HelloAsync();
        // The injection: commands sent in the same packet as STARTTLS must not run inside the TLS session.
        await c.SendRawAsync("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<alice@gateway.test>\r\n");
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        await c.HandshakeAsync();
        var ehlo = await c.CommandAsync("EHLO client.test");
        Assert.Equal(250, ehlo.Code);
        // Had the injected MAIL run, this RCPT would be accepted; the state was reset instead.
        Assert.Equal(503, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
    }

    [Fact]
    public async Task Starttls_resets_the_session_and_requires_a_new_ehlo()
    {
        await using var gw = await TestGateway.StartAsync();
        await using var c = await SmtpWire.ConnectAsync(gw.DeliveryPort);
        await c.HelloAsync();
        await c.CommandAsync("STARTTLS");
        await c.HandshakeAsync();
        Assert.Equal(503, (await c.CommandAsync("MAIL FROM:<bob@example.org>")).Code);
        Assert.Equal(503, (await c.CommandAsync("STARTTLS")).Code);
    }

    [Fact]
    public async Task Tls_versions_below_1_2_are_refused()
    {
        await using var gw = await TestGateway.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", gw.ImplicitTlsPort);
        using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
#pragma warning disable SYSLIB0039 // deliberately old protocol
        var options = new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = SslProtocols.Tls11 };
#pragma warning restore SYSLIB0039
        await Assert.ThrowsAnyAsync<Exception>(() => ssl.AuthenticateAsClientAsync(options));
    }

    [Fact]
    public async Task Auth_plain_and_login_work_over_tls_and_wrong_passwords_get_535()
    {
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser(User, Password);
        await using (var c = await SmtpWire.ConnectAsync(gw.SubmissionPort))
        {
            await c.HelloAsync(startTls: true);
            var bad = await c.AuthPlainAsync(User, "wrong-password");
            Assert.Equal(535, bad.Code);
            Assert.StartsWith("5.7.8", bad.Text);
            var ok = await c.AuthPlainAsync(User, Password);
            Assert.Equal(235, ok.Code);
            Assert.Equal(503, (await c.AuthPlainAsync(User, Password)).Code);
        }
        await using (var c = await SmtpWire.ConnectAsync(gw.ImplicitTlsPort, implicitTls: true))
        {
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            await c.CommandAsync("EHLO client.test");
            Assert.Equal(334, (await c.CommandAsync("AUTH LOGIN")).Code);
            Assert.Equal(334, (await c.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(User)))).Code);
            Assert.Equal(235, (await c.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(Password)))).Code);
            Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{User}>")).Code);
        }
        await using (var c = await SmtpWire.ConnectAsync(gw.SubmissionPort))
        {
            await c.HelloAsync(startTls: true);
            Assert.Equal(334, (await c.CommandAsync("AUTH PLAIN")).Code);
            Assert.Equal(501, (await c.CommandAsync("*")).Code); // cancelled
            Assert.Equal(501, (await c.CommandAsync("AUTH PLAIN !!!notbase64")).Code);
            Assert.Equal(504, (await c.CommandAsync("AUTH CRAM-MD5")).Code);
        }
    }

    [Fact]
    public async Task Repeated_auth_failures_lock_the_address_out()
    {
        await using var gw = await TestGateway.StartAsync(o => { o.Limits.MaxAuthFailures = 3; o.Limits.MaxBadCommands = 50; });
        gw.AddUser(User, Password);
        await using var c = await SmtpWire.ConnectAsync(gw.SubmissionPort);
        await c.HelloAsync(startTls: true);
        for (var i = 0; i < 3; i++) Assert.Equal(535, (await c.AuthPlainAsync(User, "guess" + i)).Code);
        var locked = await c.AuthPlainAsync(User, Password); // even the right password
        Assert.Equal(454, locked.Code);
        Assert.StartsWith("4.7.0", locked.Text);
    }

    [Fact]
    public async Task Submission_may_only_use_the_authenticated_address_as_sender_and_adds_message_id_and_date()
    {
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser(User, Password);
        gw.AddUser("bob@gateway.test", "bob-password");
        await using var c = await SmtpWire.ConnectAsync(gw.SubmissionPort);
        await c.HelloAsync(startTls: true);
        await c.AuthPlainAsync(User, Password);
        var spoof = await c.CommandAsync("MAIL FROM:<ceo@gateway.test>");
        Assert.Equal(553, spoof.Code);
        Assert.StartsWith("5.7.1", spoof.Text);
        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{User}>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<bob@gateway.test>")).Code);
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("From: alice@gateway.test\r\nSubject: no id\r\n\r\nhi\r\n.")).Code);
        var mail = (await gw.WaitForMailAsync("bob@gateway.test"))[0];
        Assert.Contains("with ESMTPSA", mail);
        Assert.Contains("Message-ID: <", mail);
        Assert.Contains("\r\nDate: ", mail);
    }

    [Fact]
    public async Task Configured_pem_certificate_is_used_and_hot_reloaded_when_the_file_changes()
    {
        var dir = TempDirectory.Create("certs");
        var certPath = Path.Combine(dir, "server.pem");
        var keyPath = Path.Combine(dir, "server.key");
        WritePem(certPath, keyPath, "CN=first.gateway.test");
        await using var gw = await TestGateway.StartAsync(o => { o.Tls.CertificatePath = certPath; o.Tls.KeyPath = keyPath; });
        Assert.Equal("CN=first.gateway.test", await PeerSubject(gw.ImplicitTlsPort));

        WritePem(certPath + ".new", keyPath + ".new", "CN=second.gateway.test");
        File.Move(keyPath + ".new", keyPath, overwrite: true);
        File.Move(certPath + ".new", certPath, overwrite: true);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        string subject;
        do
        {
            await Task.Delay(200);
            subject = await PeerSubject(gw.ImplicitTlsPort);
        } while (subject != "CN=second.gateway.test" && DateTime.UtcNow < deadline);
        Assert.Equal("CN=second.gateway.test", subject);

        // A broken replacement keeps the working certificate.
        await File.WriteAllTextAsync(certPath, "not a certificate");
        await Task.Delay(1500);
        Assert.Equal("CN=second.gateway.test", await PeerSubject(gw.ImplicitTlsPort));
    }

    [Fact]
    public async Task Configured_password_protected_pfx_is_used()
    {
        var dir = TempDirectory.Create("pfx");
        var pfxPath = Path.Combine(dir, "server.pfx");
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=pfx.gateway.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllBytesAsync(pfxPath, cert.Export(X509ContentType.Pkcs12, "pfx-password"));
        }
        await using var gw = await TestGateway.StartAsync(o => { o.Tls.CertificatePath = pfxPath; o.Tls.Password = "pfx-password"; });
        Assert.Equal("CN=pfx.gateway.test", await PeerSubject(gw.ImplicitTlsPort));
        await using var c = await SmtpWire.ConnectAsync(gw.SubmissionPort);
        await c.HelloAsync(startTls: true);
        Assert.Equal("CN=pfx.gateway.test", c.Tls!.RemoteCertificate!.Subject);
    }

    [Fact]
    public async Task Generated_certificate_survives_a_restart_and_its_pfx_is_private()
    {
        var data = TempDirectory.Create("selfsigned");
        string first;
        await using (var gw = await TestGateway.StartAsync(o => o.DataDirectory = data))
        {
            gw.KeepData = true;
            first = await PeerThumbprint(gw.ImplicitTlsPort);
        }
        var pfx = Path.Combine(data, "tls", "self-signed.pfx");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pfx));
        Assert.ThrowsAny<CryptographicException>(() => X509CertificateLoader.LoadPkcs12FromFile(pfx, "")); // encrypted at rest
        await using var again = await TestGateway.StartAsync(o => o.DataDirectory = data);
        Assert.Equal(first, await PeerThumbprint(again.ImplicitTlsPort));
    }

    static void WritePem(string certPath, string keyPath, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, cert.ExportCertificatePem());
    }

    static async Task<X509Certificate2> PeerCertificate(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        return new X509Certificate2(ssl.RemoteCertificate!);
    }

    static async Task<string> PeerSubject(int port) => (await PeerCertificate(port)).Subject;

    static async Task<string> PeerThumbprint(int port) => (await PeerCertificate(port)).Thumbprint;
}
