namespace Gateway.Platform;

/// <summary>
/// A file held open exclusively as a lock: the running gateway's hold on its queue requests, a process's hold on the
/// Background's store. On Linux .NET takes an exclusive <c>flock</c> for <see cref="FileShare.None"/>, so a second
/// holder is refused whether it is another process or another open in this one. The file stays empty.
/// </summary>
public static class ProcessLock
{
    /// <summary>Holds <paramref name="path"/> (created if missing), waiting up to <paramref name="wait"/> while another
    /// holds it; null when it is still held then. Disposing the stream lets go.</summary>
    public static FileStream? TryHold(string path, TimeSpan wait)
    {
        var deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(path))
            {
                if (Environment.TickCount64 >= deadline) return null;
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Whether someone holds <paramref name="path"/> now (no file: no one).</summary>
    public static bool IsHeld(string path)
    {
        if (!File.Exists(path)) return false;
        using var probe = TryHold(path, TimeSpan.Zero);
        return probe is null;
    }
}
