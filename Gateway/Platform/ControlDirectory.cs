namespace Gateway.Platform;

/// <summary>
/// How an admin verb asks a running gateway to act on state only the gateway may touch while it runs: the verb drops a
/// request file (<c>NAME.request</c>) in the directory and waits for the answer file (<c>NAME.answer</c>) the gateway
/// writes, then takes both away. Requests and answers are small JSON or text; neither carries message content.
/// Whether a gateway runs is for the caller to know (a lock the gateway holds).
/// </summary>
public sealed class ControlDirectory
{
    readonly string _directory;

    /// <summary>The gateway's side (see <see cref="ServeAsync"/>): stale answers of an earlier run are removed.</summary>
    public ControlDirectory(string directory)
    {
        _directory = directory;
        DurableFile.CreatePrivateDirectory(directory);
        foreach (var stale in Directory.EnumerateFiles(directory, "*.answer")) File.Delete(stale);
    }

    public string Path => _directory;

    /// <summary>
    /// The gateway's side, for as long as it runs: every half second, each waiting request (oldest first; null for one
    /// that could not be read) gets the answer <paramref name="answer"/> makes, and is taken away. An answer that
    /// cannot be written is reported to <paramref name="failed"/> and the request stays for the next look.
    /// </summary>
    public async Task ServeAsync(Func<byte[]?, byte[]> answer, Action<string, IOException> failed, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                foreach (var file in new DirectoryInfo(_directory).EnumerateFiles("*.request").OrderBy(f => f.LastWriteTimeUtc))
                {
                    var name = System.IO.Path.GetFileNameWithoutExtension(file.Name);
                    byte[]? request = null;
                    try { request = File.ReadAllBytes(file.FullName); }
                    catch (IOException) { }
                    try
                    {
                        DurableFile.WriteAllBytesAtomic(System.IO.Path.Combine(_directory, name + ".answer"), answer(request));
                        File.Delete(file.FullName);
                    }
                    catch (IOException ex)
                    {
                        failed(name, ex);
                    }
                }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>The verb's side: asks the running gateway; returns its answer, or null when none came within
    /// <paramref name="timeout"/> (the request is then withdrawn).</summary>
    public static byte[]? Ask(string directory, byte[] request, TimeSpan timeout)
    {
        DurableFile.CreatePrivateDirectory(directory);
        var name = Guid.NewGuid().ToString("N");
        var requestPath = System.IO.Path.Combine(directory, name + ".request");
        var answerPath = System.IO.Path.Combine(directory, name + ".answer");
        DurableFile.WriteAllBytesAtomic(requestPath, request);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(answerPath))
            {
                var answer = File.ReadAllBytes(answerPath);
                File.Delete(answerPath);
                return answer;
            }
            Thread.Sleep(100);
        }
        File.Delete(requestPath);
        return null;
    }
}
