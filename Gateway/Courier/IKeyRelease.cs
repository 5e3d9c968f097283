namespace Gateway.Courier;

/// <summary>Why the Agent asks the Background for a recipient's ARM.</summary>
public enum ReleasePurpose
{
    /// <summary>To show the message's envelope and structure: not an open; refused once the message cannot be opened.</summary>
    Preview,
    /// <summary>To serve the body: counts as an open (and may trigger the sender's receipt).</summary>
    Open,
    /// <summary>Again within a session that has already opened it: not counted, allowed while not expired or revoked.</summary>
    Reopen,
}

public abstract record KeyRelease
{
    public sealed record Released(byte[] SealedArm) : KeyRelease;
    public sealed record NotArrived : KeyRelease;
    public sealed record Refused(string Reason) : KeyRelease;
}

/// <summary>
/// Where the Agent gets a recipient's ARM when a protected message is read: the Background, which decides by the
/// sender's restrictions and records the answer. In one process it is the <see cref="BackgroundElement"/> itself; with
/// the Background on another host, a signed request over HTTPS (<see cref="KeyReleaseRequest"/>).
/// </summary>
public interface IKeyRelease
{
    /// <summary>Asynchronous end to end: with the Background on another host the request crosses the network, and the
    /// IMAP session or portal page waiting for it holds no thread meanwhile.</summary>
    Task<KeyRelease> ReleaseAsync(string messageId, string recipient, ReleasePurpose purpose, CancellationToken cancellationToken = default);
}
