namespace Gateway.Platform;

/// <summary>
/// Named places where a crash is most harmful (between two durable steps). When the environment variable
/// <c>GATEWAY_CRASH_POINT</c> names one, the process dies there at once, as with kill -9 (no clean-up, no flush),
/// so that tests can prove recovery from exactly that state. Unset (always, in production) it costs one comparison.
/// </summary>
public static class CrashPoint
{
    static readonly string? Armed = Environment.GetEnvironmentVariable("GATEWAY_CRASH_POINT");


    public static void Hit(string name)
    {
        if (Armed is null || !string.Equals(Armed, name, StringComparison.Ordinal)) return;
        Console.Error.WriteLine($"crash point {name}: SIGKILL");
        Console.Error.Flush();
        // SIGKILL to ourselves: no ProcessExit handlers, no graceful host shutdown, exactly like kill -9.
        System.Diagnostics.Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite);
    }
}
