namespace Gateway.Tests.Support;

/// <summary>
/// A private Dovecot IMAP server (scripts/dovecot-instance.sh) on a free loopback port, with one user, no TLS and
/// the special-use mailboxes: the reference our IMAP server is compared with. Dispose stops it and deletes its directory.
/// </summary>
public sealed class DovecotInstance : IAsyncDisposable, IDisposable
{
    public static string Script => Path.Combine(AppContext.BaseDirectory, "scripts", "dovecot-instance.sh");

    public string Directory { get; }
    public int Port { get; private set; }
    public string User { get; }
    public string Password { get; }
    public string Host => "127.0.0.1";
    /// <summary>The instance's log (logins, errors), for failure messages.</summary>
    public string Log => File.Exists(Path.Combine(Directory, "dovecot.log")) ? File.ReadAllText(Path.Combine(Directory, "dovecot.log")) : "";

    bool _disposed;

    DovecotInstance(string directory, string user, string password)
    {
        Directory = directory;
        User = user;
        Password = password;
    }

    /// <summary>Starts an instance; fails (with the script's output and log tail) if Dovecot does not come up.</summary>
    public static async Task<DovecotInstance> StartAsync(string user = "alice@dovecot.test", string password = "alice-password")
    {
        ExternalTool.Require("dovecot");
        var instance = new DovecotInstance(TempDirectory.Create("dovecot"), user, password);
        // Ports.Free releases the port before Dovecot binds it; a test running in parallel may take it in between.
        for (var attempt = 1; ; attempt++)
        {
            instance.Port = Ports.Free(1)[0];
            var r = await ExternalTool.RunAsync("bash", new[] { Script, "start", instance.Directory, instance.Port.ToString(), user, password }, timeoutSeconds: 60);
            if (r.ExitCode == 0) return instance;
            if (attempt < 5 && r.StdErr.Contains("already in use", StringComparison.Ordinal)) continue;
            await instance.DisposeAsync();
            throw new InvalidOperationException($"dovecot-instance.sh start failed (exit {r.ExitCode}):\n{r.All}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await ExternalTool.RunAsync("bash", new[] { Script, "stop", Directory }, timeoutSeconds: 60);
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
