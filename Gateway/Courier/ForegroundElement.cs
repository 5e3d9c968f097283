using Gateway.Crypto;
using Gateway.Storage;
using Gateway.Storage.Mail;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The Foreground element: takes content parts from its inbox, checks the sender's signature and that the part is
/// keyed to the message it claims, re-wraps it for each local recipient (signed by the Foreground, encrypted to the
/// recipient) and stores that in the recipient's INBOX. It never holds a CEK: what it stores stays encrypted under
/// the message's CEK and the recipient's key until the recipient's Agent opens it.
/// </summary>
public sealed class ForegroundElement(
    ElementInbox inbox,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierIdentity identity,
    IUserStore users,
    MailStore mailboxes,
    ILogger<ForegroundElement> logger)
{
    public ElementInbox Inbox => inbox;

    public const string ProtectedSubject = "Protected message";

    public static string DeliveryKey(string messageId, string recipient) => "courier:" + messageId + "/" + recipient.ToLowerInvariant();

    public async Task ProcessAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = inbox.Read(name);
        if (bytes is null) return;
        using var context = new CourierSecureMimeContext(keys, directory);
        ContentManifest manifest;
        MimeEntity signedEntity;
        try
        {
            var message = MimeMessage.Load(new MemoryStream(bytes, writable: false));
            var opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
            (manifest, var der) = Read(opened.Entity);
            if (!string.Equals(opened.SignerAddress, manifest.Sender, StringComparison.OrdinalIgnoreCase))
                throw new PartRejectedException($"the content part of {manifest.MessageId} names sender <{manifest.Sender}> but is signed by <{opened.SignerAddress}>");
            var keyId = ContentPart.MessageIdOf(der);
            if (keyId != manifest.MessageId || name != manifest.MessageId)
                throw new PartRejectedException($"part {name}: the manifest says {manifest.MessageId}, the content is keyed to {keyId}");
            signedEntity = opened.Entity;
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or ContentPartException)
        {
            logger.LogWarning("Foreground rejected part {Part}: {Reason}", name, ex.Message);
            inbox.Reject(name);
            return;
        }

        var signer = PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var requests = new List<AppendRequest>();
        foreach (var recipient in manifest.Recipients.Select(r => r.ToLowerInvariant()).Distinct())
        {
            var user = users.Find(recipient);
            if (user is null)
            {
                logger.LogWarning("Foreground: {Recipient} of {MessageId} is not a local user; the content part is not stored for them", recipient, manifest.MessageId);
                continue;
            }
            var certificate = identity.UserCertificate(recipient, context);
            if (certificate is null)
            {
                logger.LogError("Foreground cannot re-wrap {MessageId} for {Recipient}: no valid certificate; the part waits", manifest.MessageId, recipient);
                return;
            }
            var stored = new MimeMessage();
            stored.Headers.Clear();
            foreach (var (field, value) in manifest.Headers) stored.Headers.Add(field, value);
            stored.Headers.Add(HeaderId.Subject, ProtectedSubject);
            stored.Headers.Add("X-Gateway-Message-Id", manifest.MessageId);
            stored.Body = PartEnvelope.Seal(context, signer, certificate, signedEntity);
            var octets = CourierMime.Bytes(stored);
            requests.Add(new AppendRequest(user.Address, "INBOX", () => new MemoryStream(octets, writable: false),
                DeliveryKey: DeliveryKey(manifest.MessageId, recipient), ProtectedId: manifest.MessageId));
        }
        var results = await mailboxes.AppendManyAsync(requests, cancellationToken);
        var failed = results.Where(r => r.Error is not null).ToList();
        foreach (var f in failed) logger.LogWarning("Foreground could not store {MessageId}: {Reason}; retried later", manifest.MessageId, f.Error!.Message);
        if (failed.Count > 0) return; // the stored ones are not stored again (delivery keys); the rest retry
        inbox.Remove(name);
        logger.LogInformation("Foreground stored content part {MessageId} from {Sender} for {Count} local recipient(s)", manifest.MessageId, manifest.Sender, requests.Count);
    }

    /// <summary>The manifest and the KEK-enveloped content from the signed entity (multipart/mixed of the two).</summary>
    public static (ContentManifest Manifest, byte[] ContentPart) Read(MimeEntity entity)
    {
        if (entity is not Multipart { Count: 2 } multipart
            || multipart[0] is not MimePart { ContentType.MimeType: ContentManifest.MediaType } manifestPart
            || multipart[1] is not MimePart { ContentType.MimeType: "application/pkcs7-mime" } contentPart)
            throw new PartRejectedException("the signed entity is not a manifest and a content part");
        return (ContentManifest.Parse(CourierMime.Decode(manifestPart)), CourierMime.Decode(contentPart));
    }
}
