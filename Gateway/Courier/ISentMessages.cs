namespace Gateway.Courier;

/// <summary>A sender's protected messages as the Background records them: what the status page shows and revokes.</summary>
public interface ISentMessages
{
    /// <summary>The user's sent messages, newest first, at most <paramref name="max"/>, with each recipient's state.</summary>
    IReadOnlyList<SentMessageStatus> SentBy(string user, int max);

    /// <summary>Revokes one of the user's messages; false when there is no such message of theirs.</summary>
    bool Revoke(string messageId, string user);
}

/// <summary>The Background in this process.</summary>
public sealed class LocalSentMessages(BackgroundStore store, BackgroundElement background) : ISentMessages
{
    public IReadOnlyList<SentMessageStatus> SentBy(string user, int max) => store.SentBy(user, max).Select(m => SentMessageStatus.Of(store, m)).ToList();

    public bool Revoke(string messageId, string user) => background.Revoke(messageId, user);
}
