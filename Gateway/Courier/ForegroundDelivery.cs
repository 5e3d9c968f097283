using Gateway.Crypto;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// On the Agent's own host (the Foreground on another): the Foreground delivers each content part it re-wrapped for a
/// local user over SMTP, to the user's address (<see cref="AgentLink"/>). Such a message names its courier message in
/// <see cref="ForegroundElement.MessageIdHeader"/>; before the delivery listener answers 250 it must open with the
/// recipient's key, be signed by this courier's Foreground, and hold the content part of that very message for that
/// recipient. Then it is stored as a protected message, exactly as the Foreground stores it in one process. Mail from
/// anywhere else that carries the header is refused: nobody but our Foreground may put protected parts in a mailbox.
/// </summary>
public sealed class ForegroundDelivery(IKeyRing agentKeys, CertificateDirectory directory, CourierIdentity identity, bool active)
{
    /// <summary>Whether the Foreground runs on another host (otherwise it stores directly and nothing arrives this way).</summary>
    public bool Active => active;

    /// <summary>Whether the message claims to be a delivery from our Foreground.</summary>
    public bool Claims(HeaderList headers) => active && headers[ForegroundElement.MessageIdHeader] is not null;

    /// <summary>Checks a claimed delivery for <paramref name="recipients"/>; returns the courier message id, or throws
    /// <see cref="PartRejectedException"/> naming what is wrong.</summary>
    public string Check(MimeMessage message, IReadOnlyCollection<string> recipients)
    {
        var id = message.Headers[ForegroundElement.MessageIdHeader]?.Trim() ?? throw new PartRejectedException("no courier message id");
        if (recipients.Count != 1) throw new PartRejectedException("a protected part goes to one recipient at a time");
        var foreground = identity.ElementAddress(CourierElement.Foreground) ?? throw new PartRejectedException("this host does not know its Foreground's certificate");
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        OpenedPart opened;
        try { opened = PartEnvelope.Open(context, message.Body, foreground); }
        catch (Exception ex) when (ex is MimeKit.Cryptography.CertificateNotFoundException or Org.BouncyCastle.Cms.CmsException or NotSupportedException or FormatException)
        {
            throw new PartRejectedException("the protected part does not open here: " + ex.Message, ex);
        }
        var (manifest, sealedContent) = ForegroundElement.Read(opened.Entity);
        if (manifest.MessageId != id || ForegroundElement.MessageIdOf(sealedContent) != id)
            throw new PartRejectedException($"the part names message {id} but holds {manifest.MessageId}");
        foreach (var r in recipients)
            if (!manifest.Recipients.Contains(r, StringComparer.OrdinalIgnoreCase))
                throw new PartRejectedException($"<{r}> is not a recipient of message {id}");
        return id;
    }
}
