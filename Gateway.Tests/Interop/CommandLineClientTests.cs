using Gateway.Tests.Support;

namespace Gateway.Tests.Interop;

/// <summary>swaks, curl and msmtp, real SMTP clients, against the running host on loopback.</summary>
public class CommandLineClientTests : IAsyncLifetime
{
    TestGateway _gw = null!;
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "alice-password";

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(Alice, Password);
        _gw.AddUser(Bob, "bob-password");
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    [Fact]
    public async Task Swaks_pipelining_starttls_auth_with_an_8bit_body()
    {
        var body = "Gr\u00fc\u00dfe aus dem Test, 8-bit.";
        var r = await ExternalTool.RunAsync("swaks", new[]
        {
            "--server", $"127.0.0.1:{_gw.SubmissionPort}", "--tls", "--pipeline",
            "--auth", "PLAIN", "--auth-user", Alice, "--auth-password", Password,
            "--from", Alice, "--to", Bob,
            "--header", "Subject: from swaks", "--body", body,
        });
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("250 2.0.0 Ok: queued as", r.StdOut);
        Assert.Contains("235 2.7.0", r.StdOut);
        var mail = (await _gw.WaitForMailAsync(Bob))[0];
        Assert.Contains("Subject: from swaks", mail);
        Assert.Contains(body, mail);
    }

    [Fact]
    public async Task Swaks_to_the_delivery_port_and_relay_refusal()
    {
        var ok = await ExternalTool.RunAsync("swaks", new[] { "--server", $"127.0.0.1:{_gw.DeliveryPort}", "--from", "x@example.org", "--to", Bob, "--pipeline" });
        Assert.True(ok.ExitCode == 0, ok.All);
        var relay = await ExternalTool.RunAsync("swaks", new[] { "--server", $"127.0.0.1:{_gw.DeliveryPort}", "--from", "x@example.org", "--to", "victim@else.example" });
        Assert.NotEqual(0, relay.ExitCode);
        Assert.Contains("550 5.7.1 Relaying denied", relay.StdOut);
        await _gw.WaitForMailAsync(Bob);
    }

    [Fact]
    public async Task Swaks_implicit_tls_with_auth_login()
    {
        var r = await ExternalTool.RunAsync("swaks", new[]
        {
            "--server", $"127.0.0.1:{_gw.ImplicitTlsPort}", "--tlsc",
            "--auth", "LOGIN", "--auth-user", Alice, "--auth-password", Password,
            "--from", Alice, "--to", Bob, "--header", "Subject: swaks tlsc",
        });
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("Subject: swaks tlsc", (await _gw.WaitForMailAsync(Bob))[0]);
    }

    [Fact]
    public async Task Curl_smtp_with_starttls_and_auth()
    {
        var message = $"From: {Alice}\r\nTo: {Bob}\r\nSubject: from curl\r\n\r\n.a line that curl dot-stuffs\r\nbye\r\n";
        var r = await ExternalTool.RunAsync("curl", new[]
        {
            "--silent", "--show-error", "--ssl-reqd", "--insecure",
            "--url", $"smtp://127.0.0.1:{_gw.SubmissionPort}",
            "--user", $"{Alice}:{Password}",
            "--mail-from", Alice, "--mail-rcpt", Bob, "--upload-file", "-",
        }, stdin: message);
        Assert.True(r.ExitCode == 0, r.All);
        var mail = (await _gw.WaitForMailAsync(Bob))[0];
        Assert.Contains("Subject: from curl", mail);
        Assert.Contains("\r\n.a line that curl dot-stuffs\r\n", mail);
    }

    [Fact]
    public async Task Curl_without_auth_is_refused()
    {
        var r = await ExternalTool.RunAsync("curl", new[]
        {
            "--silent", "--show-error", "--ssl-reqd", "--insecure",
            "--url", $"smtp://127.0.0.1:{_gw.SubmissionPort}",
            "--mail-from", Alice, "--mail-rcpt", Bob, "--upload-file", "-",
        }, stdin: "Subject: x\r\n\r\ny\r\n");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Empty(_gw.MailboxFiles(Bob));
    }

    [Fact]
    public async Task Msmtp_submission_with_starttls()
    {
        var dir = TempDirectory.Create("msmtp");
        var config = Path.Combine(dir, "msmtprc");
        await File.WriteAllTextAsync(config, $"""
            account gateway
            host 127.0.0.1
            port {_gw.SubmissionPort}
            tls on
            tls_starttls on
            tls_certcheck off
            auth plain
            user {Alice}
            password {Password}
            from {Alice}
            domain client.test
            account default : gateway
            """);
        File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var r = await ExternalTool.RunAsync("msmtp", new[] { "--file", config, "--debug", Bob },
            stdin: $"From: {Alice}\nTo: {Bob}\nSubject: from msmtp\n\nsent by msmtp\n");
        Assert.True(r.ExitCode == 0, r.All);
        var mail = (await _gw.WaitForMailAsync(Bob))[0];
        Assert.Contains("Subject: from msmtp", mail);
        Assert.Contains("with ESMTPSA", mail);
    }

    [Fact]
    public async Task Openssl_s_client_sees_tls_1_2_or_better_and_our_certificate()
    {
        var r = await ExternalTool.RunAsync("openssl", new[] { "s_client", "-connect", $"127.0.0.1:{_gw.SubmissionPort}", "-starttls", "smtp", "-brief" }, stdin: "QUIT\r\n");
        Assert.Contains("Protocol version: TLSv1.", r.All);
        Assert.Contains("mx.gateway.test", r.All);
        var old = await ExternalTool.RunAsync("openssl", new[] { "s_client", "-connect", $"127.0.0.1:{_gw.ImplicitTlsPort}", "-tls1_1", "-brief" }, stdin: "");
        Assert.DoesNotContain("Protocol version: TLSv1.1", old.All);
    }
}
