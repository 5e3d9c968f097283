namespace Gateway.Storage.Mail;

/// <summary>What a user is shown for a protected message, and whether that was the message itself; for the message
/// whether its sender forbade forwarding, for a notice why it is shown instead.</summary>
public sealed record ProtectedView(byte[] Octets, bool IsOriginal, bool NoForward = false, string? Reason = null);

/// <summary>
/// Turns a stored protected message (<see cref="MessageRecord.ProtectedId"/>) into what its owner may see: the
/// original octets, or a short readable notice when it cannot be opened (yet). Reading the body is an open;
/// envelope and structure are not.
/// </summary>
public interface IProtectedMessageReader
{
    /// <param name="countAsOpen">The body is being served and this session has not opened the message before.</param>
    /// <param name="openedInSession">This session opened it already: show it again without counting.</param>
    ProtectedView Read(string user, MessageRecord message, bool countAsOpen, bool openedInSession);
}
