using Gateway.Configuration;
using Gateway.Tests.Support;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Tests.Delivery;

/// <summary>The delivery worker against a scripted next hop and a loopback DNS server.</summary>
public class OutboundDeliveryTests
{
    const string Alice = "alice@gateway.test";
    const string Password = "alice-password";

    static string Message(string subject, string body = "body line\r\n") =>
        $"From: {Alice}\r\nTo: someone\r\nBcc: hidden@remote.test\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\n{body}";

    static async Task<TestGateway> Start(Action<GatewayOptions>? configure = null)
    {
        var gw = await TestGateway.StartAsync(configure);
        gw.AddUser(Alice, Password);
        return gw;
    }

    static void RouteTo(GatewayOptions o, string domain, int port) =>
        o.Routes.Add(new RouteOptions { Domain = domain, Host = "127.0.0.1", Port = port });

    [Fact]
    public async Task Static_route_relays_the_exact_bytes_with_our_received_header_in_front()
    {
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        var message = $"From: {Alice}\r\nTo: bob@remote.test\r\nBcc: hidden@remote.test\r\nSubject: relay me\r\nMIME-Version: 1.0\r\n" +
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
                      "line one\r\n.starts with a dot\r\n\u00e9t\u00e9 8-bit\r\n  trailing spaces  \r\n";
        var reply = await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, message, "BODY=8BITMIME");
        Assert.Equal(250, reply.Code);
        var received = await sink.WaitForMessageAsync();
        Assert.Equal($"MAIL FROM:<{Alice}> BODY=8BITMIME", received.MailFrom);
        var text = received.Text;
        Assert.StartsWith("Received: from client.test ([127.0.0.1]) by mx.gateway.test (Gateway)", text);
        var afterReceived = text[(text.IndexOf("\r\nFrom: ", StringComparison.Ordinal) + 2)..];
        Assert.Equal(message, afterReceived); // byte-for-byte: Bcc kept, no re-encoding, dot-stuffing undone
        Assert.Equal(System.Text.Encoding.UTF8.GetBytes(message), received.Data[^System.Text.Encoding.UTF8.GetByteCount(message)..]);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Consecutive_messages_to_one_next_hop_share_a_connection()
    {
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        for (var i = 0; i < 3; i++)
        {
            await gw.SubmitAsync(Alice, Password, Alice, new[] { $"r{i}@remote.test" }, Message($"reuse {i}"));
            await sink.WaitForMessageAsync();
        }
        Assert.Equal(1, sink.Connections);
        Assert.Equal(1, sink.Commands.Count(c => c.StartsWith("STARTTLS")));
        Assert.Equal(2, sink.Commands.Count(c => c.StartsWith("EHLO"))); // before and after STARTTLS, once
    }

