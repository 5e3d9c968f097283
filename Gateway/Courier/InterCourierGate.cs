using Gateway.Crypto;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Courier;

/// <summary>
/// Where Inter-Courier mail enters this courier: it knows the two element addresses (<c>foreground@COURIER</c>,
/// <c>background@COURIER</c>), checks a message for one of them before the delivery listener says 250 (decrypted
/// with that element's key only, signed by the same kind of element of a courier under our Root, unrevoked, and a
/// part signed by its sender likewise), so that a refused courier learns it at once and reports to its own sender;
/// and hands accepted messages to the element's inbox. It also recognises Invitations a local user received.
/// </summary>
public sealed class InterCourierGate(CourierIdentity identity, IKeyRing foregroundKeys, IKeyRing backgroundKeys, CertificateDirectory directory,
    ElementInbox foregroundInbox, ElementInbox backgroundInbox, ILogger<InterCourierGate> logger)
{
    /// <summary>The element an address belongs to, if it is one of ours.</summary>
    public CourierElement? ElementOf(string address)
    {
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
            if (identity.ElementAddress(element) is { } own && string.Equals(own, address, StringComparison.OrdinalIgnoreCase)) return element;
        return null;
    }

    /// <summary>Checks an Inter-Courier message for <paramref name="element"/>; returns why it is refused (and whether only
    /// for now, a peer's CRL being out of reach), or null.</summary>
    public (string Reason, bool Transient)? Check(CourierElement element, Stream content, string client)
    {
        try
        {
            var message = MimeMessage.Load(content);
            using var context = new CourierSecureMimeContext(element == CourierElement.Foreground ? foregroundKeys : backgroundKeys, directory);
            var received = InterCourierMessage.Read(context, message, element);
            if (received.Header.Kind != InterCourierKind.Introduction)
            {
                var expected = element == CourierElement.Foreground ? InterCourierKind.ContentPart : InterCourierKind.Arm;
                if (received.Header.Kind != expected) return ($"a {received.Header.Kind} is not for the {element}", false);
                PartEnvelope.Verify(context, received.Payload, expectedSigner: null);
            }
            return null;
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or System.Text.Json.JsonException)
        {
            var transient = ex is PartRejectedException { Transient: true };
            logger.LogWarning("{Element} refused an Inter-Courier message from {Client}{For}: {Reason}", element, client, transient ? " for now" : "", ex.Message);
            return (ex.Message, transient);
        }
    }

    /// <summary>Hands an accepted Inter-Courier message to the element (durably; the same name twice is one part).</summary>
    public void Accept(CourierElement element, string queueId, byte[] message) =>
        (element == CourierElement.Foreground ? foregroundInbox : backgroundInbox).Put(ForegroundElement.InterCourierPrefix + queueId, message);

    /// <summary>Whether mail for a local user is another courier's Invitation with a valid signature (then both elements reject it).</summary>
    public bool IsInvitation(byte[] message)
    {
        try
        {
            var parsed = MimeMessage.Load(new MemoryStream(message, writable: false));
            if (parsed.Headers[InvitationMessage.HeaderName] is null) return false;
            using var context = new CourierSecureMimeContext(foregroundKeys, directory);
            var invitation = InvitationMessage.Open(context, parsed);
            return !string.Equals(invitation.Body.Courier, identity.ElementCertificate(CourierElement.Foreground) is { } c ? InterCourierMessage.IntroductionOf(c)?.Courier : null,
                StringComparison.OrdinalIgnoreCase);
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or System.Text.Json.JsonException or CertificateNotFoundException
                                       or Org.BouncyCastle.Cms.CmsException or NotSupportedException)
        {
            logger.LogWarning("Mail marked as an Invitation does not check out ({Reason}); delivered as ordinary mail", ex.Message);
            return false;
        }
    }

    /// <summary>Hands a received Invitation to both elements: each introduces itself to the inviter's (Invitation Reject).</summary>
    public void Reject(string queueId, byte[] message)
    {
        backgroundInbox.Put(ForegroundElement.InvitationPrefix + queueId, message);
        foregroundInbox.Put(ForegroundElement.InvitationPrefix + queueId, message);
    }
}
