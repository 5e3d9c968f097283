using System.Diagnostics;
using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

/// <summary>
/// The real gateway process against clients that try to smuggle a second message through a bare CR or NUL, write to the
/// courier's own element addresses from the submission port, or hold a connection by trickling: each is refused or cut
/// off with a clear reply, and the session (where it goes on) stays in step.
/// </summary>
public sealed class SmugglingAndSlowSenderTests : IAsyncLifetime
{
    const string User = "user@gateway.test";
    const string Password = "smuggling-test-secret";
    GatewayProcess _gw = null!;
    int _delivery, _submission;

    public async Task InitializeAsync()
    {
        var data = TempDirectory.Create("smuggle");
        var ports = Ports.Free(2);
        (_delivery, _submission) = (ports[0], ports[1]);
        var config = Path.Combine(data, "gateway.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "Gateway": {
                "Hostname": "smuggle.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [
                  { "Name": "delivery", "Endpoint": "127.0.0.1:{{_delivery}}", "Role": "Delivery", "Tls": "StartTls" },
                  { "Name": "submission", "Endpoint": "127.0.0.1:{{_submission}}", "Role": "Submission", "Tls": "StartTls" }
                ],
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 1, "DnsServers": [ "127.0.0.1:9" ] },
                "Limits": { "DataTimeoutSeconds": 3, "MinDataRateBytesPerSecond": 1000, "CommandTimeoutSeconds": 20, "MaxJunkCommands": 10,
                            "AuthFailureDelayMilliseconds": 0 },
                "Web": { "Endpoint": "" }
              }
            }
            """);
        var add = await GatewayProcess.RunCliAsync(Path.Combine(data, "data"), Password + "\n", "user", "add", User, "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);
        _gw = GatewayProcess.Start(Path.Combine(data, "data"), config);
        await _gw.WaitForPortAsync(_delivery);
        await _gw.WaitForPortAsync(_submission);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    async Task<SmtpWire> ReadyForData(int port = 0)
    {
        var c = await SmtpWire.ConnectAsync(port == 0 ? _delivery : port);
        await c.HelloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<sender@example.org>")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
        return c;
    }

    async Task<SmtpWire> Submission()
    {
        var c = await SmtpWire.ConnectAsync(_submission);
        await c.HelloAsync(startTls: true);
        Assert.Equal(235, (await c.AuthPlainAsync(User, Password)).Code);
        return c;
    }

    static void AssertRefusedFor(WireReply reply, string what)
    {
        Assert.True(reply.Code == 550, reply.ToString());
        Assert.StartsWith("5.6.0", reply.Text);
        Assert.Contains(what, reply.Text);
    }

    int Accepted => _gw.Output.Split('\n').Count(l => l.Contains("Accepted message", StringComparison.Ordinal));

    /// <summary>Waits for the log to show <paramref name="expected"/> accepted messages in all (the log trails the reply),
    /// then a moment more to see that no other one follows.</summary>
    async Task AssertAcceptedAsync(int expected)
    {
        for (var i = 0; i < 100 && Accepted < expected; i++) await Task.Delay(100);
        await Task.Delay(300);
        Assert.Equal(expected, Accepted);
    }

    static string Bdat(string chunk, bool last = false) => $"BDAT {System.Text.Encoding.UTF8.GetByteCount(chunk)}{(last ? " LAST" : "")}\r\n{chunk}";

    [Fact]
    public async Task Cr_dot_cr_smuggling_on_data_is_refused_and_the_session_goes_on()
    {
        var before = Accepted;
        await using var c = await ReadyForData();
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendRawAsync("Subject: outer\r\n\r\nline\r.\rMAIL FROM:<ceo@gateway.test>\rRCPT TO:<user@gateway.test>\rDATA\rSubject: smuggled\r\r\n.\r\n");
        AssertRefusedFor(await c.ReadReplyAsync(), "bare <CR>");
        // In step: the next transaction is read as commands and accepted.
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<sender@example.org>")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: clean\r\n\r\nclean\r\n.")).Code);
        await AssertAcceptedAsync(before + 1);
    }

    [Fact]
    public async Task Nul_on_data_and_bare_cr_or_nul_on_bdat_are_refused()
    {
        var before = Accepted;
        await using (var c = await ReadyForData())
        {
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            AssertRefusedFor(await c.CommandAsync("Subject: nul\r\n\r\na\0b\r\n."), "NUL");
        }
        await using (var c = await ReadyForData())
        {
            // The smuggling pattern split over two chunks: the CR ends the first, the dot and CR begin the second.
            await c.SendRawAsync(Bdat("Subject: x\r\n\r\nline\r"));
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            await c.SendRawAsync(Bdat(".\r\r\n", last: true));
            AssertRefusedFor(await c.ReadReplyAsync(), "bare <CR>");
            Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);
        }
        await using (var c = await ReadyForData())
        {
            await c.SendRawAsync(Bdat("Subject: z\r\n\r\n\0\r\n", last: true));
            AssertRefusedFor(await c.ReadReplyAsync(), "NUL");
        }
        await using (var c = await ReadyForData())
        {
            // A CRLF split across two chunks is a line end like any other.
            await c.SendRawAsync(Bdat("Subject: split\r\n\r\nok\r"));
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            await c.SendRawAsync(Bdat("\n", last: true));
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        }
        await AssertAcceptedAsync(before + 1);
    }

    [Fact]
    public async Task Bare_cr_from_the_submission_port_is_refused_too()
    {
        await using var c = await Submission();
        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{User}>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<someone@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        AssertRefusedFor(await c.CommandAsync("Subject: s\r\n\r\nx\r.\rRSET\r\n."), "bare <CR>");
    }

    [Fact]
    public async Task Submission_to_the_courier_element_addresses_is_refused()
    {
        await using var c = await Submission();
        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{User}>")).Code);
        foreach (var element in new[] { "foreground", "background" })
        {
            var reply = await c.CommandAsync($"RCPT TO:<{element}@smuggle.gateway.test>");
            Assert.True(reply.Code == 550, reply.ToString());
            Assert.StartsWith("5.7.1", reply.Text);
            Assert.Contains("element of this courier", reply.Text);
        }
        // Anyone else is still reachable in the same transaction.
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<someone@example.org>")).Code);
    }

    async Task AssertCutOffWhileTrickling(SmtpWire c, string what)
    {
        var clock = Stopwatch.StartNew();
        var closedWhileSending = false;
        try
        {
            // One octet every 300 ms: never 3 s of silence, so an idle timer alone would wait for ever.
            for (var i = 0; i < 60 && clock.Elapsed < TimeSpan.FromSeconds(15); i++)
            {
                await c.SendRawAsync("x");
                await Task.Delay(300);
            }
        }
        catch (IOException) { closedWhileSending = true; }
        if (!closedWhileSending)
        {
            var reply = await c.ReadReplyAsync(5);
            Assert.True(reply.Code == 421, $"{what}: {reply}");
            Assert.StartsWith("4.4.2", reply.Text);
        }
        Assert.True(await c.IsClosedAsync(), $"{what}: still open");
        Assert.InRange(clock.Elapsed.TotalSeconds, 2, 12);
    }

    [Fact]
    public async Task A_client_trickling_data_is_cut_off_when_its_budget_is_spent()
    {
        await using (var c = await ReadyForData())
        {
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            await c.SendRawAsync("Subject: slow\r\n\r\n");
            await AssertCutOffWhileTrickling(c, "DATA");
        }
        await using (var c = await ReadyForData())
        {
            await c.SendRawAsync("BDAT 10000 LAST\r\n");
            await AssertCutOffWhileTrickling(c, "BDAT");
        }
        await _gw.WaitForLogAsync("gateway", 10, "Data timeout", "too slowly");
        // A sender at full speed is not affected: 600 KB in one go, well past the 3 s budget's worth at the minimum rate.
        await using (var c = await ReadyForData())
        {
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            var body = string.Concat(Enumerable.Repeat(new string('a', 78) + "\r\n", 7500));
            Assert.Equal(250, (await c.CommandAsync("Subject: fast\r\n\r\n" + body + ".")).Code);
        }
    }

    [Fact]
    public async Task Noop_after_noop_without_mail_ends_the_session()
    {
        await using var c = await SmtpWire.ConnectAsync(_delivery);
        await c.HelloAsync();
        for (var i = 0; i < 10; i++) Assert.Equal(250, (await c.CommandAsync(i % 2 == 0 ? "NOOP" : "RSET")).Code);
        var reply = await c.CommandAsync("NOOP");
        Assert.True(reply.Code == 421, reply.ToString());
        Assert.StartsWith("4.7.0", reply.Text);
        Assert.True(await c.IsClosedAsync());
    }
}
