using Gateway.Configuration;
using Gateway.Delivery;
using Gateway.Hosting;
using Gateway.Queue;
using Gateway.Storage;
using Gateway.Storage.Mail;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Support;

/// <summary>The real Gateway host, in-process, on loopback ports chosen for the test, with its own data directory.</summary>
public sealed class TestGateway : IAsyncDisposable
{
    public const string Domain = "gateway.test";
    public GatewayOptions Options { get; }
    public WebApplication App { get; }
    public int DeliveryPort { get; }
    public int SubmissionPort { get; }
    public int ImplicitTlsPort { get; }
    public int HttpsPort { get; }
    /// <summary>IMAP with STARTTLS.</summary>
    public int ImapPort { get; }
    /// <summary>IMAP over implicit TLS (the 993 role).</summary>
    public int ImapsPort { get; }
    public string DataDirectory => Options.DataDirectory;
    public IUserStore Users => App.Services.GetRequiredService<IUserStore>();
    public MessageQueue Queue => App.Services.GetRequiredService<MessageQueue>();
    public MailStore MailStore => App.Services.GetRequiredService<MailStore>();

    TestGateway(GatewayOptions options, WebApplication app, int[] ports)
    {
        Options = options;
        App = app;
        (DeliveryPort, SubmissionPort, ImplicitTlsPort, HttpsPort, ImapPort, ImapsPort) = (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
    }

    public static GatewayOptions DefaultOptions(string? dataDirectory = null, int[]? ports = null)
    {
        ports ??= Ports.Free(6);
        return new GatewayOptions
        {
            Hostname = "mx.gateway.test",
            DataDirectory = dataDirectory ?? TempDirectory.Create("gw"),
            Domains = new() { Domain },
            Listeners = new()
            {
                new() { Name = "delivery", Endpoint = $"127.0.0.1:{ports[0]}", Role = ListenerRole.Delivery, Tls = TlsMode.StartTls },
                new() { Name = "submission", Endpoint = $"127.0.0.1:{ports[1]}", Role = ListenerRole.Submission, Tls = TlsMode.StartTls },
                new() { Name = "submissions", Endpoint = $"127.0.0.1:{ports[2]}", Role = ListenerRole.Submission, Tls = TlsMode.Implicit },
                new() { Name = "imap", Endpoint = $"127.0.0.1:{ports[4]}", Role = ListenerRole.Imap, Tls = TlsMode.StartTls },
                new() { Name = "imaps", Endpoint = $"127.0.0.1:{ports[5]}", Role = ListenerRole.Imap, Tls = TlsMode.Implicit },
            },
            Limits = new() { AuthFailureDelayMilliseconds = 50 },
            Delivery = new()
            {
                DnsServers = new() { "127.0.0.1:9" }, // nothing answers: tests that need DNS bring their own server
                FirstRetrySeconds = 1,
                MaxRetrySeconds = 2,
                ConnectTimeoutSeconds = 5,
                CommandTimeoutSeconds = 20,
                Tls = OutboundTls.Opportunistic,
            },
            Web = new() { Endpoint = $"127.0.0.1:{ports[3]}", PublicUrl = $"https://mx.gateway.test:{ports[3]}" },
            // Tests of the relay path see a local user's outside mail leave as it is (over TLS); the portal's tests set
            // Outside back to null, the shipped default (SmimeOrPortal here).
            Courier = new() { Outside = OutsideDelivery.SmimeOrTls },
            ShutdownTimeoutSeconds = 10,
        };
    }

    /// <param name="logging">Extra logging set-up, e.g. a provider that keeps every line for inspection.</param>
    public static async Task<TestGateway> StartAsync(Action<GatewayOptions>? configure = null, Action<ILoggingBuilder>? logging = null)
    {
        var dataDirectory = TempDirectory.Create("gw");
        for (var attempt = 1; ; attempt++)
        {
            // Ports.Free releases its ports before the host binds them, so a test running in parallel can take one
            // in between: then bind again on fresh ports (same data directory).
            var ports = Ports.Free(6);
            var options = DefaultOptions(dataDirectory, ports);
            configure?.Invoke(options);
            var problems = GatewayOptionsValidator.Validate(options);
            if (problems.Count > 0) throw new InvalidOperationException(string.Join("\n", problems));
            var app = GatewayHost.Build(options, configureLogging: builder =>
            {
                builder.SetMinimumLevel(
                Environment.GetEnvironmentVariable("GATEWAY_TEST_LOG") is { } level ? Enum.Parse<LogLevel>(level) : LogLevel.Warning);
                logging?.Invoke(builder);
            });
            try
            {
                await app.StartAsync();
                return new TestGateway(options, app, ports);
            }
            catch (IOException ex) when (attempt < 5 && ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await app.DisposeAsync();
            }
        }
    }

    /// <summary>Adds a user with cheap Argon2 parameters (tests do not need the production cost).</summary>
    public void AddUser(string address, string password) =>
        Users.Add(address, PasswordHasher.Hash(password, memoryKiB: 1024, iterations: 1));

    public string[] MailboxFiles(string address)
    {
        // The blob files of the INBOX messages, in UID order.
        var store = App.Services.GetRequiredService<MailStore>();
        var inbox = store.Find(address, "INBOX");
        return inbox is null ? Array.Empty<string>() : store.Messages(inbox.Id).Select(m => store.Blobs.PathOf(m.BlobId)).ToArray();
    }

    /// <summary>
    /// The INBOX messages as the user would read them: protected ones opened by the Agent (without counting an open);
    /// protected messages that are not readable (their ARM has not arrived, or they expired) are left out.
    /// </summary>
    public string[]? ReadableMail(string address)
    {
        var store = App.Services.GetRequiredService<MailStore>();
        var reader = App.Services.GetRequiredService<IProtectedMessageReader>();
        var inbox = store.Find(address, "INBOX");
        if (inbox is null) return Array.Empty<string>();
        var result = new List<string>();
        foreach (var m in store.Messages(inbox.Id))
        {
            if (m.ProtectedId is null)
            {
                using var content = new StreamReader(store.OpenContent(m));
                result.Add(content.ReadToEnd());
                continue;
            }
            // In one process the Background answers at once: the task is complete when it returns.
            using var view = reader.ReadAsync(address, m, countAsOpen: false, openedInSession: true).GetAwaiter().GetResult();
            if (!view.IsOriginal) continue; // not readable (yet, or any more): not counted
            using var text = new StreamReader(view.Open(), System.Text.Encoding.UTF8);
            result.Add(text.ReadToEnd());
        }
        return result.ToArray();
    }

    /// <summary>Waits until the user's INBOX holds at least <paramref name="count"/> receipts from the Background; returns their texts.</summary>
    public async Task<string[]> ReceiptsAsync(string address, int count, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        string[] receipts;
        do
        {
            receipts = (ReadableMail(address) ?? Array.Empty<string>()).Where(m => m.Contains("X-Gateway-Receipt-For:")).ToArray();
            if (receipts.Length >= count) return receipts;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);
        if (count == 0) return receipts;
        throw new TimeoutException($"{address} has {receipts.Length} receipt(s), expected {count} within {timeoutSeconds}s");
    }

    /// <summary>Waits until the mailbox holds at least <paramref name="count"/> messages; returns their contents.</summary>
    public async Task<string[]> WaitForMailAsync(string address, int count = 1, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            var shown = ReadableMail(address);
            if (shown is not null && shown.Length >= count) return shown;
            await Task.Delay(50);
        }
        throw new TimeoutException($"mailbox {address} has {MailboxFiles(address).Length} message(s), expected {count} within {timeoutSeconds}s");
    }

