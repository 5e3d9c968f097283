using System.Diagnostics;

namespace Gateway.Tests.Support;

public sealed record ToolResult(int ExitCode, string StdOut, string StdErr)
{
    public string All => StdOut + "\n" + StdErr;
}

/// <summary>Runs a real peer program (swaks, curl, msmtp, openssl, postfix scripts). A missing tool fails the test: .ci/run installs them.</summary>
public static class ExternalTool
{
    public static void Require(string name)
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Concat(new[] { "/usr/sbin", "/sbin" })
            .Any(dir => File.Exists(Path.Combine(dir, name)));
        Assert.True(found, $"{name} is not installed; run 'bash .ci/setup' (apt-get install) before the tests");
    }

    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> args, string? stdin = null, int timeoutSeconds = 60, IDictionary<string, string>? environment = null)
    {
        Require(file);
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.Environment["PATH"] = (Environment.GetEnvironmentVariable("PATH") ?? "") + ":/usr/sbin:/sbin";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutSeconds}s; output so far: {await stdout}{await stderr}");
        }
        return new ToolResult(process.ExitCode, await stdout, await stderr);
    }
}
