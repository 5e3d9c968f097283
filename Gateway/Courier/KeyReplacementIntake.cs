using Gateway.Crypto;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// Where the Agent takes Key Replacement messages that arrive as mail: from a Background on a host of its own they
/// come to the user's address, named in <see cref="KeyReplacementMessage.NameHeader"/> (<see cref="AgentMailDrop"/>).
/// Before the delivery listener answers 250 such a message must open with the user's key and be signed by this
/// courier's Foreground; then it goes to the Agent's inbox, never to the mailbox. Mail from anywhere else that carries
/// the header is refused: nobody but our Foreground may ask the Agent to replace a key.
/// </summary>
/// <param name="agentInbox">The Agent's inbox, or null where the Agent does not run (the header then means nothing here).</param>
public sealed class KeyReplacementIntake(IKeyRing agentKeys, CertificateDirectory directory, CourierIdentity identity, ElementInbox? agentInbox,
    TimeSpan? maxAge = null, TimeProvider? time = null)
{
    /// <summary>Whether the Agent runs here (elsewhere nothing arrives this way, and nothing need be looked at).</summary>
    public bool Active => agentInbox is not null;

    /// <summary>Whether the message claims to be a Key Replacement message for the Agent here.</summary>
    public bool Claims(HeaderList headers) => Active && headers[KeyReplacementMessage.NameHeader] is not null;

    /// <summary>Checks a claimed message for <paramref name="recipients"/>, or throws <see cref="PartRejectedException"/> naming what is wrong.</summary>
    public void Check(MimeMessage message, IReadOnlyCollection<string> recipients)
    {
        if (recipients.Count != 1) throw new PartRejectedException("a Key Replacement message goes to one user at a time");
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var body = KeyReplacementMessage.OpenAtAgent(context, identity, message, recipients.First());
        MessageFreshness.Check(body.CreatedUtc, body.Kind.ToString(), maxAge ?? MessageFreshness.DefaultMaxAge, (time ?? TimeProvider.System).GetUtcNow());
    }

    /// <summary>Hands a checked message to the Agent (durably; the same name twice is one message).</summary>
    public void Accept(byte[] message)
    {
        var name = HeaderList.Load(new MemoryStream(message, writable: false))[KeyReplacementMessage.NameHeader]?.Trim() ?? "";
        if (!KeyReplacementMessage.IsName(name)) throw new PartRejectedException($"'{name}' is not the name of a Key Replacement message");
        (agentInbox ?? throw new InvalidOperationException("the Agent does not run in this process")).Put(name, message);
    }
}