    /// <summary>Leave the data directory on disk after disposal (for restart tests).</summary>
    public bool KeepData { get; set; }

    /// <summary>Submits over implicit TLS with AUTH PLAIN, as a mail program would; returns the final reply.</summary>
    public Task<WireReply> SubmitAsync(string user, string password, string from, IEnumerable<string> to, string message,
        string mailParameters = "", string rcptParameters = "") =>
        SubmitAsync(ImplicitTlsPort, user, password, from, to, message, mailParameters, rcptParameters);

    /// <summary>The same against any gateway's implicit-TLS submission port (for gateways in their own process).</summary>
    public static async Task<WireReply> SubmitAsync(int implicitTlsPort, string user, string password, string from, IEnumerable<string> to, string message,
        string mailParameters = "", string rcptParameters = "")
    {
        await using var c = await SmtpWire.ConnectAsync(implicitTlsPort, implicitTls: true);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO client.test");
        var auth = await c.AuthPlainAsync(user, password);
        if (auth.Code != 235) throw new InvalidOperationException("AUTH: " + auth);
        var mail = await c.CommandAsync($"MAIL FROM:<{from}>{(mailParameters.Length > 0 ? " " + mailParameters : "")}");
        if (mail.Code != 250) return mail;
        foreach (var rcpt in to)
        {
            var r = await c.CommandAsync($"RCPT TO:<{rcpt}>{(rcptParameters.Length > 0 ? " " + rcptParameters : "")}");
            if (r.Code != 250) throw new InvalidOperationException("RCPT: " + r);
        }
        var data = await c.CommandAsync("DATA");
        if (data.Code != 354) return data;
        return await c.CommandAsync(message.Replace("\r\n.", "\r\n..") + ".");
    }

    public int QueuedMessageCount() => Directory.GetFiles(Queue.MessagesDirectory, "*.json").Length;

    public async Task WaitForEmptyQueueAsync(int timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (QueuedMessageCount() > 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"queue still holds {QueuedMessageCount()} message(s)");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await App.StopAsync(); } catch { }
        await App.DisposeAsync();
        if (!KeepData) try { Directory.Delete(DataDirectory, recursive: true); } catch { }
    }
}

public static class TempDirectory
{
    public static string Create(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"gateway-tests-{prefix}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(path);
        return path;
    }
}
