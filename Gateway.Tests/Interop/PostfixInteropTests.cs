using System.Text;
using Gateway.Tests.Support;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Tests.Interop;

/// <summary>Postfix, a neighbouring MTA nobody here wrote, as our next hop and as a sender to our delivery port.</summary>
[Collection("postfix")]
public class PostfixInteropTests
{
    static string Script => Path.Combine(AppContext.BaseDirectory, "scripts", "postfix-instance.sh");

    sealed class PostfixInstance : IAsyncDisposable
    {
        public string Directory { get; } = TempDirectory.Create("postfix");
        public int Port { get; } = Ports.Free(1)[0];

        public async Task StartAsync(string? relayHost = null)
        {
            var args = new List<string> { Script, "start", Directory, Port.ToString() };
            if (relayHost is not null) args.Add(relayHost);
            var r = await ExternalTool.RunAsync("bash", args, timeoutSeconds: 90);
            Assert.True(r.ExitCode == 0, "postfix did not start: " + r.All);
        }

        public string Log => File.Exists(Path.Combine(Directory, "postfix.log")) ? File.ReadAllText(Path.Combine(Directory, "postfix.log")) : "";

        public async Task<string> WaitForMaildirAsync(string localPart, int timeoutSeconds = 60)
        {
            var dir = Path.Combine(Directory, "maildir", localPart, "new");
            var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
            while (DateTime.UtcNow < deadline)
            {
                if (System.IO.Directory.Exists(dir) && System.IO.Directory.GetFiles(dir) is { Length: > 0 } files)
                    return await File.ReadAllTextAsync(files[0]);
                await Task.Delay(200);
            }
            throw new TimeoutException($"nothing delivered to {localPart}@postfix.test; postfix log:\n{Log}");
        }

        public async ValueTask DisposeAsync()
        {
            await ExternalTool.RunAsync("bash", new[] { Script, "stop", Directory }, timeoutSeconds: 60);
        }
    }

    [Fact]
    public async Task Gateway_relays_to_postfix_and_the_delivered_bytes_are_the_original_plus_our_received_header()
    {
        ExternalTool.Require("postfix");
        await using var postfix = new PostfixInstance();
        await postfix.StartAsync();
        await using var gw = await TestGateway.StartAsync(o =>
            o.Routes.Add(new RouteOptions { Domain = "postfix.test", Host = "127.0.0.1", Port = postfix.Port }));
        gw.AddUser("alice@gateway.test", "alice-password");

        var original =
            "From: Alice <alice@gateway.test>\r\n" +
            "To: Bob <bob@postfix.test>\r\n" +
            "Subject: =?utf-8?q?interop_=C3=A9?= with a deliberately long subject line that is folded\r\n" +
            "\tacross two lines\r\n" +
            $"Message-ID: <{Guid.NewGuid():N}@gateway.test>\r\n" +
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
            "\r\n" +
            "preamble\r\n" +
            "--b1\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "caf\u00e9 cr\u00e8me\r\n" +
            ".a line starting with a dot\r\n" +
            "trailing spaces   \r\n" +
            "--b1\r\n" +
            "Content-Type: application/octet-stream\r\n" +
            "Content-Transfer-Encoding: base64\r\n" +
            "\r\n" +
            Convert.ToBase64String(Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray(), Base64FormattingOptions.InsertLineBreaks) + "\r\n" +
            "--b1--\r\n" +
            "epilogue\r\n";
        var reply = await gw.SubmitAsync("alice@gateway.test", "alice-password", "alice@gateway.test", new[] { "bob@postfix.test" }, original, "BODY=8BITMIME");
        Assert.Equal(250, reply.Code);

        var delivered = await postfix.WaitForMaildirAsync("bob");
        // Postfix logs the delivery through its log daemon, which may write the line after the Maildir file exists.
        for (var waited = 0; waited < 100 && !postfix.Log.Contains("status=sent"); waited++) await Task.Delay(100);
        Assert.Contains("status=sent", postfix.Log);
        // Postfix keeps its own trace headers above ours and stores lines with LF; below our Received:
        // the message must be exactly what alice sent.
        var lf = delivered.Replace("\r\n", "\n");
        var ours = lf.IndexOf("by mx.gateway.test (Gateway)", StringComparison.Ordinal);
        Assert.True(ours > 0, "our Received: header is missing:\n" + delivered);
        var afterOurs = lf.IndexOf("\nFrom: Alice", ours, StringComparison.Ordinal);
        Assert.Equal(original.Replace("\r\n", "\n"), lf[(afterOurs + 1)..]);
        Assert.Contains("Received: from mx.gateway.test", lf); // Postfix's own, naming us
    }

    [Fact]
    public async Task Postfix_delivers_to_the_gateway_delivery_port_over_starttls()
    {
        ExternalTool.Require("postfix");
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser("carol@gateway.test", "carol-password");
        await using var postfix = new PostfixInstance();
        await postfix.StartAsync(relayHost: $"127.0.0.1:{gw.DeliveryPort}");

        var body = string.Concat(Enumerable.Range(0, 500).Select(i => $"line {i} of a message that postfix relays\r\n"));
        var r = await ExternalTool.RunAsync("swaks", new[]
        {
            "--server", $"127.0.0.1:{postfix.Port}", "--from", "sender@postfix.test", "--to", "carol@gateway.test",
            "--header", "Subject: from postfix", "--body", body,
        });
        Assert.True(r.ExitCode == 0, r.All);

        var mail = (await gw.WaitForMailAsync("carol@gateway.test", timeoutSeconds: 60))[0];
        Assert.Contains("Subject: from postfix", mail);
        Assert.Contains("line 499 of a message that postfix relays", mail);
        Assert.Contains("by mx.gateway.test (Gateway) with ESMTPS", mail.Replace("\r\n\t", " ")); // Postfix chose STARTTLS
        Assert.Contains("from postfix.test ([127.0.0.1])", mail);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!postfix.Log.Contains("status=sent") && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Contains($"relay=127.0.0.1[127.0.0.1]:{gw.DeliveryPort}", postfix.Log);
        Assert.Contains("status=sent (250 2.0.0 Ok: queued as", postfix.Log);
    }

    [Fact]
    public async Task Postfix_gets_a_permanent_refusal_for_an_unknown_user_and_bounces()
    {
        ExternalTool.Require("postfix");
        await using var gw = await TestGateway.StartAsync();
        await using var postfix = new PostfixInstance();
        await postfix.StartAsync(relayHost: $"127.0.0.1:{gw.DeliveryPort}");
        var r = await ExternalTool.RunAsync("swaks", new[]
        {
            "--server", $"127.0.0.1:{postfix.Port}", "--from", "sender@postfix.test", "--to", "nobody@gateway.test", "--header", "Subject: to nobody",
        });
        Assert.True(r.ExitCode == 0, r.All);
        var bounce = System.Text.RegularExpressions.Regex.Replace(await postfix.WaitForMaildirAsync("sender"), @"\r?\n[ \t]+", " ");
        Assert.Contains("550 5.1.1 Recipient <nobody@gateway.test> does not exist here", bounce);
        Assert.Contains("status=bounced", postfix.Log);
    }
}
