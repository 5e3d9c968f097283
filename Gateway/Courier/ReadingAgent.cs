using System.Security.Cryptography;
using Gateway.Crypto;
using Gateway.Storage.Mail;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The Agent on the reading side: joins a stored content part with its ARM, which the Background releases while
/// the sender's restrictions allow, checks that the two belong together, decrypts, and hands the user's original
/// message to the IMAP server byte for byte. When it cannot (key not arrived, expired, revoked, opened too often,
/// failed checks) it shows a short readable notice instead of an error, so that mail programs keep working.
/// </summary>
public sealed class ReadingAgent(
    MailStore mailboxes,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierIdentity identity,
    IKeyRelease background,
    ILogger<ReadingAgent> logger) : IProtectedMessageReader
{
    /// <summary>
    /// Opens the message as a stream: the stored part is parsed in place from its file, its layers decrypted into sealed
    /// working copies, and the original written to one that the view hands out; a large message costs disk, not
    /// memory, and several are opened at once.
    /// </summary>
    public async Task<ProtectedView> ReadAsync(string user, MessageRecord message, bool countAsOpen, bool openedInSession, CancellationToken cancellationToken = default)
    {
        var id = message.ProtectedId!;
        // Stored parts and ARMs were signed by our own elements, possibly before a courier rekey retired their certificates.
        using var context = new CourierSecureMimeContext(keys, directory) { AcceptRetiredOwnCertificates = true };
        ContentManifest manifest;
        MimePart sealedContent;
        IReadOnlyList<Header> routing;
        Stream? file = null;
        try
        {
            // Parsed in place from the file (persistent), which stays open while the part is opened.
            file = mailboxes.OpenContent(message);
            var stored = MimeMessage.Load(file, persistent: true);
            routing = stored.Headers.Where(h => ContentManifest.RoutingHeaders.Contains(h.Field, StringComparer.OrdinalIgnoreCase)).ToList();
            var opened = PartEnvelope.Open(context, stored.Body, identity.ElementAddress(CourierElement.Foreground));
            (manifest, sealedContent) = ForegroundElement.Read(opened.Entity);
            if (manifest.MessageId != id || ForegroundElement.MessageIdOf(sealedContent) != id)
                throw new PartRejectedException($"the stored content part is not message {id}");
            if (!manifest.Recipients.Contains(user, StringComparer.OrdinalIgnoreCase))
                throw new PartRejectedException($"{user} is not a recipient of {id}");
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or ContentPartException or IOException or CryptographicException)
        {
            file?.Dispose();
            logger.LogError("Agent cannot read protected message {MessageId} for {User}: {Reason}", id, user, ex.Message);
            return Notice(Array.Empty<Header>(), id, "This message failed its integrity checks and cannot be shown.", "damaged");
        }
        using var _ = file;

        var purpose = openedInSession ? ReleasePurpose.Reopen : countAsOpen ? ReleasePurpose.Open : ReleasePurpose.Preview;
        switch (await background.ReleaseAsync(id, user, purpose, cancellationToken))
        {
            case KeyRelease.NotArrived:
                return Notice(routing, id, "The key to this message has not arrived yet. It usually follows within moments; check again shortly.", "key not arrived yet");
            case KeyRelease.Refused refused:
                return Notice(routing, id, $"This message can no longer be opened: {refused.Reason}.", "cannot be opened");
            case KeyRelease.Released released:
                try
                {
                    var armMessage = MimeMessage.Load(new MemoryStream(released.SealedArm, writable: false));
                    var opened = PartEnvelope.Open(context, armMessage.Body, identity.ElementAddress(CourierElement.Background));
                    var arm = AccessRestrictionsMessage.FromEntity(opened.Entity);
                    if (arm.MessageId != id) throw new PartRejectedException($"the ARM is for message {arm.MessageId}, not {id}");
                    if (!arm.Recipients.Contains(user, StringComparer.OrdinalIgnoreCase)) throw new PartRejectedException($"the ARM does not name {user}");
                    byte[] digest;
                    using (var der = ForegroundElement.OpenDecoded(sealedContent)) digest = ContentPart.Digest(der);
                    if (!CryptographicOperations.FixedTimeEquals(arm.ContentDigest, digest))
                        throw new PartRejectedException("the ARM was made for other content");
                    var original = Gateway.Sealing.ScratchSpace.Create();
                    try
                    {
                        using (var der = ForegroundElement.OpenDecoded(sealedContent)) ContentPart.Open(der, id, arm.Cek, original);
                    }
                    catch
                    {
                        original.Dispose();
                        throw;
                    }
                    finally
                    {
                        CryptographicOperations.ZeroMemory(arm.Cek);
                    }
                    original.Position = 0;
                    return new ProtectedView(original, true, arm.Restrictions.NoForward);
                }
                catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or ContentPartException)
                {
                    logger.LogError("Agent refused the key of {MessageId} for {User}: {Reason}", id, user, ex.Message);
                    return Notice(routing, id, "The key to this message failed its checks; the message cannot be shown.", "damaged");
                }
            default:
                throw new InvalidOperationException("unknown key release");
        }
    }

    /// <summary>A short text message in place of the original, with its routing header fields.</summary>
    static ProtectedView Notice(IEnumerable<Header> routing, string id, string text, string reason)
    {
        var notice = new MimeMessage();
        notice.Headers.Clear();
        foreach (var h in routing) notice.Headers.Add(h.Field, h.Value);
        notice.Headers.Add(HeaderId.Subject, $"[Protected message: {reason}]");
        notice.Headers.Add("X-Gateway-Message-Id", id);
        notice.Body = new TextPart("plain") { Text = text + "\r\n\r\nMessage " + id + "\r\n" };
        return new ProtectedView(new MemoryStream(CourierMime.Bytes(notice), writable: false), false, Reason: text);
    }
}
