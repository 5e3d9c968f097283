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

    /// <summary>The Agent's hand-off of a part it keeps until this returns (<see cref="SubmissionAgent"/>'s outbox): like
    /// <see cref="Drop(string, Stream)"/>, except that an element in this process may take the part at once instead of
    /// queueing it (<see cref="ElementAtHand"/>).</summary>
    Task HandOnAsync(string name, Stream message, CancellationToken cancellationToken)
    {
        Drop(name, message);
        return Task.CompletedTask;
    }
}

/// <summary>
/// An element (Foreground or Background) that runs in this process, as the Agent reaches it. A part the Agent hands on is
/// first offered to the element itself (<paramref name="takeAtOnce"/>), which takes it only when it can finish it there
/// and then: every recipient local, the result stored durably before it answers true, nothing sent elsewhere. Anything
/// else (a recipient to hold, invite or relay, a check that fails, a store that refuses) answers false before any of
/// that is done, and the part waits in the element's inbox like any other, where the element's worker handles it,
/// reports and retries. The Agent keeps the part until this returns, so a crash meanwhile hands it on again: the
/// element keeps what it stored first (an ARM per message and recipient, a delivery per message and recipient).
/// Parts taken at once save the inbox's file (written, synced, read back, deleted) and the worker's turn.
/// </summary>
public sealed class ElementAtHand(ElementInbox inbox, Func<string, Stream, CancellationToken, Task<bool>> takeAtOnce) : IElementDrop
{
    public ElementInbox Inbox => inbox;

    public void Drop(string name, Stream message) => inbox.Put(name, message);

    public async Task HandOnAsync(string name, Stream message, CancellationToken cancellationToken)
    {
        var start = message.CanSeek ? message.Position : -1;
        if (start >= 0 && !inbox.Contains(name))
        {
            // The part from where it starts (the element may read it more than once), left open for the inbox.
            using (var part = new MimeKit.IO.BoundStream(message, start, -1, leaveOpen: true))
                if (await takeAtOnce(name, part, cancellationToken)) return;
            message.Position = start;
        }
        inbox.Put(name, message);
    }
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
