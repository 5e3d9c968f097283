using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

/// <summary>RFC 5321 state machine and ESMTP advertisement, over a real socket to the in-process host.</summary>
public class SessionProtocolTests : IAsyncLifetime
{
    TestGateway _gw = null!;
    const string User = "alice@gateway.test";

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(User, "alice-password");
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    [Fact]
    public async Task Greeting_and_ehlo_advertise_the_extensions()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        var greeting = await c.ReadReplyAsync();
        Assert.Equal(220, greeting.Code);
        Assert.StartsWith("mx.gateway.test ESMTP", greeting.Text);
        var ehlo = await c.CommandAsync("EHLO client.test");
        Assert.Equal(250, ehlo.Code);
        foreach (var ext in new[] { "PIPELINING", "SIZE 36700160", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN", "STARTTLS" })
            Assert.Contains(ext, ehlo.Lines);
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("AUTH")); // never on the delivery port
    }

    [Fact]
    public async Task Auth_is_advertised_on_submission_only_after_starttls()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.SubmissionPort);
        var before = await c.HelloAsync();
        Assert.DoesNotContain(before.Lines, l => l.StartsWith("AUTH"));
        var ready = await c.CommandAsync("STARTTLS");
        Assert.Equal(220, ready.Code);
        await c.HandshakeAsync();
        var after = await c.CommandAsync("EHLO client.test");
        Assert.Contains("AUTH PLAIN LOGIN", after.Lines);
        Assert.DoesNotContain("STARTTLS", after.Lines);
    }

    [Fact]
    public async Task Commands_out_of_order_get_503_and_the_session_continues()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.ReadReplyAsync();
        Assert.Equal(503, (await c.CommandAsync($"MAIL FROM:<x@example.org>")).Code); // before EHLO
        await c.CommandAsync("EHLO client.test");
        Assert.Equal(503, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
        var data = await c.CommandAsync("DATA");
        Assert.Equal(503, data.Code);
        Assert.StartsWith("5.5.1", data.Text);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<x@example.org>")).Code);
        Assert.Equal(503, (await c.CommandAsync("MAIL FROM:<y@example.org>")).Code);
        Assert.Equal(554, (await c.CommandAsync("DATA")).Code); // no recipients yet
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        Assert.Equal(252, (await c.CommandAsync("VRFY alice")).Code);
        Assert.Equal(214, (await c.CommandAsync("HELP")).Code);
        Assert.Equal(500, (await c.CommandAsync("FROB")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Pipelined_commands_get_their_replies_in_order_in_one_batch()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        await c.SendRawAsync($"MAIL FROM:<bob@example.org>\r\nRCPT TO:<{User}>\r\nRCPT TO:<nobody@gateway.test>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var unknown = await c.ReadReplyAsync();
        Assert.Equal(550, unknown.Code);
        Assert.StartsWith("5.1.1", unknown.Text);
        var relay = await c.ReadReplyAsync();
        Assert.Equal(550, relay.Code);
        Assert.StartsWith("5.7.1", relay.Text);
        Assert.Equal(354, (await c.ReadReplyAsync()).Code);
        await c.SendRawAsync("Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n");
        var queued = await c.ReadReplyAsync();
        Assert.Equal(250, queued.Code);
        Assert.Contains("queued as", queued.Text);
        Assert.Equal(221, (await c.ReadReplyAsync()).Code);
        var mail = await _gw.WaitForMailAsync(User);
        Assert.Contains("Subject: pipelined", mail[0]);
    }

    [Fact]
    public async Task Received_header_is_prepended_and_the_message_is_otherwise_untouched()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync(name: "sender.example.org");
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        const string body = "From: bob@example.org\r\nSubject: exact\r\n\r\n..dot-stuffed line\r\nlast line without message-id\r\n";
        var reply = await c.CommandAsync(body + ".");
        Assert.Equal(250, reply.Code);
        var id = reply.Text.Split(' ').Last();
        var mail = (await _gw.WaitForMailAsync(User))[0];
        Assert.StartsWith("Return-Path: <bob@example.org>\r\nDelivered-To: alice@gateway.test\r\nReceived: from sender.example.org ([127.0.0.1])", mail);
        Assert.Contains($"id {id}", mail);
        Assert.EndsWith("From: bob@example.org\r\nSubject: exact\r\n\r\n.dot-stuffed line\r\nlast line without message-id\r\n", mail);
        Assert.DoesNotContain("Message-ID:", mail); // added on submission only
    }

    [Fact]
    public async Task Empty_message_is_accepted()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        await c.CommandAsync("MAIL FROM:<>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync(".")).Code);
        var mail = (await _gw.WaitForMailAsync(User))[0];
        Assert.StartsWith("Return-Path: <>", mail);
    }

    [Fact]
    public async Task Bdat_chunks_assemble_the_message_and_bdat_zero_last_ends_it()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        await c.CommandAsync("MAIL FROM:<bob@example.org> BODY=8BITMIME");
        await c.CommandAsync($"RCPT TO:<{User}>");
        var part1 = "Subject: chunked\r\n\r\n.no unstuffing in BDAT\r\n";
        var part2 = "caf\u00e9 second chunk\r\n";
        await c.SendRawAsync($"BDAT {System.Text.Encoding.UTF8.GetByteCount(part1)}\r\n{part1}");
        var r1 = await c.ReadReplyAsync();
        Assert.Equal(250, r1.Code);
        await c.SendRawAsync($"BDAT {System.Text.Encoding.UTF8.GetByteCount(part2)}\r\n{part2}BDAT 0 LAST\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var done = await c.ReadReplyAsync();
        Assert.Equal(250, done.Code);
        Assert.Contains("queued as", done.Text);
        Assert.Equal(503, (await c.CommandAsync("DATA")).Code); // transaction is over
        var mail = (await _gw.WaitForMailAsync(User))[0];
        Assert.EndsWith(part1 + part2, mail);
    }

    [Fact]
    public async Task Bdat_without_transaction_still_consumes_the_chunk()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        await c.SendRawAsync("BDAT 12 LAST\r\nQUIT\r\nQUIT\r\nNOOP\r\n");
        Assert.Equal(503, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code); // NOOP: the 12 octets were not taken as commands
    }

    [Fact]
    public async Task Dsn_parameters_are_accepted_and_stored()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<bob@example.org> RET=HDRS ENVID=abc+2Bdef")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40gateway.test")).Code);
        Assert.Equal(501, (await c.CommandAsync($"RCPT TO:<{User}> NOTIFY=NEVER,SUCCESS")).Code);
        Assert.Equal(555, (await c.CommandAsync($"RCPT TO:<{User}> FOO=BAR")).Code);
        await c.CommandAsync("DATA");
        var queued = await c.CommandAsync("Subject: dsn\r\n\r\nx\r\n.");
        Assert.Equal(250, queued.Code);
        await _gw.WaitForMailAsync(User);
        // NOTIFY=SUCCESS on local delivery: a "delivered" DSN is queued for bob (it cannot leave: no DNS here).
        var dsn = await WaitForQueuedAsync(text => text.Contains("Action: delivered"));
        Assert.Contains("Original-Envelope-Id: abc+def", dsn);
        Assert.Contains("Original-Recipient: rfc822;alice@gateway.test", dsn);
        Assert.Contains("Final-Recipient: rfc822; alice@gateway.test", dsn);
        Assert.Contains("Content-Type: text/rfc822-headers", dsn); // RET=HDRS
        Assert.DoesNotContain("\r\n\r\nx\r\n", dsn.Split("text/rfc822-headers")[1]);
    }

    async Task<string> WaitForQueuedAsync(Func<string, bool> predicate)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var eml in Directory.GetFiles(_gw.Queue.MessagesDirectory, "*.eml"))
            {
                string text;
                try { text = System.Text.Encoding.UTF8.GetString(_gw.Queue.Seal.ReadAllBytes(eml)); } catch (IOException) { continue; }
                if (predicate(text)) return text;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("no matching message in the queue");
    }

    [Fact]
    public async Task Smtputf8_addresses_need_the_parameter()
    {
        _gw.AddUser("用户@gateway.test", "unicode-password");
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        var refused = await c.CommandAsync("MAIL FROM:<josé@example.org>");
        Assert.Equal(553, refused.Code);
        Assert.StartsWith("5.6.7", refused.Text);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<josé@example.org> SMTPUTF8")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<用户@gateway.test>")).Code);
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: =?utf-8?q?h=C3=A9?=\r\n\r\nünïcödé\r\n.")).Code);
        var mail = (await _gw.WaitForMailAsync("用户@gateway.test"))[0];
        Assert.Contains("with UTF8SMTP", mail);
        Assert.Contains("ünïcödé", mail);
    }

    [Fact]
    public async Task Postmaster_without_domain_reaches_the_primary_domain_postmaster()
    {
        _gw.AddUser("postmaster@gateway.test", "postmaster-password");
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<Postmaster>")).Code);
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: to the postmaster\r\n\r\nhi\r\n.")).Code);
        Assert.Contains("Subject: to the postmaster", (await _gw.WaitForMailAsync("postmaster@gateway.test"))[0]);
    }
}
