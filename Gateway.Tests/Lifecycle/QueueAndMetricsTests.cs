using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Lifecycle;

/// <summary>
/// The operator's view of a running gateway (a real process): 'gateway queue list|show|retry|delete' act on its queue
/// through the delivery worker, and /metrics (Prometheus text) counts what happened, for allowed clients only.
/// </summary>
public sealed class QueueAndMetricsTests : IAsyncLifetime
{
    readonly string _data = TempDirectory.Create("queue-metrics");
    readonly int[] _ports = Ports.Free(3);
    readonly ScriptedSmtpServer _nextHop;
    GatewayProcess? _gateway;

    public QueueAndMetricsTests() => _nextHop = new ScriptedSmtpServer(_ports[1]) { RcptReply = _ => "451 4.3.0 try again later" };

    string WriteConfig() => WriteConfig(_data, _ports[0], _ports[1], _ports[2]);

    static string WriteConfig(string data, int delivery, int nextHop, int web)
    {
        var path = Path.Combine(data, "gateway.json");
        File.WriteAllText(path, $$"""
            {
              "Gateway": {
                "Hostname": "ops.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [ { "Name": "delivery", "Endpoint": "127.0.0.1:{{delivery}}", "Role": "Delivery", "Tls": "StartTls" } ],
                "Delivery": { "FirstRetrySeconds": 3600, "MaxRetrySeconds": 3600, "Tls": "None", "DnsServers": [ "127.0.0.1:9" ] },
                "Routes": [ { "Domain": "gateway.test", "Host": "127.0.0.1", "Port": {{nextHop}} } ],
                "Web": { "Endpoint": "127.0.0.1:{{web}}", "MetricsAllowedNetworks": [ "127.0.0.1/32" ] }
              }
            }
            """);
        return path;
    }

    async Task<string> SendAsync(string subject)
    {
        await using var c = await SmtpWire.ConnectAsync(_ports[0]);
        await c.HelloAsync(startTls: subject.Contains("tls"));
        await c.CommandAsync("MAIL FROM:<sender@example.org>");
        await c.CommandAsync("RCPT TO:<user@gateway.test>");
        await c.CommandAsync("DATA");
        var reply = await c.CommandAsync($"Subject: {subject}\r\n\r\nbody of {subject}\r\n.");
        Assert.Equal(250, reply.Code);
        await c.CommandAsync("QUIT");
        return reply.Text.Split(' ').Last();
    }

    Task<ToolResult> CliAsync(params string[] args) => GatewayProcess.RunCliAsync(_data, null, args.Concat(new[] { "--config", WriteConfig() }).ToArray());

    async Task<string> MetricsAsync(string from = "127.0.0.1")
    {
        var result = await ExternalTool.RunAsync("curl", new[] { "-sS", "-k", "--interface", from, "-w", "\n%{http_code}", $"https://127.0.0.1:{_ports[2]}/metrics" });
        return result.StdOut;
    }

