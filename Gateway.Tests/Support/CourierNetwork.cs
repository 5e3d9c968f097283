using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MimeKit;

namespace Gateway.Tests.Support;

/// <summary>
/// One courier of a test network: the real gateway in its own process, with its own data directory, configuration
/// and loopback ports (delivery, implicit-TLS submission, IMAPS, HTTPS), administered through the real CLI.
/// </summary>
public sealed class CourierNode : IAsyncDisposable
{
    public string Name { get; }
    public string DataDirectory { get; }
    public string ConfigPath { get; }
    public int DeliveryPort { get; }
    public int SubmissionPort { get; }
    public int ImapsPort { get; }
    public int WebPort { get; }
    public GatewayProcess? Process { get; private set; }
    public string Endpoint => $"127.0.0.1:{DeliveryPort}";
    public string Output => Process?.Output ?? "";

    /// <param name="ports">Four free ports (delivery, submission, IMAPS, HTTPS); take the ports of all nodes of a network at once, so they differ.</param>
    public CourierNode(string name, int[] ports)
    {
        Name = name;
        DataDirectory = TempDirectory.Create("courier-" + name.Split('.')[0]);
        ConfigPath = Path.Combine(DataDirectory, "..", Path.GetFileName(DataDirectory) + ".json");
        (DeliveryPort, SubmissionPort, ImapsPort, WebPort) = (ports[0], ports[1], ports[2], ports[3]);
    }

    /// <summary>A second delivery listener that peers send this courier's ARMs to (Courier:BackgroundEndpoint), if any.</summary>
    public int? BackgroundPort { get; private set; }

    /// <summary>Writes the configuration: its own domain, loopback listeners, static routes to the other couriers' domains.</summary>
    /// <param name="backgroundPort">Gives the Background its own delivery listener on this port, announced to peers.</param>
    /// <param name="gatewayExtra">More keys of the Gateway section, as JSON members ending with a comma (e.g. Roles).</param>
    public void Configure(IReadOnlyDictionary<string, int> routes, string courierExtra = "", int? backgroundPort = null, string gatewayExtra = "")
    {
        BackgroundPort = backgroundPort;
        var backgroundListener = backgroundPort is { } bp
            ? $",\n      {{ \"Name\": \"delivery-bg\", \"Endpoint\": \"127.0.0.1:{bp}\", \"Role\": \"Delivery\", \"Tls\": \"StartTls\" }}"
            : "";
        if (backgroundPort is { } port) courierExtra += $", \"BackgroundEndpoint\": \"127.0.0.1:{port}\"";
        var routeJson = string.Join(",\n", routes.Where(r => r.Key != Name).Select(r => $$"""{ "Domain": "{{r.Key}}", "Host": "127.0.0.1", "Port": {{r.Value}} }"""));
        File.WriteAllText(ConfigPath, $$"""
            {
              "Gateway": {
                "Hostname": "{{Name}}",
                "Domains": [ "{{Name}}" ],{{gatewayExtra}}
                "Listeners": [
                  { "Name": "delivery", "Endpoint": "127.0.0.1:{{DeliveryPort}}", "Role": "Delivery", "Tls": "StartTls" },
                  { "Name": "submissions", "Endpoint": "127.0.0.1:{{SubmissionPort}}", "Role": "Submission", "Tls": "Implicit" },
                  { "Name": "imaps", "Endpoint": "127.0.0.1:{{ImapsPort}}", "Role": "Imap", "Tls": "Implicit" }{{backgroundListener}}
                ],
                "Web": { "Endpoint": "127.0.0.1:{{WebPort}}", "PublicUrl": "https://127.0.0.1:{{WebPort}}" },
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 2, "Tls": "Opportunistic", "DnsServers": [ "127.0.0.1:9" ] },
                "Limits": { "AuthFailureDelayMilliseconds": 0 },
                "Courier": { "CreateRootOnFirstStart": false, "PendingCheckSeconds": 1, "PeerCrlMaxAgeSeconds": 2, "PeerFirstRetrySeconds": 1,
                             "Endpoint": "127.0.0.1:{{DeliveryPort}}"{{courierExtra}} },
                "Routes": [ {{routeJson}} ]
              }
            }
            """);
    }

    public async Task<ToolResult> CliAsync(string? stdin, params string[] args)
    {
        var result = await GatewayProcess.RunCliAsync(DataDirectory, stdin, args.Concat(new[] { "--config", ConfigPath }).ToArray());
        if (result.ExitCode != 0) throw new InvalidOperationException($"{Name}: gateway {string.Join(' ', args)} failed ({result.ExitCode}): {result.All}");
        return result;
    }

    public Task AddUserAsync(string address, string password) => CliAsync(password + "\n", "user", "add", address, "--password-stdin");

