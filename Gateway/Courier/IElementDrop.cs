namespace Gateway.Courier;

/// <summary>
/// Where a part for one of this courier's own elements is put: the element's inbox when it runs in this process
/// (<see cref="ElementInbox"/>), or an SMTP link to the host it runs on (<see cref="ElementLink"/>).
/// </summary>
public interface IElementDrop
{
    /// <summary>Hands the message on durably; the same name twice is one message. <paramref name="message"/> is read
    /// from its position to its end (a large part is copied as it is read, never held whole).</summary>
    void Drop(string name, Stream message);

    /// <summary>The same for a small message already in memory (an Account, an Invitation, a Key Replacement message).</summary>
    void Drop(string name, byte[] message) => Drop(name, new MemoryStream(message, writable: false));

    /// <summary>Hands on a part that is already a durable sealed file on this host (<see cref="Gateway.Sealing.SpoolSeal"/>)
    /// by giving the file a name in the element's inbox, without copying it; the caller keeps its own name for the file
    /// until it no longer needs it. False when this drop cannot (an element on another host, an inbox on another file
    /// system): the caller then drops the file's content as a stream.</summary>
    bool TryAdopt(string name, string sealedFile) => false;
}

/// <summary>
/// The way to one of this courier's own elements on another host: the message (from the Agent an ARM for the
/// Background or a content part for the Foreground, from the Foreground a Distribute Account; already signed and
/// sealed to that element) is queued durably and sent over SMTP to <c>background@COURIER</c> or
/// <c>foreground@COURIER</c> at that host's delivery listener, by a <see cref="PeerDeliveryWorker"/> with retries.
/// </summary>
public sealed class ElementLink(PeerOutbox outbox, string endpoint, Gateway.Crypto.CourierElement element, Func<string?> elementAddress) : IElementDrop
{
    public PeerOutbox Outbox => outbox;

    public Gateway.Crypto.CourierElement Element => element;

    public void Drop(string name, Stream message)
    {
        var to = elementAddress() ?? throw new PartRejectedException($"the {element}'s certificate is not known here");
        var start = message.Position;
        var from = CourierMime.FromAddress(MimeKit.HeaderList.Load(message));
        message.Position = start;
        outbox.Enqueue(new OutboundEntry
        {
            Id = name, Endpoint = endpoint, Peer = "own " + element, From = from, To = to,
            Kind = element == Gateway.Crypto.CourierElement.Foreground ? InterCourierKind.ContentPart : InterCourierKind.Arm, MessageId = name,
            CreatedUtc = DateTime.UtcNow, NextAttemptUtc = DateTime.UtcNow,
        }, stream => message.CopyTo(stream, 64 * 1024));
    }
}

/// <summary>An element that runs on another host and is not reached from here (a Background-only host has no Agent
/// whose parts would go to the Foreground): anything dropped is refused.</summary>
public sealed class ElsewhereDrop(Gateway.Crypto.CourierElement element) : IElementDrop
{
    public void Drop(string name, Stream message) => throw new PartRejectedException($"the {element} does not run in this process");
}