    [Fact]
    public async Task A_cached_connection_the_next_hop_dropped_is_replaced_without_a_deferral()
    {
        await using var sink = new ScriptedSmtpServer { DropAfterMessage = true };
        // A deferral would cost 30 s here, so "delivered within 10 s" cannot be mistaken for one under load.
        await using var gw = await Start(o => { RouteTo(o, "remote.test", sink.Port); o.Delivery.FirstRetrySeconds = 30; o.Delivery.MaxRetrySeconds = 60; });
        for (var i = 0; i < 3; i++)
        {
            var started = DateTime.UtcNow;
            await gw.SubmitAsync(Alice, Password, Alice, new[] { $"d{i}@remote.test" }, Message($"dropped {i}"));
            await sink.WaitForMessageAsync(timeoutSeconds: 10);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "delivered at once, not after a retry delay");
        }
        Assert.Equal(3, sink.Connections);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Eight_bit_mail_to_a_hop_without_8bitmime_bounces_instead_of_being_converted()
    {
        await using var sink = new ScriptedSmtpServer { Advertise8BitMime = false };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        var message = "From: alice@gateway.test\r\nSubject: 8-bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
                      "Content-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe\r\n";
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "old@remote.test" }, message, "BODY=8BITMIME");
        var bounce = (await gw.WaitForMailAsync(Alice))[0];
        Assert.Contains("Status: 5.6.3", bounce);
        Assert.Contains("8BITMIME", bounce);
        Assert.Empty(sink.Messages);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Non_ascii_addresses_to_a_hop_without_smtputf8_bounce_with_5_6_7()
    {
        await using var sink = new ScriptedSmtpServer { AdvertiseSmtpUtf8 = false };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "j\u00f6rg@remote.test" }, Message("utf8 address"), "SMTPUTF8");
        var bounce = (await gw.WaitForMailAsync(Alice))[0];
        Assert.Contains("Status: 5.6.7", bounce);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Mx_lookup_uses_preference_order_and_falls_back_to_the_next_host()
    {
        await using var sink = new ScriptedSmtpServer();
        await using var dns = new TestDnsServer()
            .AddMx("remote.test", 5, "dead.remote.test").AddA("dead.remote.test", "127.0.0.3")
            .AddMx("remote.test", 10, "mx.remote.test").AddA("mx.remote.test", "127.0.0.1");
        await using var gw = await Start(o =>
        {
            o.Delivery.DnsServers = new() { $"127.0.0.1:{dns.Port}" };
            o.Delivery.MxPort = sink.Port;
        });
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "carol@remote.test" }, Message("via mx"))).Code);
        var received = await sink.WaitForMessageAsync();
        Assert.Contains("RCPT TO:<carol@remote.test>", received.RcptCommands[0]);
        Assert.True(dns.Queries >= 2);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Transient_failures_are_retried_with_backoff_until_delivered()
    {
        await using var sink = new ScriptedSmtpServer();
        var attempts = 0;
        var times = new List<DateTime>();
        sink.DataReply = () =>
        {
            lock (times) times.Add(DateTime.UtcNow);
            return Interlocked.Increment(ref attempts) <= 2 ? "451 4.3.0 try again later" : "250 2.0.0 finally";
        };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "dave@remote.test" }, Message("retry"));
        await sink.WaitForMessageAsync(30);
        Assert.Equal(3, attempts);
        // FirstRetrySeconds=1, MaxRetrySeconds=2 in tests: gaps of ~1s then ~2s (+-10% jitter).
        Assert.InRange((times[1] - times[0]).TotalSeconds, 0.8, 3);
        Assert.InRange((times[2] - times[1]).TotalSeconds, 1.6, 4);
        await gw.WaitForEmptyQueueAsync();
        Assert.Empty(gw.MailboxFiles(Alice)); // no DSN: delivered in the end
    }

    [Fact]
    public async Task Permanent_refusal_bounces_at_once_with_an_rfc3464_report()
    {
        await using var sink = new ScriptedSmtpServer();
        sink.RcptReply = address => address.StartsWith("gone") ? "550 5.1.1 <gone@remote.test>: user unknown" : "250 2.1.5 ok";
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "gone@remote.test", "here@remote.test" }, Message("partly bounces"),
            "RET=FULL ENVID=env-42");
        var delivered = await sink.WaitForMessageAsync();
        Assert.Single(delivered.RcptCommands, c => c.Contains("here@remote.test"));
        var bounce = (await gw.WaitForMailAsync(Alice))[0];
        Assert.Contains("Subject: Undelivered Mail Returned to Sender", bounce);
        Assert.Contains("Return-Path: <>", bounce);
        Assert.Contains("multipart/report", bounce);
        Assert.Contains("report-type=delivery-status", bounce);
        Assert.Contains("Final-Recipient: rfc822; gone@remote.test", bounce);
        Assert.Contains("Action: failed", bounce);
        Assert.Contains("Status: 5.1.1", bounce);
        Assert.Contains("Diagnostic-Code: smtp; 127.0.0.1[127.0.0.1]", bounce);
        Assert.Contains("user unknown", bounce);
        Assert.Contains("Original-Envelope-Id: env-42", bounce);
        Assert.Contains("Content-Type: message/rfc822", bounce);
        Assert.Contains("Subject: partly bounces", bounce);
        Assert.DoesNotContain("here@remote.test", bounce.Split("message/delivery-status")[1].Split("message/rfc822")[0]);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Dsn_parameters_are_passed_on_to_a_dsn_capable_next_hop()
    {
        await using var sink = new ScriptedSmtpServer { AdvertiseDsn = true };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "erin@remote.test" }, Message("dsn pass-through"),
            "RET=HDRS ENVID=xyz", "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;first+40original.test");
        var received = await sink.WaitForMessageAsync();
        Assert.Contains("ORCPT=rfc822;erin@remote.test", received.RcptCommands[0]); // MailKit's own; see RelaySmtpClient
        Assert.Contains("RET=HDRS", received.MailFrom);
        Assert.Contains("ENVID=xyz", received.MailFrom);
        Assert.Contains("NOTIFY=SUCCESS,DELAY", received.RcptCommands[0]);
        await gw.WaitForEmptyQueueAsync();
        Assert.Empty(gw.MailboxFiles(Alice)); // the next hop reports success itself
    }

    [Fact]
    public async Task Smarthost_route_with_starttls_and_auth_relays_through_another_gateway()
    {
        // The smarthost is a second gateway: its submission port requires STARTTLS and AUTH, and the sender it owns.
        await using var smarthost = await TestGateway.StartAsync(o => { o.Hostname = "smarthost.test"; o.Domains = new() { "final.test" }; });
        smarthost.AddUser(Alice, "alice-at-smarthost");
        smarthost.AddUser("final@final.test", "final-password");
        await using var gw = await Start(o => o.Routes.Add(new RouteOptions
        {
            Domain = "final.test", Host = "127.0.0.1", Port = smarthost.SubmissionPort, Tls = OutboundTls.Required,
            Username = Alice, Password = "alice-at-smarthost",
        }));
        var reply = await gw.SubmitAsync(Alice, Password, Alice, new[] { "final@final.test" }, Message("through the smarthost"));
        Assert.Equal(250, reply.Code);
        var mail = (await smarthost.WaitForMailAsync("final@final.test"))[0];
        Assert.Contains("Subject: through the smarthost", mail);
        Assert.Contains("by smarthost.test (Gateway) with ESMTPSA", mail.Replace("\r\n\t", " ")); // TLS + AUTH on the second hop
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(mail, "^Received: ", System.Text.RegularExpressions.RegexOptions.Multiline).Count);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Wrong_smarthost_credentials_defer_instead_of_bouncing()
    {
        await using var smarthost = await TestGateway.StartAsync(o => o.Domains = new() { "final.test" });
        smarthost.AddUser(Alice, "alice-at-smarthost");
        await using var gw = await Start(o =>
        {
            o.Delivery.DelayWarningSeconds = 1;
            o.Routes.Add(new RouteOptions { Domain = "final.test", Host = "127.0.0.1", Port = smarthost.SubmissionPort, Tls = OutboundTls.Required,
                Username = Alice, Password = "wrong-password" });
        });
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "x@final.test" }, Message("bad creds"));
        var notice = (await gw.WaitForMailAsync(Alice, timeoutSeconds: 30))[0];
        Assert.Contains("Action: delayed", notice);
        Assert.Contains("Status: 4.7.8", notice);
        Assert.Equal(1, gw.QueuedMessageCount());
    }

    [Fact]
    public async Task Notify_success_to_a_hop_without_dsn_gets_a_relayed_report()
    {
        await using var sink = new ScriptedSmtpServer { AdvertiseDsn = false };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "erin@remote.test" }, Message("want success"), "", "NOTIFY=SUCCESS");
        await sink.WaitForMessageAsync();
        var report = (await gw.WaitForMailAsync(Alice))[0];
        Assert.Contains("Action: relayed", report);
        Assert.Contains("Status: 2.0.0", report);
    }

    [Fact]
    public async Task Notify_never_suppresses_the_bounce()
    {
        await using var sink = new ScriptedSmtpServer { RcptReply = _ => "550 5.1.1 no such user" };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "nobody@remote.test" }, Message("silent"), "", "NOTIFY=NEVER");
        await gw.WaitForEmptyQueueAsync();
        await Task.Delay(500);
        Assert.Empty(gw.MailboxFiles(Alice));
    }

    [Fact]
    public async Task Mail_that_stays_undeliverable_gets_a_delay_notice_then_expires_with_a_bounce()
    {
        await using var sink = new ScriptedSmtpServer { DataReply = () => "452 4.2.2 mailbox full" };
        await using var gw = await Start(o =>
        {
            RouteTo(o, "remote.test", sink.Port);
            o.Delivery.DelayWarningSeconds = 1;
            o.Delivery.MaxQueueAgeSeconds = 5;
        });
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "full@remote.test" }, Message("keeps failing"));
        var reports = await gw.WaitForMailAsync(Alice, count: 2, timeoutSeconds: 30);
        var delay = reports.Single(r => r.Contains("Action: delayed"));
        Assert.Contains("Subject: Delayed Mail (still being retried)", delay);
        Assert.Contains("Status: 4.2.2", delay);
        Assert.Contains("Will-Retry-Until:", delay);
        var failed = reports.Single(r => r.Contains("Action: failed"));
        Assert.Contains("Status: 4.4.7", failed);
        Assert.Contains("expired", failed);
        await gw.WaitForEmptyQueueAsync();
        Assert.True(sink.Connections >= 2);
    }

    [Fact]
    public async Task Null_mx_and_nonexistent_domains_bounce_without_retrying()
    {
        await using var dns = new TestDnsServer().AddMx("nomail.test", 0, ".");
        await using var gw = await Start(o => o.Delivery.DnsServers = new() { $"127.0.0.1:{dns.Port}" });
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "x@nomail.test" }, Message("null mx"));
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "x@doesnotexist.test" }, Message("nxdomain"));
        var bounces = await gw.WaitForMailAsync(Alice, count: 2);
        Assert.Contains(bounces, b => b.Contains("Status: 5.1.10") && b.Contains("null MX"));
        Assert.Contains(bounces, b => b.Contains("Status: 5.1.2") && b.Contains("NXDOMAIN"));
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task A_bounce_that_cannot_be_delivered_is_not_bounced_again()
    {
        await using var sink = new ScriptedSmtpServer { RcptReply = _ => "550 5.1.1 no such user" };
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        // A null-sender message arriving for relay can only come from ourselves; enqueue one directly.
        var bytes = new MemoryStream(System.Text.Encoding.ASCII.GetBytes("Subject: a bounce\r\n\r\nx\r\n"));
        Assert.True(Gateway.Smtp.SmtpMailbox.TryParse("nobody@remote.test", out var to));
        await gw.Queue.EnqueueAsync(bytes, null, new[] { new Gateway.Smtp.SmtpRecipient(to, Gateway.Smtp.DsnNotify.None, null) }, "", CancellationToken.None);
        await gw.WaitForEmptyQueueAsync();
        Assert.Equal(0, gw.QueuedMessageCount());
        Assert.True(sink.Connections >= 1);
    }

    [Fact]
    public async Task Required_tls_defers_delivery_to_a_hop_without_starttls()
    {
        await using var sink = new ScriptedSmtpServer { AdvertiseStartTls = false };
        await using var gw = await Start(o =>
        {
            o.Routes.Add(new RouteOptions { Domain = "remote.test", Host = "127.0.0.1", Port = sink.Port, Tls = OutboundTls.Required });
            o.Delivery.DelayWarningSeconds = 1;
        });
        await gw.SubmitAsync(Alice, Password, Alice, new[] { "secure@remote.test" }, Message("needs tls"));
        var notice = (await gw.WaitForMailAsync(Alice, timeoutSeconds: 30))[0];
        Assert.Contains("Action: delayed", notice);
        Assert.Contains("Status: 4.7.5", notice);
        Assert.Empty(sink.Messages); // never sent in the clear
        // The message waits; the notice leaves the queue once its local delivery is recorded, a moment after it can be
        // read (a clean CI run counted it still queued).
        var settled = DateTime.UtcNow.AddSeconds(10);
        while (gw.QueuedMessageCount() > 1 && DateTime.UtcNow < settled) await Task.Delay(50);
        Assert.Equal(1, gw.QueuedMessageCount());
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Queued_mail_survives_a_restart_and_is_delivered_after_it()
    {
        var dead = Ports.Free(1)[0];
        var data = TempDirectory.Create("restart");
        await using (var first = await Start(o => { o.DataDirectory = data; RouteTo(o, "remote.test", dead); }))
        {
            first.KeepData = true;
            Assert.Equal(250, (await first.SubmitAsync(Alice, Password, Alice, new[] { "later@remote.test" }, Message("survives restart"))).Code);
            Assert.Equal(1, first.QueuedMessageCount());
        }
        await using var sink = new ScriptedSmtpServer(dead);
        await using var second = await TestGateway.StartAsync(o => { o.DataDirectory = data; RouteTo(o, "remote.test", dead); });
        var received = await sink.WaitForMessageAsync(30);
        Assert.Contains("Subject: survives restart", received.Text);
        await second.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task A_failure_whose_bounce_was_not_yet_queued_at_a_crash_is_reported_after_restart()
    {
        var data = TempDirectory.Create("unreported");
        await using (var first = await Start(o => o.DataDirectory = data))
        {
            first.KeepData = true;
            // Simulate the crash window: the outcome is on disk, the bounce is not.
            var message = await first.Queue.EnqueueAsync(new MemoryStream("Subject: lost bounce?\r\n\r\nx\r\n"u8.ToArray()),
                new Gateway.Smtp.SmtpMailbox("alice", "gateway.test"),
                new[] { new Gateway.Smtp.SmtpRecipient(new Gateway.Smtp.SmtpMailbox("gone", "remote.test"), Gateway.Smtp.DsnNotify.None, null) },
                "", CancellationToken.None);
            await first.App.StopAsync();
            message.Recipients[0].State = Gateway.Queue.RecipientState.Failed;
            message.Recipients[0].Status = "5.1.1";
            message.Recipients[0].Diagnostic = "remote said: 550 5.1.1 no such user";
            first.Queue.Save(message);
        }
        await using var second = await Start(o => o.DataDirectory = data);
        var bounce = (await second.WaitForMailAsync(Alice))[0];
        Assert.Contains("Status: 5.1.1", bounce);
        Assert.Contains("Subject: lost bounce?", bounce);
        await second.WaitForEmptyQueueAsync();
    }

    /// <summary>A message of <paramref name="megabytes"/> MB in 78-octet lines, some starting with a dot.</summary>
    static string LargeMessage(string subject, int megabytes)
    {
        var text = new System.Text.StringBuilder(megabytes * 1024 * 1024 + 1024);
        text.Append($"From: {Alice}\r\nTo: bob@remote.test\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\n");
        for (var i = 0; text.Length < megabytes * 1024 * 1024; i++)
            text.Append(i % 97 == 0 ? "." : "x").Append(i.ToString("D8")).Append(new string('y', 67)).Append("\r\n");
        return text.ToString();
    }

    [Fact]
    public async Task A_large_message_goes_byte_exact_over_tls_and_its_connection_then_serves_the_next()
    {
        // Over SmtpRelay.BlockingSendBytes the message is written with blocking writes on a thread of its own.
        await using var sink = new ScriptedSmtpServer();
        await using var gw = await Start(o => RouteTo(o, "remote.test", sink.Port));
        var large = LargeMessage("large", 3);
        Assert.True(large.Length > Gateway.Delivery.SmtpRelay.BlockingSendBytes);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, large)).Code);
        var received = await sink.WaitForMessageAsync(timeoutSeconds: 60);
        var text = received.Text;
        Assert.Equal(large, text[(text.IndexOf("\r\nFrom: ", StringComparison.Ordinal) + 2)..]); // dot-stuffing undone, nothing changed
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, Message("small after large"))).Code);
        Assert.Contains("Subject: small after large", (await sink.WaitForMessageAsync()).Text);
        Assert.Equal(1, sink.Connections);
        await gw.WaitForEmptyQueueAsync();
    }

    [Fact]
    public async Task Stopping_while_a_large_message_is_stuck_on_a_stalled_next_hop_is_prompt_and_keeps_the_message()
    {
        // A next hop that takes DATA and then reads nothing more: the blocking writes fill the socket buffers and stop.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Server.ReceiveBufferSize = 4096;
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var dataStarted = new TaskCompletionSource();
        var stalled = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var reader = new StreamReader(stream, System.Text.Encoding.ASCII);
            async Task Say(string line) => await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(line + "\r\n"));
            await Say("220 stalled.test ESMTP");
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("EHLO", StringComparison.OrdinalIgnoreCase)) await Say("250-stalled.test\r\n250 8BITMIME");
                else if (line.StartsWith("DATA", StringComparison.OrdinalIgnoreCase)) { await Say("354 go ahead"); dataStarted.TrySetResult(); break; }
                else await Say("250 ok");
            }
            await Task.Delay(TimeSpan.FromSeconds(90)); // holds the connection without reading
        });

        // Plain relay (no split, no TLS): the stalled hop offers no STARTTLS.
        var gw = await Start(o => { RouteTo(o, "remote.test", port); o.Delivery.Tls = OutboundTls.None; o.Courier.Split = false; });
        gw.KeepData = true;
        try
        {
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "bob@remote.test" }, LargeMessage("stalled", 12))).Code);
            await dataStarted.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(500);
            var stopping = System.Diagnostics.Stopwatch.StartNew();
            await gw.DisposeAsync();
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"stopping took {stopping.Elapsed}");
            // Not delivered, so still queued: the next start sends it again.
            Assert.Single(Directory.GetFiles(Path.Combine(gw.DataDirectory, "queue", "messages"), "*.json"));
        }
        finally
        {
            listener.Stop();
            try { Directory.Delete(gw.DataDirectory, recursive: true); } catch { }
        }
    }
}