    /// <summary>
    /// Two couriers as operators set them up: <paramref name="root"/> starts a network of its own, <paramref name="below"/>
    /// joins under it with <paramref name="role"/> (request, signature, installation); each routes the other's domain to it.
    /// </summary>
    public static async Task JoinAsync(CourierNode root, CourierNode below, string role = "public")
    {
        root.Configure(new Dictionary<string, int> { [below.Name] = below.DeliveryPort });
        await root.CliAsync(null, "ca", "init", "--root");
        below.Configure(new Dictionary<string, int> { [root.Name] = root.DeliveryPort });
        var request = Path.Combine(below.DataDirectory, "..", Path.GetFileName(below.DataDirectory) + ".req");
        var chain = Path.Combine(below.DataDirectory, "..", Path.GetFileName(below.DataDirectory) + ".chain");
        await below.CliAsync(null, "ca", "request", "--out", request);
        await root.CliAsync(null, "ca", "sign", request, "--role", role, "--out", chain);
        await below.CliAsync(null, "ca", "install", chain, "--superior", root.Endpoint);
    }

    /// <summary>One unauthenticated SMTP transaction on the delivery listener, as another MTA would make it; the reply to the data.</summary>
    public async Task<WireReply> SendAsync(string from, string to, string data)
    {
        await using var c = await SmtpWire.ConnectAsync(DeliveryPort);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO sender.test");
        if ((await c.CommandAsync($"MAIL FROM:<{from}>")) is { Code: not 250 } mail) return mail;
        if ((await c.CommandAsync($"RCPT TO:<{to}>")) is { Code: not 250 } rcpt) return rcpt;
        if ((await c.CommandAsync("DATA")) is { Code: not 354 } dataReply) return dataReply;
        return await c.CommandAsync(data.Replace("\r\n.", "\r\n..") + ".");
    }

    public void Start()
    {
        Process = GatewayProcess.Start(DataDirectory, ConfigPath, "run");
    }

    /// <summary>Starts the gateway with extra environment (e.g. GATEWAY_CRASH_POINT); a running one must have ended.</summary>
    public async Task StartAsync(IDictionary<string, string> environment)
    {
        if (Process is not null) await Process.DisposeAsync();
        Process = GatewayProcess.Start(DataDirectory, ConfigPath, environment, "run");
    }

    public async Task WaitUntilListeningAsync()
    {
        await Process!.WaitForPortAsync(DeliveryPort, 60);
        await Process.WaitForPortAsync(ImapsPort, 60);
        await Process.WaitForPortAsync(WebPort, 60);
    }

    /// <summary>Waits until the process output has a line containing every one of <paramref name="parts"/>.</summary>
    public Task<string> WaitForLogAsync(int timeoutSeconds, params string[] parts) => Process!.WaitForLogAsync(Name, timeoutSeconds, parts);

    public Task<WireReply> SubmitAsync(string from, string password, string to, string message) =>
        TestGateway.SubmitAsync(SubmissionPort, from, password, from, new[] { to }, message);

    /// <summary>
    /// Reads the user's INBOX over IMAPS as a mail program does (full messages, so protected ones are opened) until a
    /// message matching <paramref name="match"/> is there; returns it.
    /// </summary>
    public async Task<(MimeMessage Message, string Text)> WaitForMessageAsync(string user, string password, Func<string, bool> match, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        var seen = new List<string>();
        while (DateTime.UtcNow < deadline)
        {
            using var client = await ImapClients.ConnectAsync(ImapsPort, user, password);
            var inbox = client.Inbox;
            await inbox.OpenAsync(FolderAccess.ReadOnly);
            seen.Clear();
            for (var i = 0; i < inbox.Count; i++)
            {
                var message = await inbox.GetMessageAsync(i);
                using var buffer = new MemoryStream();
                await message.WriteToAsync(buffer);
                var text = Encoding.UTF8.GetString(buffer.ToArray());
                seen.Add(message.Subject ?? "");
                if (match(text)) { await client.DisconnectAsync(true); return (message, text); }
            }
            await client.DisconnectAsync(true);
            await Task.Delay(300);
        }
        throw new TimeoutException($"{Name}: no matching message for {user} within {timeoutSeconds}s; INBOX has: {string.Join(" | ", seen)}\n{Output}");
    }

    /// <summary>The raw stored copy of the user's messages (headers as the Foreground stored them), via IMAP header fetch.</summary>
    public async Task<IList<HeaderList>> StoredHeadersAsync(string user, string password)
    {
        using var client = await ImapClients.ConnectAsync(ImapsPort, user, password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var result = new List<HeaderList>();
        for (var i = 0; i < client.Inbox.Count; i++) result.Add(await client.Inbox.GetHeadersAsync(i));
        await client.DisconnectAsync(true);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (Process is not null) await Process.DisposeAsync();
    }
}
