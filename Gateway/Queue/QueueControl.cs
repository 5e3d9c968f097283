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
        var path = LockPath(requests.Path);
        return new QueueControl(requests, ProcessLock.TryHold(path, TimeSpan.Zero)
                                          ?? throw new IOException($"{path} is held by another gateway running on this data directory"));
    }

    /// <summary>Whether a gateway runs on this data directory (it holds the lock).</summary>
    public static bool IsGatewayRunning(DataDirectory data) => ProcessLock.IsHeld(LockPath(DirectoryOf(data)));

    /// <summary>Answers the operators' requests while the gateway runs (the command that asked prints the answer):
    /// each with what <paramref name="apply"/> says, one that cannot be read with so.</summary>
    public Task ServeAsync(Func<QueueRequest, string> apply, Action<string, IOException> failed, CancellationToken stoppingToken) =>
        _requests.ServeAsync(bytes =>
        {
            QueueRequest? request = null;
            try { request = bytes is null ? null : JsonSerializer.Deserialize<QueueRequest>(bytes); }
            catch (JsonException) { }
            return System.Text.Encoding.UTF8.GetBytes(request is null ? "the request could not be read" : apply(request));
        }, failed, stoppingToken);

    /// <summary>Asks the running gateway; returns its answer, or null when none came within <paramref name="timeout"/>
    /// (the request is then withdrawn).</summary>
    public static string? Ask(DataDirectory data, QueueRequest request, TimeSpan timeout) =>
        ControlDirectory.Ask(DirectoryOf(data), JsonSerializer.SerializeToUtf8Bytes(request), timeout) is { } answer
            ? System.Text.Encoding.UTF8.GetString(answer) : null;

    public void Dispose() => _lock.Dispose();
}