    static double Value(string metrics, string series)
    {
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no series {series} in:\n{metrics}");
        return double.Parse(line![(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    async Task WaitAsync(Func<Task<bool>> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task The_operator_lists_retries_and_deletes_queued_mail_and_metrics_count_what_happened()
    {
        _gateway = GatewayProcess.Start(_data, WriteConfig());
        await _gateway.WaitForPortAsync(_ports[0]);
        await _gateway.WaitForPortAsync(_ports[2]);
        var first = await SendAsync("first over tls");
        var second = await SendAsync("second");
        var third = await SendAsync("third, to be deleted");

        // The next hop says 451: every message waits an hour for its next attempt.
        await WaitAsync(async () => Regex.Matches((await CliAsync("queue", "list")).StdOut, "attempts 1").Count == 3);
        var list = await CliAsync("queue", "list");
        Assert.Contains("3 message(s) queued, 3 recipient(s) pending", list.StdErr);
        Assert.Contains("451 4.3.0 try again later", list.StdOut);
        var show = await CliAsync("queue", "show", first);
        Assert.Contains($"id          {first}", show.StdOut);
        Assert.Contains("sender      <sender@example.org>", show.StdOut);
        Assert.Contains("user@gateway.test\tpending\tattempts 1", show.StdOut);
        Assert.DoesNotContain("body of", show.StdOut + list.StdOut); // never the content
        Assert.Equal(1, (await CliAsync("queue", "show", "0123456789abcdef")).ExitCode);

        var metrics = await MetricsAsync();
        Assert.EndsWith("200", metrics);
        Assert.Equal(3, Value(metrics, "gateway_smtp_messages_accepted_total{listener=\"delivery\"}"));
        Assert.Equal(3, Value(metrics, "gateway_delivery_outcomes_total{outcome=\"deferred\"}"));
        Assert.Equal(3, Value(metrics, "gateway_queue_messages{state=\"deferred\"}"));
        Assert.Equal(1, Value(metrics, "gateway_smtp_sessions_total{listener=\"delivery\",tls=\"yes\"}"));
        // Two sessions without TLS, and the start-up probe's connection.
        Assert.Equal(3, Value(metrics, "gateway_smtp_sessions_total{listener=\"delivery\",tls=\"no\"}"));
        Assert.Contains("# TYPE gateway_queue_messages gauge", metrics);
        Assert.True(Value(metrics, "gateway_process_resident_memory_bytes") > 0);
        var allocated = Value(metrics, "gateway_process_allocated_bytes");
        Assert.True(allocated > 0);
        // Only the allowed network may read them.
        Assert.EndsWith("403", await MetricsAsync(from: "127.0.0.2"));

        // Deleted: gone from the queue, never delivered, no report.
        var deleted = await CliAsync("queue", "delete", third);
        Assert.True(deleted.ExitCode == 0, deleted.All);
        Assert.Contains($"deleted {third}", deleted.StdOut);
        Assert.Equal(1, (await CliAsync("queue", "delete", third)).ExitCode);

        // The next hop takes mail again; without retry nothing would be tried for an hour.
        _nextHop.RcptReply = _ => "250 2.1.5 Ok";
        var retried = await CliAsync("queue", "retry", "--all");
        Assert.True(retried.ExitCode == 0, retried.All);
        Assert.Contains("2 message(s) due now", retried.StdOut);
        await WaitAsync(() => Task.FromResult(_nextHop.Messages.Count == 2));
        await WaitAsync(async () => (await CliAsync("queue", "list")).StdErr.Contains("0 message(s) queued"));
        Assert.DoesNotContain(_nextHop.Messages, m => m.Text.Contains("third, to be deleted"));

        metrics = await MetricsAsync();
        Assert.Equal(2, Value(metrics, "gateway_delivery_outcomes_total{outcome=\"delivered\"}"));
        Assert.Equal(2, Value(metrics, "gateway_delivery_latency_seconds_count"));
        Assert.Equal(2, Value(metrics, "gateway_delivery_latency_seconds_bucket{le=\"+Inf\"}"));
        Assert.Equal(0, Value(metrics, "gateway_queue_messages{state=\"queued\"}"));
        Assert.True(Value(metrics, "gateway_process_allocated_bytes") > allocated, "the allocation count only grows");
        Assert.Contains(_nextHop.Messages, m => m.Text.Contains("body of second"));
    }

    [Fact]
    public async Task Without_a_running_gateway_the_commands_change_the_queue_files_themselves()
    {
        _gateway = GatewayProcess.Start(_data, WriteConfig());
        await _gateway.WaitForPortAsync(_ports[0]);
        var id = await SendAsync("offline");
        await WaitAsync(async () => (await CliAsync("queue", "list")).StdOut.Contains("attempts 1"));
        await _gateway.DisposeAsync();
        _gateway = null;

        var retried = await CliAsync("queue", "retry", id);
        Assert.Contains("1 message(s) due now (the gateway is not running", retried.StdOut);
        Assert.Contains("\tattempts 1\tnext ", (await CliAsync("queue", "show", id)).StdOut);
        Assert.Contains($"deleted {id} (the gateway is not running)", (await CliAsync("queue", "delete", id)).StdOut);
        Assert.Contains("0 message(s) queued", (await CliAsync("queue", "list")).StdErr);
        Assert.Empty(Directory.GetFiles(Path.Combine(_data, "queue", "messages")));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime, not IAsyncDisposable: xunit 2 disposes a test class only through these (a process left running
    // by the first version of this class is how that was found).
    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        await _nextHop.DisposeAsync();
    }
}
