using System.Text;
using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

/// <summary>Hostile and broken clients: each gets the right reply, the session survives or closes cleanly, and nothing accepted is lost.</summary>
public class BadInputTests : IAsyncLifetime
{
    TestGateway _gw = null!;
    const string User = "alice@gateway.test";

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync(o =>
        {
            o.Limits.MaxMessageSize = 64 * 1024;
            // Short enough for the timeout tests, long enough that a busy CI machine's stall is not one (at 2 s a
            // bare NOOP was answered 421 once).
            o.Limits.CommandTimeoutSeconds = 5;
            o.Limits.DataTimeoutSeconds = 5;
            o.Limits.MaxBadCommands = 5;
            o.Limits.MaxConnectionsPerAddress = 4;
        });
        _gw.AddUser(User, "alice-password");
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    async Task<SmtpWire> Ready()
    {
        var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync();
        return c;
    }

    async Task AssertStillWorks(SmtpWire c, string subject)
    {
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<bob@example.org>")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync($"Subject: {subject}\r\n\r\nok\r\n.")).Code);
    }

    [Fact]
    public async Task Overlong_command_line_gets_500_and_the_session_survives()
    {
        await using var c = await Ready();
        var reply = await c.CommandAsync("NOOP " + new string('x', 5000));
        Assert.Equal(500, reply.Code);
        Assert.StartsWith("5.5.2", reply.Text);
        await AssertStillWorks(c, "after long line");
        Assert.Single(await _gw.WaitForMailAsync(User));
    }

