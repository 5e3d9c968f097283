using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Support;

/// <summary>The real gateway executable in its own process, for crash (kill -9), CLI and start-up tests.</summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();

    public string Output { get { lock (_output) return _output.ToString(); } }
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    GatewayProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string GatewayDll
    {
        get
        {
            var local = Path.Combine(AppContext.BaseDirectory, "gateway.dll");
            if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "gateway.runtimeconfig.json"))) return local;
            var config = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
            var repo = AppContext.BaseDirectory[..AppContext.BaseDirectory.IndexOf("/Gateway.Tests/", StringComparison.Ordinal)];
            return Path.Combine(repo, "Gateway", "bin", config, "net10.0", "gateway.dll");
        }
    }

    public static GatewayProcess Start(string dataDirectory, string? configFile, params string[] args) =>
        Start(dataDirectory, configFile, new Dictionary<string, string>(), args);

    public static GatewayProcess Start(string dataDirectory, string? configFile, IDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(GatewayDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (configFile is not null) { psi.ArgumentList.Add("--config"); psi.ArgumentList.Add(configFile); }
        psi.Environment["GATEWAY_DATA_DIR"] = dataDirectory;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return new GatewayProcess(Process.Start(psi)!);
    }

    /// <summary>Runs a CLI verb to completion and returns its exit code and output.</summary>
    public static async Task<ToolResult> RunCliAsync(string dataDirectory, string? stdin, params string[] args)
    {
        var env = new Dictionary<string, string> { ["GATEWAY_DATA_DIR"] = dataDirectory };
        return await ExternalTool.RunAsync("dotnet", new[] { GatewayDll }.Concat(args), stdin, 60, env);
    }

    /// <summary>Waits until the output has a line containing every one of <paramref name="parts"/>; returns it.</summary>
    public async Task<string> WaitForLogAsync(string name, int timeoutSeconds, params string[] parts)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            var line = Output.Split('\n').FirstOrDefault(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)));
            if (line is not null) return line;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{name}: no log line with {string.Join(" + ", parts)} within {timeoutSeconds}s:\n{Output}");
    }

    public async Task WaitForPortAsync(int port, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"gateway exited with {_process.ExitCode}: {Output}");
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) { await Task.Delay(100); }
        }
        throw new TimeoutException($"gateway did not listen on {port}: {Output}");
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public void KillHard()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async Task<bool> WaitForExitAsync(int timeoutSeconds)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await _process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        await Task.CompletedTask;
        _process.Dispose();
    }

    /// <summary>A configuration file for a process test that delivers into local mailboxes: a delivery listener and
    /// IMAP over implicit TLS, the served domain gateway.test.</summary>
    public static string WriteLocalConfig(string directory, int deliveryPort, int imapsPort)
    {
        var path = Path.Combine(directory, "gateway.json");
        File.WriteAllText(path, $$"""
            {
              "Gateway": {
                "Hostname": "local.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [
                  { "Name": "delivery", "Endpoint": "127.0.0.1:{{deliveryPort}}", "Role": "Delivery", "Tls": "StartTls" },
                  { "Name": "imaps", "Endpoint": "127.0.0.1:{{imapsPort}}", "Role": "Imap", "Tls": "Implicit" }
                ],
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 1, "DnsServers": [ "127.0.0.1:9" ] },
                "Web": { "Endpoint": "" }
              }
            }
            """);
        return path;
    }

    /// <summary>A configuration file for a process test: one delivery listener, the served domain routed to a next hop.</summary>
    /// <param name="webPort">The HTTPS listener's port (/health, /metrics), or 0 for none.</param>
    public static string WriteConfig(string directory, int deliveryPort, int nextHopPort, string extraLimits = "", int webPort = 0)
    {
        var path = Path.Combine(directory, "gateway.json");
        File.WriteAllText(path, $$"""
            {
              "Gateway": {
                "Hostname": "crash.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [ { "Name": "delivery", "Endpoint": "127.0.0.1:{{deliveryPort}}", "Role": "Delivery", "Tls": "StartTls" } ],
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 1, "Tls": "None", "DnsServers": [ "127.0.0.1:9" ] },
                "Routes": [ { "Domain": "gateway.test", "Host": "127.0.0.1", "Port": {{nextHopPort}} } ],
                "Web": { "Endpoint": "{{(webPort == 0 ? "" : $"127.0.0.1:{webPort}")}}" }{{extraLimits}}
              }
            }
            """);
        return path;
    }
}
