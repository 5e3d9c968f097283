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
/// the message's CEK and the recipient's key until the recipient's Agent opens it. A part for recipients who are not
/// local users is held in its <see cref="PendingParts"/> store; a part that fails its checks is moved aside and
/// reported to its (local) sender.
/// </summary>
public sealed class ForegroundElement(
    ElementInbox inbox,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierIdentity identity,
    IUserStore users,
    MailStore mailboxes,
    PendingParts pending,
    TimeSpan pendingLifetime,
    NonDeliveryNotice notices,
    ILogger<ForegroundElement> logger,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public ElementInbox Inbox => inbox;

    public const string ProtectedSubject = "Protected message";

    public static string DeliveryKey(string messageId, string recipient) => "courier:" + messageId + "/" + recipient.ToLowerInvariant();

    /// <summary>Handles one part from the inbox: stored for every local recipient, held for the others, or rejected and reported.</summary>
    public async Task ProcessAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = inbox.Read(name);
        if (bytes is null) return;
        switch (await HandleAsync(name, bytes, only: null, cancellationToken))
        {
            case PartResult.Done done:
                if (done.Unknown.Count > 0)
                {
                    pending.Hold(name, bytes, new PendingEntry
                    {
                        MessageId = done.Manifest.MessageId, Sender = done.Manifest.Sender, InternetMessageId = InternetMessageIdOf(done.Manifest),
                        Recipients = done.Unknown.ToList(), SinceUtc = _time.GetUtcNow().UtcDateTime,
                    });
                    logger.LogWarning("Foreground holds {MessageId} for {Recipients}: not local users (yet); kept for {Days} day(s)",
                        done.Manifest.MessageId, string.Join(", ", done.Unknown), pendingLifetime.TotalDays);
                }
                inbox.Remove(name);
                break;
            case PartResult.Rejected rejected:
                logger.LogWarning("Foreground rejected part {Part}: {Reason}", name, rejected.Reason);
                inbox.Reject(name);
                if (rejected.Claimed is { } claimed)
                    await notices.SendAsync("Foreground", claimed.Sender, name, InternetMessageIdOf(claimed),
                        claimed.Recipients.Select(r => new UndeliveredRecipient(r, "5.7.7", "the content part was rejected on arrival: " + rejected.Reason)).ToList(), cancellationToken);
                break;
        }
    }

    /// <summary>
    /// Tries the held parts again for recipients who have become local users since; reports to the sender the
    /// recipients still unknown when the part has been held for the configured time, then drops it.
    /// </summary>
    public Task SweepPendingAsync(CancellationToken cancellationToken) => pending.SweepAsync(
        r => users.Find(r) is not null,
        async (name, bytes, ready) =>
        {
            if (await HandleAsync(name, bytes, ready, cancellationToken) is not PartResult.Done done) return null;
            logger.LogInformation("Foreground released held {MessageId} to {Recipients}", done.Manifest.MessageId, string.Join(", ", ready.Except(done.Unknown)));
            return done.Unknown;
        },
        pendingLifetime, _time.GetUtcNow().UtcDateTime,
        async entry =>
        {
            logger.LogWarning("Foreground gives up {MessageId} for {Recipients} after {Days} day(s) held: no such local user", entry.MessageId, string.Join(", ", entry.Recipients), pendingLifetime.TotalDays);
            await notices.SendAsync("Foreground", entry.Sender, entry.MessageId, entry.InternetMessageId,
                entry.Recipients.Select(r => new UndeliveredRecipient(r, "5.1.1", $"no such user here; the message was held for {pendingLifetime.TotalDays:0.##} day(s)")).ToList(), cancellationToken);
        });

    abstract record PartResult
    {
        /// <summary>Stored (or already stored) for every local recipient asked for; <see cref="Unknown"/> are not local users.</summary>
        public sealed record Done(ContentManifest Manifest, IReadOnlyList<string> Unknown) : PartResult;
        /// <summary>Failed its checks; <see cref="Claimed"/> is what it claims to be, when it could be read at all.</summary>
        public sealed record Rejected(string Reason, ContentManifest? Claimed) : PartResult;
        /// <summary>Could not be finished now (no certificate yet, store failure): left where it is, tried again.</summary>
        public sealed record Retry : PartResult;
    }

    static string? InternetMessageIdOf(ContentManifest manifest) =>
        manifest.Headers.FirstOrDefault(h => h.Key.Equals("Message-ID", StringComparison.OrdinalIgnoreCase)).Value?.Trim();

    async Task<PartResult> HandleAsync(string name, byte[] bytes, IReadOnlySet<string>? only, CancellationToken cancellationToken)
    {
        using var context = new CourierSecureMimeContext(keys, directory);
        ContentManifest manifest;
        MimeEntity signedEntity;
        try
        {
            var message = MimeMessage.Load(new MemoryStream(bytes, writable: false));
            OpenedPart opened;
            try
            {
                opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
            }
            catch (PartRejectedException ex) when (ex.Unverified is { } unverified)
            {
                ContentManifest? claimed = null;
                try { claimed = Read(unverified).Manifest; } catch (Exception e) when (e is PartRejectedException or FormatException or System.Text.Json.JsonException) { }
                return new PartResult.Rejected(ex.Message, claimed);
            }
            (manifest, var der) = Read(opened.Entity);
            if (!string.Equals(opened.SignerAddress, manifest.Sender, StringComparison.OrdinalIgnoreCase))
                return new PartResult.Rejected($"the content part of {manifest.MessageId} names sender <{manifest.Sender}> but is signed by <{opened.SignerAddress}>", null);
            var keyId = ContentPart.MessageIdOf(der);
            if (keyId != manifest.MessageId || name != manifest.MessageId)
                return new PartResult.Rejected($"part {name}: the manifest says {manifest.MessageId}, the content is keyed to {keyId}", manifest);
            signedEntity = opened.Entity;
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or ContentPartException or System.Text.Json.JsonException)
        {
            return new PartResult.Rejected(ex.Message, null);
        }

        var signer = PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var requests = new List<AppendRequest>();
        var unknown = new List<string>();
        foreach (var recipient in manifest.Recipients.Select(r => r.ToLowerInvariant()).Distinct())
        {
            if (only is not null && !only.Contains(recipient)) continue;
            var user = users.Find(recipient);
            if (user is null)
            {
                unknown.Add(recipient);
                continue;
            }
            var certificate = identity.UserCertificate(recipient, context);
            if (certificate is null)
            {
                logger.LogError("Foreground cannot re-wrap {MessageId} for {Recipient}: no valid certificate; the part waits", manifest.MessageId, recipient);
                return new PartResult.Retry();
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
        if (failed.Count > 0) return new PartResult.Retry(); // the stored ones are not stored again (delivery keys); the rest retry
        Gateway.Platform.CrashPoint.Hit("foreground-after-store");
        logger.LogInformation("Foreground stored content part {MessageId} from {Sender} for {Count} local recipient(s)", manifest.MessageId, manifest.Sender, requests.Count);
        return new PartResult.Done(manifest, unknown);
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
