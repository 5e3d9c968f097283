namespace Gateway.Storage.Mail;

/// <summary>What a user is shown for a protected message, and whether that was the message itself; for the message
/// whether its sender forbade forwarding, for a notice why it is shown instead. <see cref="Content"/> is seekable (the
/// opened original lives in a sealed working copy, not in memory); whoever asked for the view disposes it.</summary>
public sealed record ProtectedView(Stream Content, bool IsOriginal, bool NoForward = false, string? Reason = null) : IDisposable
{
    public long Length => Content.Length;

    /// <summary>The content from its start, as a stream whose disposal leaves the view open (read it as often as needed).</summary>
    public Stream Open()
    {
        Content.Position = 0;
        return new MimeKit.IO.BoundStream(Content, 0, -1, leaveOpen: true);
    }

    public void Dispose() => Content.Dispose();
}

/// <summary>
/// Turns a stored protected message (<see cref="MessageRecord.ProtectedId"/>) into what its owner may see: the
/// original octets, or a short readable notice when it cannot be opened (yet). Reading the body is an open;
/// envelope and structure are not.
/// </summary>
public interface IProtectedMessageReader
{
    /// <param name="countAsOpen">The body is being served and this session has not opened the message before.</param>
    /// <param name="openedInSession">This session opened it already: show it again without counting.</param>
    /// <remarks>Asynchronous: the key may come from a Background on another host.</remarks>
    Task<ProtectedView> ReadAsync(string user, MessageRecord message, bool countAsOpen, bool openedInSession, CancellationToken cancellationToken = default);
}
