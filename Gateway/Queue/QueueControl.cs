using System.Text.Json;
using Gateway.Platform;

namespace Gateway.Queue;

/// <summary>What an operator asks of the queue: make messages due now (<c>retry</c>) or take one out (<c>delete</c>).</summary>
/// <param name="Id">The queue id; null for every message (retry only).</param>
public sealed record QueueRequest(string Verb, string? Id)
{
    public const string Retry = "retry";
    public const string Delete = "delete";
}

/// <summary>
/// How <c>gateway queue retry|delete</c> reach the queue of a running gateway, whose delivery worker holds the
/// queued envelopes in memory and saves them after each attempt (an envelope edited behind its back would be
/// overwritten). The running gateway holds <c>queue-control/running.lock</c> open exclusively; the command drops a
/// request file beside it and waits for the answer the worker writes. With no gateway running, the command changes the
/// files itself.
/// </summary>
public sealed class QueueControl : IDisposable
{
    readonly string _directory;
    readonly FileStream _lock;

    QueueControl(string directory, FileStream held) => (_directory, _lock) = (directory, held);

    /// <summary>Beside the queue, not in it: nothing stays open under <c>queue/</c>, which may be a file system of its own.</summary>
    public static string DirectoryOf(DataDirectory data) => Path.Combine(data.Root, "queue-control");

    static string LockPath(string directory) => Path.Combine(directory, "running.lock");

    /// <summary>Taken by the running gateway's delivery worker for as long as it runs.</summary>
    public static QueueControl Claim(DataDirectory data)
    {
        var directory = DirectoryOf(data);
        DurableFile.CreatePrivateDirectory(directory);
        foreach (var stale in Directory.EnumerateFiles(directory, "*.answer")) File.Delete(stale);
        return new QueueControl(directory, new FileStream(LockPath(directory), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
    }

    /// <summary>Whether a gateway runs on this data directory (it holds the lock).</summary>
    public static bool IsGatewayRunning(DataDirectory data)
    {
        var path = LockPath(DirectoryOf(data));
        if (!File.Exists(path)) return false;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>The requests waiting, oldest first.</summary>
    public IReadOnlyList<(string Name, QueueRequest Request)> Waiting()
    {
        var waiting = new List<(string, QueueRequest)>();
        foreach (var file in new DirectoryInfo(_directory).EnumerateFiles("*.request").OrderBy(f => f.LastWriteTimeUtc))
        {
            QueueRequest? request = null;
            try { request = JsonSerializer.Deserialize<QueueRequest>(File.ReadAllBytes(file.FullName)); }
            catch (Exception ex) when (ex is JsonException or IOException) { }
            var name = Path.GetFileNameWithoutExtension(file.Name);
            if (request is null) Answer(name, "the request could not be read");
            else waiting.Add((name, request));
        }
        return waiting;
    }

    /// <summary>Answers a request (the command that asked prints the answer) and takes it away.</summary>
    public void Answer(string name, string answer)
    {
        DurableFile.WriteAllBytesAtomic(Path.Combine(_directory, name + ".answer"), System.Text.Encoding.UTF8.GetBytes(answer));
        File.Delete(Path.Combine(_directory, name + ".request"));
    }

    /// <summary>Asks the running gateway; returns its answer, or null when none came within <paramref name="timeout"/>
    /// (the request is then withdrawn).</summary>
    public static string? Ask(DataDirectory data, QueueRequest request, TimeSpan timeout)
    {
        var directory = DirectoryOf(data);
        var name = Guid.NewGuid().ToString("N");
        var requestPath = Path.Combine(directory, name + ".request");
        var answerPath = Path.Combine(directory, name + ".answer");
        DurableFile.WriteAllBytesAtomic(requestPath, JsonSerializer.SerializeToUtf8Bytes(request));
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(answerPath))
            {
                var answer = File.ReadAllText(answerPath);
                File.Delete(answerPath);
                return answer;
            }
            Thread.Sleep(100);
        }
        File.Delete(requestPath);
        return null;
    }

    public void Dispose() => _lock.Dispose();
}