    [Fact]
    public async Task Bare_lf_command_is_refused_and_bare_lf_data_is_rejected_without_desync()
    {
        await using var c = await Ready();
        await c.SendRawAsync("NOOP\n");
        Assert.Equal(500, (await c.ReadReplyAsync()).Code);
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        // Smuggling attempt: "<LF>.<CRLF>" followed by a second transaction inside the data.
        await c.SendRawAsync("Subject: outer\r\n\r\nline\n.\r\nMAIL FROM:<ceo@gateway.test>\r\nRCPT TO:<alice@gateway.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.Equal(550, reply.Code);
        Assert.Contains("bare <LF>", reply.Text);
        await AssertStillWorks(c, "after bare LF");
        var mail = await _gw.WaitForMailAsync(User);
        await Task.Delay(300);
        Assert.Single(_gw.MailboxFiles(User));
        Assert.DoesNotContain("smuggled", mail[0]);
    }

    [Fact]
    public async Task Nul_octets_in_commands_are_syntax_errors_and_in_data_refused()
    {
        await using var c = await Ready();
        var bad = await c.CommandAsync("MAIL FROM:<bob\0@example.org>");
        Assert.Equal(553, bad.Code);
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        var refused = await c.CommandAsync("Subject: nul\r\n\r\na\0b\r\n.");
        Assert.Equal(550, refused.Code);
        Assert.StartsWith("5.6.0", refused.Text);
        Assert.Contains("NUL", refused.Text);
        await AssertStillWorks(c, "after NUL");
        var mail = await _gw.WaitForMailAsync(User);
        // Ordinal: a culture-aware search ignores NUL, so "a\0b" would match any "ab" (a random
        // queue id in the Received header was enough to fail this once).
        Assert.DoesNotContain("a\0b", mail[0], StringComparison.Ordinal);
        Assert.DoesNotContain('\0', mail[0]);
    }

    [Fact]
    public async Task Auth_on_the_delivery_port_and_before_starttls_on_submission_is_refused()
    {
        await using (var d = await Ready())
            Assert.Equal(502, (await d.AuthPlainAsync(User, "alice-password")).Code);

        await using var c = await SmtpWire.ConnectAsync(_gw.SubmissionPort);
        await c.HelloAsync();
        var reply = await c.AuthPlainAsync(User, "alice-password");
        Assert.Equal(530, reply.Code);
        Assert.StartsWith("5.7.0", reply.Text);
        var mail = await c.CommandAsync("MAIL FROM:<alice@gateway.test>");
        Assert.Equal(530, mail.Code); // no unauthenticated submission, and no plaintext AUTH
    }

    [Fact]
    public async Task Huge_declared_size_is_refused_at_mail_from()
    {
        await using var c = await Ready();
        var reply = await c.CommandAsync("MAIL FROM:<bob@example.org> SIZE=999999999999");
        Assert.Equal(552, reply.Code);
        Assert.StartsWith("5.3.4", reply.Text);
        await AssertStillWorks(c, "after SIZE");
    }

    [Fact]
    public async Task Data_over_the_limit_is_discarded_with_552_even_when_size_was_not_declared()
    {
        await using var c = await Ready();
        await c.CommandAsync("MAIL FROM:<bob@example.org> SIZE=100");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        var line = new string('a', 998) + "\r\n";
        var big = new StringBuilder("Subject: too big\r\n\r\n");
        for (var i = 0; i < 100; i++) big.Append(line); // ~100 KB > 64 KB
        var reply = await c.CommandAsync(big + ".");
        Assert.Equal(552, reply.Code);
        Assert.StartsWith("5.3.4", reply.Text);
        Assert.Empty(Directory.GetFiles(_gw.Queue.IncomingDirectory));
        await AssertStillWorks(c, "after too big");
        var mail = await _gw.WaitForMailAsync(User);
        Assert.DoesNotContain("Subject: too big\r\n", mail[0]);
    }

    [Fact]
    public async Task Bdat_over_the_limit_is_refused_and_the_stream_stays_in_step()
    {
        await using var c = await Ready();
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        var chunk = new string('b', 70 * 1024);
        await c.SendRawAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        Assert.Equal(552, (await c.ReadReplyAsync()).Code);
        await AssertStillWorks(c, "after big BDAT");
    }

    [Fact]
    public async Task A_thousand_recipients_are_capped_at_the_limit_with_452()
    {
        // The users exist before the session starts: adding them mid-session on a busy machine could outlast this
        // fixture's two-second command timeout.
        for (var i = 0; i < 150; i++) _gw.Users.Add($"u{i}@gateway.test", "x");
        await using var c = await Ready();
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        var batch = new StringBuilder();
        for (var i = 0; i < 1000; i++) batch.Append($"RCPT TO:<{User}>\r\n");
        await c.SendRawAsync(batch.ToString());
        var codes = new List<int>();
        for (var i = 0; i < 1000; i++) codes.Add((await c.ReadReplyAsync()).Code);
        // Duplicates of one address count once, so all are accepted; now distinct addresses:
        Assert.All(codes, code => Assert.Equal(250, code));
        await c.CommandAsync("RSET");
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        batch.Clear();
        for (var i = 0; i < 150; i++) batch.Append($"RCPT TO:<u{i}@gateway.test>\r\n");
        await c.SendRawAsync(batch.ToString());
        codes.Clear();
        for (var i = 0; i < 150; i++) codes.Add((await c.ReadReplyAsync()).Code);
        Assert.Equal(100, codes.Count(x => x == 250));
        Assert.Equal(50, codes.Count(x => x == 452));
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: many\r\n\r\nhi\r\n.")).Code);
        await _gw.WaitForMailAsync("u99@gateway.test");
        Assert.Empty(_gw.MailboxFiles("u100@gateway.test"));
    }

    [Fact]
    public async Task Slowloris_client_is_cut_off_at_the_command_timeout()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.ReadReplyAsync();
        var started = DateTime.UtcNow;
        var closedByServer = false;
        try
        {
            foreach (var ch in "EHLO slow.client.test")
            {
                await c.SendRawAsync(ch.ToString());
                await Task.Delay(400);
                if (DateTime.UtcNow - started > TimeSpan.FromSeconds(8)) break;
            }
        }
        catch (IOException) { closedByServer = true; }
        if (!closedByServer)
        {
            var reply = await c.ReadReplyAsync();
            Assert.Equal(421, reply.Code);
            Assert.StartsWith("4.4.2", reply.Text);
        }
        Assert.True(await c.IsClosedAsync());
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 1.5, 9);
    }

    [Fact]
    public async Task Stalled_data_is_discarded_at_the_data_timeout()
    {
        await using var c = await Ready();
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        await c.CommandAsync($"RCPT TO:<{User}>");
        await c.CommandAsync("DATA");
        await c.SendRawAsync("Subject: never finished\r\n\r\npartial");
        var reply = await c.ReadReplyAsync(10);
        Assert.Equal(421, reply.Code);
        Assert.True(await c.IsClosedAsync());
        Assert.Empty(Directory.GetFiles(_gw.Queue.IncomingDirectory));
        Assert.Equal(0, _gw.QueuedMessageCount());
    }

    [Fact]
    public async Task Too_many_bad_commands_close_the_session()
    {
        await using var c = await Ready();
        for (var i = 0; i < 4; i++) Assert.Equal(500, (await c.CommandAsync("GARBAGE")).Code);
        Assert.Equal(500, (await c.CommandAsync("GARBAGE")).Code);
        var bye = await c.ReadReplyAsync();
        Assert.Equal(421, bye.Code);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Http_request_on_the_smtp_port_is_closed()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.ReadReplyAsync();
        Assert.Equal(500, (await c.CommandAsync("GET / HTTP/1.1")).Code);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Connections_over_the_per_address_limit_get_421()
    {
        var open = new List<SmtpWire>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
                Assert.Equal(220, (await c.ReadReplyAsync()).Code);
                open.Add(c);
            }
            await using var extra = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
            var reply = await extra.ReadReplyAsync();
            Assert.Equal(421, reply.Code);
            Assert.Contains("Too many connections from your address", reply.Text);
            Assert.True(await extra.IsClosedAsync());
        }
        finally
        {
            foreach (var c in open) await c.DisposeAsync();
        }
        // Slots are released when clients go away.
        await Task.Delay(300);
        await using var again = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        Assert.Equal(220, (await again.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Open_relay_is_refused_on_the_delivery_port()
    {
        await using var c = await Ready();
        await c.CommandAsync("MAIL FROM:<spammer@example.org>");
        var reply = await c.CommandAsync("RCPT TO:<victim@elsewhere.example>");
        Assert.Equal(550, reply.Code);
        Assert.StartsWith("5.7.1", reply.Text);
        Assert.Contains("Relaying denied", reply.Text);
    }

    [Fact]
    public async Task Malformed_addresses_get_syntax_replies()
    {
        await using var c = await Ready();
        Assert.Equal(501, (await c.CommandAsync("MAIL FROM:bob@example.org")).Code);
        Assert.Equal(553, (await c.CommandAsync("MAIL FROM:<bob@@example.org>")).Code);
        Assert.Equal(555, (await c.CommandAsync("MAIL FROM:<bob@example.org> XYZZY=1")).Code);
        await c.CommandAsync("MAIL FROM:<bob@example.org>");
        Assert.Equal(501, (await c.CommandAsync("RCPT TO:<no-domain>")).Code);
        Assert.Equal(501, (await c.CommandAsync("RCPT TO:<a b@gateway.test>")).Code);
    }
}
