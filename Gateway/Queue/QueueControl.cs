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
    readonly ControlDirectory _requests;
    readonly FileStream _lock;

    QueueControl(ControlDirectory requests, FileStream held) => (_requests, _lock) = (requests, held);

    /// <summary>Beside the queue, not in it: nothing stays open under <c>queue/</c>, which may be a file system of its own.</summary>
    public static string DirectoryOf(DataDirectory data) => Path.Combine(data.Root, "queue-control");

    static string LockPath(string directory) => Path.Combine(directory, "running.lock");

    /// <summary>Taken by the running gateway's delivery worker for as long as it runs.</summary>
    public static QueueControl Claim(DataDirectory data)
    {
        var requests = new ControlDirectory(DirectoryOf(data));
        return new QueueControl(requests, new FileStream(LockPath(requests.Path), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
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

    /// <summary>The requests waiting, oldest first; one that cannot be read is answered so at once.</summary>
    public IReadOnlyList<(string Name, QueueRequest Request)> Waiting()
    {
        var waiting = new List<(string, QueueRequest)>();
        foreach (var (name, bytes) in _requests.Waiting())
        {
            QueueRequest? request = null;
            try { request = bytes is null ? null : JsonSerializer.Deserialize<QueueRequest>(bytes); }
            catch (JsonException) { }
            if (request is null) Answer(name, "the request could not be read");
            else waiting.Add((name, request));
        }
        return waiting;
    }

    /// <summary>Answers a request (the command that asked prints the answer) and takes it away.</summary>
    public void Answer(string name, string answer) => _requests.Answer(name, System.Text.Encoding.UTF8.GetBytes(answer));

    /// <summary>Asks the running gateway; returns its answer, or null when none came within <paramref name="timeout"/>
    /// (the request is then withdrawn).</summary>
    public static string? Ask(DataDirectory data, QueueRequest request, TimeSpan timeout) =>
        ControlDirectory.Ask(DirectoryOf(data), JsonSerializer.SerializeToUtf8Bytes(request), timeout) is { } answer
            ? System.Text.Encoding.UTF8.GetString(answer) : null;

    public void Dispose() => _lock.Dispose();
}
