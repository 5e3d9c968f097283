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
    AccountVersions accountVersions,
    IAgentDrop agent,
    PendingParts pending,
    TimeSpan pendingLifetime,
    NonDeliveryNotice notices,
    ElementRelay relay,
    IInvitationDesk? invitations,
    ILogger<ForegroundElement> logger,
    TimeProvider? time = null,
    Func<Org.BouncyCastle.X509.X509Certificate?>? ownCourierCa = null,
    Func<TransferDesk?>? transfers = null,
    Func<KeyReplacementDesk?>? rekeys = null,
    Func<string, bool>? isGuest = null)
{
    public ElementRelay Relay => relay;

    readonly TimeProvider _time = time ?? TimeProvider.System;

    public ElementInbox Inbox => inbox;

    public const string ProtectedSubject = "Protected message";
    /// <summary>The header that names the courier message a stored (re-wrapped) content part belongs to.</summary>
    public const string MessageIdHeader = "X-Gateway-Message-Id";

    public static string DeliveryKey(string messageId, string recipient) => "courier:" + messageId + "/" + recipient.ToLowerInvariant();

    /// <summary>Handles one part from the inbox: stored for every local recipient, held for the others, or rejected and
    /// reported. The part is read from its sealed file as it is opened and re-wrapped (the working copies of a large one
    /// live in sealed scratch files), so large parts take disk, not memory, and several run at once.</summary>
    public async Task ProcessAsync(string name, CancellationToken cancellationToken)
    {
        if (name.StartsWith(DistributeAccount.Prefix, StringComparison.Ordinal) || KeyReplacementMessage.IsName(name))
        {
            if (inbox.Read(name) is { } small) await TakeSmallAsync(name, small, cancellationToken);
            return;
        }
        PartResult result;
        await using (var part = inbox.Open(name))
        {
            if (part is null) return;
            result = await HandleAsync(name, part, only: null, cancellationToken);
            if (result is PartResult.Done { Unknown.Count: > 0 } held)
            {
                part.Position = 0;
                pending.Hold(name, part, new PendingEntry
                {
                    MessageId = held.Manifest.MessageId, Sender = held.Manifest.Sender, InternetMessageId = InternetMessageIdOf(held.Manifest),
                    Recipients = held.Unknown.ToList(), SinceUtc = _time.GetUtcNow().UtcDateTime,
                });
                logger.LogWarning("Foreground holds {MessageId} for {Recipients}: not local users (yet); kept for {Days} day(s)",
                    held.Manifest.MessageId, string.Join(", ", held.Unknown), pendingLifetime.TotalDays);
            }
        }
        switch (result)
        {
            case PartResult.Done:
            case PartResult.Handled:
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

    /// <summary>A Distribute Account or a Key Replacement message: small, read whole.</summary>
    async Task TakeSmallAsync(string name, byte[] bytes, CancellationToken cancellationToken)
    {
        if (name.StartsWith(DistributeAccount.Prefix, StringComparison.Ordinal))
        {
            // Only on a Foreground-only host: the Agent's host tells it of accounts (users log in there).
            await DistributeAccount.TakeAsync("Foreground", "the Agent's host", inbox, name, bytes, message =>
            {
                using var context = new CourierSecureMimeContext(keys, directory);
                return DistributeAccount.ReadFromAgent(context, ownCourierCa?.Invoke(), message);
            }, directory, users, accountVersions, () => SweepHeldAsync(cancellationToken), logger);
            return;
        }
        TakeKeyReplacement(name, bytes);
    }

    /// <summary>Exchange Keys or Rekeying Complete from a user's Agent, for the Key Replacement the Foreground drives.</summary>
    void TakeKeyReplacement(string name, byte[] bytes)
    {
        try
        {
            var desk = rekeys?.Invoke() ?? throw new PartRejectedException("this Foreground drives no Key Replacement");
            using var context = new CourierSecureMimeContext(keys, directory);
            desk.Take(context, MimeMessage.Load(new MemoryStream(bytes, writable: false)));
            inbox.Remove(name);
        }
        catch (Exception ex) when (ex is PartRejectedException { Transient: false } or FormatException or ParseException or System.Text.Json.JsonException)
        {
            logger.LogWarning("Foreground rejected Key Replacement message {Part}: {Reason}", name, ex.Message);
            inbox.Reject(name);
        }
    }

    /// <summary>
    /// Tries the held parts again for recipients who have become local users since; reports to the sender the
    /// recipients still unknown when the part has been held for the configured time, then drops it.
    /// </summary>
    public Task SweepPendingAsync(CancellationToken cancellationToken)
    {
        using (var context = new CourierSecureMimeContext(keys, directory))
        {
            relay.IntroduceToSuperior(context);
            relay.AnnounceNewCertificate(context);
            transfers?.Invoke()?.Advance(context);
            rekeys?.Invoke()?.Advance(context);
        }
        return SweepHeldAsync(cancellationToken);
    }

    Task SweepHeldAsync(CancellationToken cancellationToken) => pending.SweepAsync(
        r => relay.IsRoutable(r),
        async (name, part, ready) =>
        {
            if (await HandleAsync(name, part, ready, cancellationToken) is not PartResult.Done done) return null;
            logger.LogInformation("Foreground released held {MessageId} for {Recipients}", done.Manifest.MessageId, string.Join(", ", ready.Except(done.Unknown)));
            return done.Unknown;
        },
        pendingLifetime, _time.GetUtcNow().UtcDateTime,
        async entry =>
        {
            logger.LogWarning("Foreground gives up {MessageId} for {Recipients} after {Days} day(s) held: no such local user", entry.MessageId, string.Join(", ", entry.Recipients), pendingLifetime.TotalDays);
            await notices.SendAsync("Foreground", entry.Sender, entry.MessageId, entry.InternetMessageId,
                entry.Recipients.Select(r => new UndeliveredRecipient(r, "5.1.1", $"no such user here; the message was held for {pendingLifetime.TotalDays:0.##} day(s)")).ToList(),
                cancellationToken, senderVouched: true); // held parts passed the sender's signature check
        });

    abstract record PartResult
    {
        /// <summary>Stored (or already stored) for every local recipient asked for, passed on to peers where they are served;
        /// <see cref="Unknown"/> could go nowhere yet.</summary>
        public sealed record Done(ContentManifest Manifest, IReadOnlyList<string> Unknown) : PartResult;
        /// <summary>Failed its checks; <see cref="Claimed"/> is what it claims to be, when it could be read at all.</summary>
        public sealed record Rejected(string Reason, ContentManifest? Claimed) : PartResult;
        /// <summary>Could not be finished now (no certificate yet, store failure): left where it is, tried again.</summary>
        public sealed record Retry : PartResult;
        /// <summary>Not a part but an Introduction (recorded) or an Invitation Reject (answered).</summary>
        public sealed record Handled : PartResult;
    }

    static string? InternetMessageIdOf(ContentManifest manifest) =>
        manifest.Headers.FirstOrDefault(h => h.Key.Equals("Message-ID", StringComparison.OrdinalIgnoreCase)).Value?.Trim();

    /// <summary>Inbox names of parts that came from another courier (the delivery listener puts them there).</summary>
    public const string InterCourierPrefix = "ic-";
    /// <summary>Inbox names of Invitations a local user received from another courier (to be rejected: Invitation Reject).</summary>
    public const string InvitationPrefix = "inv-";

    sealed record Opened(ContentManifest Manifest, OpenedPart Part, IReadOnlyList<string> Recipients, InterCourierEnvelope? Received);

    async Task<PartResult> HandleAsync(string name, Stream part, IReadOnlySet<string>? only, CancellationToken cancellationToken)
    {
        using var context = new CourierSecureMimeContext(keys, directory);
        Opened opened;
        try
        {
            // Parsed in place (persistent): a large part's content is read from its file when it is used, not copied out.
            var message = MimeMessage.Load(part, persistent: true);
            if (name.StartsWith(InvitationPrefix, StringComparison.Ordinal))
            {
                InvitationMessage.Reject(context, relay, message);
                return new PartResult.Handled();
            }
            InterCourierEnvelope? received = null;
            OpenedPart opening;
            try
            {
                if (name.StartsWith(InterCourierPrefix, StringComparison.Ordinal))
                {
                    received = InterCourierMessage.Read(context, message, CourierElement.Foreground);
                    if (received.Header.Kind == InterCourierKind.Introduction)
                    {
                        var (peer, body) = relay.Accept(context, received);
                        if (relay.AnswerInvitationFromBelow(context, peer, body)) return new PartResult.Handled();
                        if (body.InvitationId is not null) invitations?.Answered(body.InvitationId, body.Address, peer.Id);
                        return new PartResult.Handled();
                    }
                    if (TransferDesk.IsTransfer(received.Header.Kind))
                    {
                        if (transfers?.Invoke() is not { } desk) return new PartResult.Rejected("this courier takes no Registration Transfer", null);
                        await desk.HandleAsync(context, received, cancellationToken);
                        return new PartResult.Handled();
                    }
                    if (received.Header.Kind != InterCourierKind.ContentPart)
                        return new PartResult.Rejected($"a {received.Header.Kind} from {received.Header.FromCourier} reached the Foreground, which takes content parts only", null);
                    opening = PartEnvelope.Verify(context, received.Payload, expectedSigner: null);
                }
                else opening = PartEnvelope.Open(context, message.Body, expectedSigner: null);
            }
            catch (PartRejectedException ex) when (ex.Unverified is { } unverified && received is null && !ex.Transient)
            {
                ContentManifest? claimed = null;
                try { claimed = Read(unverified).Manifest; } catch (Exception e) when (e is PartRejectedException or FormatException or System.Text.Json.JsonException) { }
                return new PartResult.Rejected(ex.Message, claimed);
            }
            var (manifest, content) = Read(opening.Entity);
            if (!string.Equals(opening.SignerAddress, manifest.Sender, StringComparison.OrdinalIgnoreCase))
                return new PartResult.Rejected($"the content part of {manifest.MessageId} names sender <{manifest.Sender}> but is signed by <{opening.SignerAddress}>", null);
            var keyId = MessageIdOf(content);
            var expectedName = received is null ? name : received.Header.MessageId;
            if (keyId != manifest.MessageId || expectedName != manifest.MessageId)
                return new PartResult.Rejected($"part {name}: the manifest says {manifest.MessageId}, the content is keyed to {keyId}", received is null ? manifest : null);
            var recipients = received is null
                ? manifest.Recipients
                : received.Header.Recipients.Where(r => manifest.Recipients.Contains(r, StringComparer.OrdinalIgnoreCase)).ToList();
            opened = new Opened(manifest, opening, recipients, received);
        }
        catch (PartRejectedException ex) when (ex.Transient)
        {
            logger.LogWarning("{Element} cannot check part {Part} yet: {Reason}; it waits", "Foreground", name, ex.Message);
            return new PartResult.Retry();
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or ContentPartException or System.Text.Json.JsonException)
        {
            return new PartResult.Rejected(ex.Message, null);
        }

        var manifestOf = opened.Manifest;
        var plan = relay.Plan(opened.Recipients.Where(r => only is null || only.Contains(r)), opened.Received is { } rc && relay.IsFromBelow(rc));
        if (await StoreAsync(context, opened, plan.Local, cancellationToken) is { } unfinished) return unfinished;
        foreach (var (peer, recipients, deferral) in plan.Forward)
            relay.Forward(context, peer, InterCourierKind.ContentPart, manifestOf.MessageId, opened.Part.Signed, recipients, manifestOf.Sender,
                InternetMessageIdOf(manifestOf), opened.Received, deferral);
        foreach (var address in plan.Invite)
            if (invitations is not null) await invitations.InviteAsync(address, manifestOf.Sender, manifestOf.MessageId, cancellationToken);
        if (opened.Received is not null) relay.LearnFrom(context, opened.Received, plan);
        return new PartResult.Done(manifestOf, plan.Invite.Concat(plan.Held.Select(h => h.Recipient)).ToList());
    }

    /// <summary>Copies made for recipients are stored in groups of about this many octets (one store commit for the
    /// small copies of a part, a commit per copy for large ones).</summary>
    const long StoreEveryBytes = 4 * 1024 * 1024;

    /// <summary>Re-wraps the part for each local recipient and stores it in their INBOX; null when all are stored.</summary>
    async Task<PartResult?> StoreAsync(CourierSecureMimeContext context, Opened opened, IReadOnlyList<string> local, CancellationToken cancellationToken)
    {
        if (local.Count == 0) return null;
        var manifest = opened.Manifest;
        var signer = PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var deliveries = new List<ProtectedDelivery>();
        var failed = new List<string>();
        MimeKit.Cryptography.ApplicationPkcs7Mime? signed = null;
        var count = 0;
        long waiting = 0;
        // A large part is stored as its copies are made, not all copies kept until the last recipient's is made.
        async Task StoreWaitingAsync()
        {
            if (deliveries.Count == 0) return;
            failed.AddRange(await agent.PutAsync(deliveries, cancellationToken));
            count += deliveries.Count;
            foreach (var d in deliveries) d.Content.Dispose();
            deliveries.Clear();
            waiting = 0;
        }
        foreach (var recipient in local)
        {
            // A local user, or an outside recipient the pickup portal serves (a guest: the address is its mailbox's owner).
            var owner = users.Find(recipient)?.Address ?? (isGuest?.Invoke(recipient) == true ? recipient : null);
            if (owner is null) continue; // removed meanwhile: the next sweep holds it
            var certificate = identity.UserCertificate(recipient, context);
            if (certificate is null)
            {
                logger.LogError("Foreground cannot re-wrap {MessageId} for {Recipient}: no valid certificate; the part waits", manifest.MessageId, recipient);
                return new PartResult.Retry();
            }
            var copy = new MimeMessage();
            copy.Headers.Clear();
            foreach (var (field, value) in manifest.Headers) copy.Headers.Add(field, value);
            copy.Headers.Add(HeaderId.Subject, ProtectedSubject);
            copy.Headers.Add(MessageIdHeader, manifest.MessageId);
            if (opened.Received is { } received)
                copy.Headers.Add("X-Gateway-Courier-Hops", $"{received.Header.Hops} (from {received.Header.OriginCourier ?? received.Header.FromCourier} via {received.Header.FromCourier})");
            // One signature for every local recipient of the part, each copy encrypted to its recipient.
            signed ??= PartEnvelope.Sign(context, signer, opened.Part.Entity);
            copy.Body = PartEnvelope.EncryptTo(context, certificate, signed);
            // A moved mailbox keeps its folders and flags: only for the user's own mail to themselves.
            var own = string.Equals(manifest.Sender, owner, StringComparison.OrdinalIgnoreCase);
            var octets = context.Scratch();
            CourierMime.WriteTo(copy, octets);
            deliveries.Add(new ProtectedDelivery(owner, manifest.MessageId, octets, own ? manifest.Mailbox : null, own ? manifest.Flags : null));
            waiting += octets.Length;
            if (waiting >= StoreEveryBytes) await StoreWaitingAsync();
        }
        await StoreWaitingAsync();
        foreach (var f in failed) logger.LogWarning("Foreground could not store {MessageId}: {Reason}; retried later", manifest.MessageId, f);
        if (failed.Count > 0) return new PartResult.Retry(); // the stored ones are not stored again (delivery keys); the rest retry
        Gateway.Platform.CrashPoint.Hit("foreground-after-store");
        logger.LogInformation("Foreground stored content part {MessageId} from {Sender} for {Count} local recipient(s){From}", manifest.MessageId, manifest.Sender,
            count, opened.Received is { } r ? $" (from {r.Header.FromCourier}, hop {r.Header.Hops})" : "");
        return null;
    }

    /// <summary>The manifest and the part holding the KEK-enveloped content from the signed entity (multipart/mixed of
    /// the two); <see cref="OpenDecoded"/> reads the content's DER.</summary>
    public static (ContentManifest Manifest, MimePart ContentPart) Read(MimeEntity entity)
    {
        if (entity is not Multipart { Count: 2 } multipart
            || multipart[0] is not MimePart { ContentType.MimeType: ContentManifest.MediaType } manifestPart
            || multipart[1] is not MimePart { ContentType.MimeType: "application/pkcs7-mime", Content: not null } contentPart)
            throw new PartRejectedException("the signed entity is not a manifest and a content part");
        return (ContentManifest.Parse(CourierMime.Decode(manifestPart)), contentPart);
    }

    /// <summary>The DER of the KEK-enveloped content, decoded as it is read (each call reads it from the start).</summary>
    public static Stream OpenDecoded(MimePart contentPart) => contentPart.Content!.Open();

    /// <summary>The courier message id the content part is keyed to (read from its header, not opened).</summary>
    public static string MessageIdOf(MimePart contentPart)
    {
        using var der = OpenDecoded(contentPart);
        return ContentPart.MessageIdOf(der);
    }
}
