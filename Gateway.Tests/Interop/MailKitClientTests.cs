using Gateway.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Gateway.Tests.Interop;

/// <summary>MailKit's SmtpClient (a client nobody here wrote) submitting to the gateway the way a mail program would.</summary>
public class MailKitClientTests : IAsyncLifetime
{
    TestGateway _gw = null!;
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(Alice, "alice-password");
        _gw.AddUser(Bob, "bob-password");
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    static MimeMessage Message(string subject, string body)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(Alice));
        m.To.Add(MailboxAddress.Parse(Bob));
        m.Subject = subject;
        m.Body = new TextPart("plain") { Text = body };
        return m;
    }

    static SmtpClient Client() => new() { ServerCertificateValidationCallback = (_, _, _, _) => true, CheckCertificateRevocation = false };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Submits_with_starttls_or_implicit_tls_and_auth(bool implicitTls)
    {
        using var client = Client();
        if (implicitTls) await client.ConnectAsync("127.0.0.1", _gw.ImplicitTlsPort, SecureSocketOptions.SslOnConnect);
        else await client.ConnectAsync("127.0.0.1", _gw.SubmissionPort, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await client.AuthenticateAsync(Alice, "alice-password");
        var message = Message("via mailkit " + implicitTls, "Hello from MailKit, ünïcödé and 8-bit.");
        var reply = await client.SendAsync(message);
        Assert.Contains("queued as", reply);
        await client.DisconnectAsync(true);

        var delivered = MimeMessage.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes((await _gw.WaitForMailAsync(Bob))[0])));
        Assert.Equal("via mailkit " + implicitTls, delivered.Subject);
        Assert.Equal(message.MessageId, delivered.MessageId);
        Assert.Contains("ünïcödé", delivered.TextBody);
    }

    [Fact]
    public async Task MailKit_sends_with_bdat_and_large_messages_arrive_intact()
    {
        var protocol = new MemoryStream();
        using var client = new BdatSmtpClient(new MailKit.ProtocolLogger(protocol, leaveOpen: true))
        {
            ServerCertificateValidationCallback = (_, _, _, _) => true,
            CheckCertificateRevocation = false,
        };
        await client.ConnectAsync("127.0.0.1", _gw.SubmissionPort, SecureSocketOptions.StartTls);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        await client.AuthenticateAsync(Alice, "alice-password");
        var big = new string('z', 76) + "\n";
        var body = string.Concat(Enumerable.Repeat(big, 30_000)); // ~2.3 MB
        var message = Message("big", body);
        var attachment = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray())),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = "data.bin",
        };
        message.Body = new Multipart("mixed") { new TextPart("plain") { Text = body }, attachment };
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
        var transcript = System.Text.Encoding.UTF8.GetString(protocol.ToArray());
        Assert.Contains("C: BDAT ", transcript);
        Assert.DoesNotContain("C: DATA", transcript);

        var delivered = MimeMessage.Load((await _gw.WaitForMailAsync(Bob)).Select(t => new MemoryStream(System.Text.Encoding.UTF8.GetBytes(t))).First());
        var part = Assert.IsType<MimePart>(delivered.Attachments.Single());
        using var decoded = new MemoryStream();
        part.Content.DecodeTo(decoded);
        Assert.Equal(Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray(), decoded.ToArray());
    }

    [Fact]
    public async Task Wrong_password_is_an_authentication_failure_for_mailkit()
    {
        using var client = Client();
        await client.ConnectAsync("127.0.0.1", _gw.SubmissionPort, SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(Alice, "nope-nope"));
    }

    [Fact]
    public async Task Unauthenticated_send_is_refused_for_mailkit()
    {
        using var client = Client();
        await client.ConnectAsync("127.0.0.1", _gw.SubmissionPort, SecureSocketOptions.StartTls);
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(Message("x", "y")));
        Assert.Contains("Authentication required", ex.Message);
    }

    /// <summary>MailKit sends BDAT only when asked (a protected switch).</summary>
    sealed class BdatSmtpClient : SmtpClient
    {
        public BdatSmtpClient(MailKit.IProtocolLogger logger) : base(logger) { }
        protected override bool PreferSendAsBinaryData => true;
    }
}
