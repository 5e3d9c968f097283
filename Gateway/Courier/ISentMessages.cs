namespace Gateway.Courier;

/// <summary>A sender's protected messages as the Background records them: what the status page shows and revokes.</summary>
public interface ISentMessages
{
    /// <summary>The user's sent messages, newest first, at most <paramref name="max"/>, with each recipient's state.
    /// Asynchronous, like every call that may cross to the Background's host.</summary>
    Task<IReadOnlyList<SentMessageStatus>> SentByAsync(string user, int max, CancellationToken cancellationToken = default);

    /// <summary>Revokes one of the user's messages; false when there is no such message of theirs.</summary>
    Task<bool> RevokeAsync(string messageId, string user, CancellationToken cancellationToken = default);
}

/// <summary>The Background in this process.</summary>
public sealed class LocalSentMessages(BackgroundStore store, BackgroundElement background) : ISentMessages
{
    public Task<IReadOnlyList<SentMessageStatus>> SentByAsync(string user, int max, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<SentMessageStatus>>(store.SentBy(user, max).Select(m => SentMessageStatus.Of(store, m)).ToList());

    public Task<bool> RevokeAsync(string messageId, string user, CancellationToken cancellationToken = default) =>
        Task.FromResult(background.Revoke(messageId, user));
}
