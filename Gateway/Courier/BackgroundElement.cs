using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The Background element: takes ARMs from its inbox, checks the sender's signature, re-wraps each ARM for each
/// local recipient (signed by the Background, encrypted to the recipient) and keeps it; releases it to the
/// recipient's Agent while the sender's restrictions allow, recording every release and refusal. It holds no
/// content and no key but its own.
/// </summary>
public sealed class BackgroundElement(
    BackgroundStore store,
    ElementInbox inbox,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierIdentity identity,
    IUserStore users,
    AccountVersions accountVersions,
    ReceiptMailer receipts,
    PendingParts pending,
    TimeSpan pendingLifetime,
    NonDeliveryNotice notices,
    ElementRelay relay,
    ILogger<BackgroundElement> logger,
    TimeProvider? time = null,
    Func<IElementDrop>? agent = null) : IKeyRelease
{
    public ElementRelay Relay => relay;

    readonly TimeProvider _time = time ?? TimeProvider.System;

    public ElementInbox Inbox => inbox;

    CourierSecureMimeContext Context() => new(keys, directory);

    /// <summary>
    /// A Key Replacement message from our Foreground: a Notice to Rekey or the Foreground's Exchange Keys is carried to
    /// the user's Agent unopened (it is sealed to the user); a Background Key Replacement names the user's new
    /// certificate, to which ARMs are re-wrapped from now on (never answered).
    /// </summary>
    void TakeKeyReplacement(string name, byte[] bytes)
    {
        try
        {
            KeyReplacementMessage.AtBackground taken;
            using (var context = Context())
                taken = KeyReplacementMessage.OpenAtBackground(context, identity, MimeMessage.Load(new MemoryStream(bytes, writable: false)));
            var body = taken.Body;
            if (taken.ForAgent is { } forAgent)
            {
                (agent?.Invoke() ?? throw new PartRejectedException("no way to the Agent from here")).Drop(name, forAgent);
                logger.LogInformation("Background carried the {Kind} for {Address} to the Agent (Key Replacement {Id})", KeyReplacementMessage.Subject(body.Kind), body.Address, body.Id);
            }
            else
            {
                var certificate = body.Certificate is { } der ? new Org.BouncyCastle.X509.X509Certificate(der) : throw new PartRejectedException("the Background Key Replacement carries no certificate");
                if (!string.Equals(Certificates.EmailOf(certificate), body.Address, StringComparison.OrdinalIgnoreCase))
                    throw new PartRejectedException($"the certificate in the Background Key Replacement is not {body.Address}'s");
                directory.Add(certificate, "account");
                logger.LogInformation("Background Key Replacement: ARMs for {Address} are re-wrapped to certificate {Serial} from now on", body.Address, certificate.SerialNumber.ToString(16));
            }
            inbox.Remove(name);
        }
        catch (Exception ex) when (ex is PartRejectedException { Transient: false } or FormatException or ParseException or System.Text.Json.JsonException)
        {
            logger.LogWarning("Background rejected Key Replacement message {Part}: {Reason}", name, ex.Message);
            inbox.Reject(name);
        }
    }

    /// <summary>Handles one waiting part: stored for every local recipient, held for the others, or moved aside and reported, never half-stored.</summary>
    public async Task ProcessAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = inbox.Read(name);
        if (bytes is null) return;
        if (name.StartsWith(DistributeAccount.Prefix, StringComparison.Ordinal))
        {
            await DistributeAccount.TakeAsync("Background", "the Foreground", inbox, name, bytes, message =>
            {
                using var context = Context();
                return DistributeAccount.Read(context, identity, message);
            }, directory, users, accountVersions, () => SweepHeldAsync(cancellationToken), logger,
                (address, courier) => relay.Peers.AddAddress(courier, address, _time.GetUtcNow().UtcDateTime));
            return;
        }
        if (KeyReplacementMessage.IsName(name))
        {
            TakeKeyReplacement(name, bytes);
            return;
        }
        switch (Handle(name, bytes, only: null))
        {
            case PartResult.Handled:
                inbox.Remove(name);
                break;
            case PartResult.Done done:
                if (done.Unknown.Count > 0)
                {
                    pending.Hold(name, new MemoryStream(bytes, writable: false), new PendingEntry
                    {
                        MessageId = done.Arm.MessageId, Sender = done.Arm.Sender, InternetMessageId = done.Arm.InternetMessageId,
                        Recipients = done.Unknown.ToList(), SinceUtc = _time.GetUtcNow().UtcDateTime,
                    });
                    logger.LogWarning("Background holds the ARM of {MessageId} for {Recipients}: not local users (yet); kept for {Days} day(s)",
                        done.Arm.MessageId, string.Join(", ", done.Unknown), pendingLifetime.TotalDays);
                }
                inbox.Remove(name);
                break;
            case PartResult.Rejected rejected:
                logger.LogWarning("Background rejected part {Part}: {Reason}", name, rejected.Reason);
                inbox.Reject(name);
                if (rejected.Claimed is { } claimed)
                    await notices.SendAsync("Background", claimed.Sender, name, claimed.InternetMessageId,
                        claimed.Recipients.Select(r => new UndeliveredRecipient(r, "5.7.7", "the key part (ARM) was rejected on arrival: " + rejected.Reason)).ToList(),
                        cancellationToken);
                break;
        }
    }

    /// <summary>Tries held ARMs again for recipients who have become local users; drops them when held too long (the
    /// Foreground reports the failure to the sender, so the sender gets one report, not two).</summary>
    public Task SweepPendingAsync(CancellationToken cancellationToken)
    {
        using (var context = Context())
        {
            relay.IntroduceToSuperior(context);
            relay.AnnounceNewCertificate(context);
        }
        return SweepHeldAsync(cancellationToken);
    }

    Task SweepHeldAsync(CancellationToken cancellationToken) => pending.SweepAsync(
        r => relay.IsRoutable(r),
        (name, part, ready) =>
        {
            var bytes = ReadAll(part); // an ARM: small
            if (Handle(name, bytes, ready) is not PartResult.Done done) return Task.FromResult<IReadOnlyList<string>?>(null);
            logger.LogInformation("Background released the held ARM of {MessageId} for {Recipients}", done.Arm.MessageId, string.Join(", ", ready.Except(done.Unknown)));
            return Task.FromResult<IReadOnlyList<string>?>(done.Unknown);
        },
        pendingLifetime, _time.GetUtcNow().UtcDateTime,
        entry =>
        {
            logger.LogWarning("Background drops the held ARM of {MessageId} for {Recipients} after {Days} day(s): no such local user",
                entry.MessageId, string.Join(", ", entry.Recipients), pendingLifetime.TotalDays);
            return Task.CompletedTask;
        });

    static byte[] ReadAll(Stream stream)
    {
        var bytes = new byte[stream.Length - stream.Position];
        stream.ReadExactly(bytes);
        return bytes;
    }

    abstract record PartResult
    {
        public sealed record Done(AccessRestrictionsMessage Arm, IReadOnlyList<string> Unknown) : PartResult;
        public sealed record Rejected(string Reason, AccessRestrictionsMessage? Claimed) : PartResult;
        public sealed record Retry : PartResult;
        /// <summary>Not an ARM but an Introduction (recorded) or an Invitation Reject (answered).</summary>
        public sealed record Handled : PartResult;
    }

    PartResult Handle(string name, byte[] bytes, IReadOnlySet<string>? only)
    {
        using var context = Context();
        AccessRestrictionsMessage arm;
        OpenedPart opened;
        InterCourierEnvelope? received = null;
        IReadOnlyList<string> recipients;
        try
        {
            var message = MimeMessage.Load(new MemoryStream(bytes, writable: false));
            if (name.StartsWith(ForegroundElement.InvitationPrefix, StringComparison.Ordinal))
            {
                InvitationMessage.Reject(context, relay, message);
                return new PartResult.Handled();
            }
            try
            {
                if (name.StartsWith(ForegroundElement.InterCourierPrefix, StringComparison.Ordinal))
                {
                    received = InterCourierMessage.Read(context, message, CourierElement.Background);
                    if (received.Header.Kind == InterCourierKind.Introduction)
                    {
                        var (peer, body) = relay.Accept(context, received);
                        relay.AnswerInvitationFromBelow(context, peer, body);
                        return new PartResult.Handled();
                    }
                    if (received.Header.Kind != InterCourierKind.Arm)
                        return new PartResult.Rejected($"a {received.Header.Kind} from {received.Header.FromCourier} reached the Background, which takes ARMs only", null);
                    opened = PartEnvelope.Verify(context, received.Payload, expectedSigner: null);
                }
                else opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
            }
            catch (PartRejectedException ex) when (ex.Unverified is { } unverified && received is null && !ex.Transient)
            {
                AccessRestrictionsMessage? claimed = null;
                try { claimed = AccessRestrictionsMessage.FromEntity(unverified); } catch (Exception e) when (e is PartRejectedException or FormatException or System.Text.Json.JsonException) { }
                return new PartResult.Rejected(ex.Message, claimed);
            }
            arm = AccessRestrictionsMessage.FromEntity(opened.Entity);
            if (!string.Equals(opened.SignerAddress, arm.Sender, StringComparison.OrdinalIgnoreCase))
                return new PartResult.Rejected($"the ARM for {arm.MessageId} names sender <{arm.Sender}> but is signed by <{opened.SignerAddress}>", null);
            var expectedName = received is null ? name : received.Header.MessageId;
            if (expectedName != arm.MessageId) return new PartResult.Rejected($"the ARM in part {name} is for message {arm.MessageId}", received is null ? arm : null);
            recipients = received is null
                ? arm.Recipients
                : received.Header.Recipients.Where(r => arm.Recipients.Contains(r, StringComparer.OrdinalIgnoreCase)).ToList();
        }
        catch (PartRejectedException ex) when (ex.Transient)
        {
            logger.LogWarning("{Element} cannot check part {Part} yet: {Reason}; it waits", "Background", name, ex.Message);
            return new PartResult.Retry();
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or System.Text.Json.JsonException)
        {
            return new PartResult.Rejected(ex.Message, null);
        }

        var plan = relay.Plan(recipients.Where(r => only is null || only.Contains(r, StringComparer.OrdinalIgnoreCase)), received is not null && relay.IsFromBelow(received));
        var signer = PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(CourierElement.Background));
        var now = _time.GetUtcNow().UtcDateTime;
        var sealedFor = new List<ArmRecord>();
        MimeKit.Cryptography.ApplicationPkcs7Mime? signedArm = null;
        // Sealed for every local recipient, and stored for those not stored yet (a part handed on twice, after a crash):
        // the first one stands. No read of the store first: it opens its file for each operation, and a part comes
        // twice only after a crash, when sealing again costs less than a read for every part.
        foreach (var recipient in plan.Local)
        {
            var id = arm.MessageId + "/" + recipient;
            var certificate = identity.UserCertificate(recipient, context);
            if (certificate is null)
            {
                logger.LogError("Background cannot re-wrap the ARM of {MessageId} for {Recipient}: no valid certificate; the part waits", arm.MessageId, recipient);
                return new PartResult.Retry(); // left where it is: retried when the user has a certificate
            }
            // One signature for every local recipient of the ARM, each copy encrypted to its recipient.
            signedArm ??= PartEnvelope.Sign(context, signer, arm.ToEntity());
            var wrapped = CourierMime.Message(identity.ElementAddress(CourierElement.Background) ?? "background@invalid", recipient, "ARM " + arm.MessageId,
                PartEnvelope.EncryptTo(context, certificate, signedArm));
            var r = arm.Restrictions;
            sealedFor.Add(new ArmRecord
            {
                Id = id, MessageId = arm.MessageId, Recipient = recipient, Sender = arm.Sender.ToLowerInvariant(), InternetMessageId = arm.InternetMessageId,
                CreatedUtc = now, SealedArm = CourierMime.Bytes(wrapped), ExpiresUtc = r.ExpiresUtc?.UtcDateTime, MaxOpens = r.MaxOpens,
                NoForward = r.NoForward, ReceiptWanted = r.ReceiptWanted,
            });
        }
        var inserted = store.Write(() =>
        {
            var count = 0;
            foreach (var record in sealedFor)
                if (store.Arms.FindById(record.Id) is null)
                {
                    store.Arms.Insert(record);
                    count++;
                }
            if (received is null && store.Sent.FindById(arm.MessageId) is null)
                store.Sent.Insert(new SentRecord
                {
                    Id = arm.MessageId, Sender = arm.Sender.ToLowerInvariant(), InternetMessageId = arm.InternetMessageId,
                    Recipients = arm.Recipients.Select(x => x.ToLowerInvariant()).Distinct().ToList(), CreatedUtc = now, Restrictions = arm.Restrictions.ToString(),
                });
            return count;
        });
        Gateway.Platform.CrashPoint.Hit("background-after-store");
        foreach (var (peer, to, deferral) in plan.Forward)
            relay.Forward(context, peer, InterCourierKind.Arm, arm.MessageId, opened.Signed, to, arm.Sender, arm.InternetMessageId, received, deferral);
        if (received is not null) relay.LearnFrom(context, received, plan);
        if (inserted > 0 || received is null)
            logger.LogInformation("Background stored {Arm} for {Count} local recipient(s){From}", arm.ToString(), inserted,
                received is { } rc ? $" (from {rc.Header.FromCourier}, hop {rc.Header.Hops})" : "");
        return new PartResult.Done(arm, plan.Invite.Concat(plan.Held.Select(h => h.Recipient)).ToList());
    }

    /// <summary>In this process the answer is the store's, at once (<see cref="Release"/>).</summary>
    public Task<KeyRelease> ReleaseAsync(string messageId, string recipient, ReleasePurpose purpose, CancellationToken cancellationToken = default) =>
        Task.FromResult(Release(messageId, recipient, purpose));

    /// <summary>The recipient's Agent asks for the ARM; the restrictions decide, and the answer is recorded.</summary>
    public KeyRelease Release(string messageId, string recipient, ReleasePurpose purpose)
    {
        var id = messageId + "/" + recipient.ToLowerInvariant();
        var now = _time.GetUtcNow().UtcDateTime;
        string? RefusalOf(ArmRecord record)
        {
            if (record.Revoked || store.Sent.FindById(messageId) is { Revoked: true }) return "the sender revoked it";
            if (record.ExpiresUtc?.ToUniversalTime() is { } expires && now >= expires) return $"it expired at {expires:yyyy-MM-dd HH:mm} UTC";
            if (purpose != ReleasePurpose.Reopen && record.MaxOpens is { } max && record.Opens >= max) return $"it may be opened {max} time(s) and has been";
            return null;
        }
        if (purpose != ReleasePurpose.Open)
        {
            // A preview or a second fetch in one session records nothing: a read, no transaction.
            var record = store.Arms.FindById(id);
            if (record is null) return new KeyRelease.NotArrived();
            return RefusalOf(record) is { } why ? new KeyRelease.Refused(why) : new KeyRelease.Released(record.SealedArm);
        }
        var (release, receipt) = store.Write(() =>
        {
            var record = store.Arms.FindById(id);
            if (record is null) return ((KeyRelease)new KeyRelease.NotArrived(), (ReleaseEvent?)null);
            if (RefusalOf(record) is { } refusal)
            {
                var refused = new ReleaseEvent { Utc = now, Released = false, Detail = "refused: " + refusal, ReceiptDue = record.ReceiptWanted };
                record.Events.Add(refused);
                store.Arms.Update(record);
                return (new KeyRelease.Refused(refusal), refused);
            }
            record.Opens++;
            var first = record.FirstOpenedUtc is null;
            record.FirstOpenedUtc ??= now;
            var opened = new ReleaseEvent { Utc = now, Released = true, Detail = $"opened (open {record.Opens})", ReceiptDue = first && record.ReceiptWanted };
            record.Events.Add(opened);
            store.Arms.Update(record);
            return (new KeyRelease.Released(record.SealedArm), opened);
        });
        if (receipt is { ReceiptDue: true }) SendReceipts(id);
        if (release is not KeyRelease.NotArrived)
            Metrics.GatewayInstruments.KeyReleases.Add(1, new KeyValuePair<string, object?>("result", release is KeyRelease.Released ? "released" : "refused"));
        if (release is not KeyRelease.NotArrived)
            logger.LogInformation("Background {Decision} the key of {MessageId} to {Recipient}{Reason}", release is KeyRelease.Released ? "released" : "refused",
                messageId, recipient, release is KeyRelease.Refused r ? ": " + r.Reason : "");
        return release;
    }

    /// <summary>Queues the receipts owed for one ARM record, then marks them sent.</summary>
    public void SendReceipts(string armId)
    {
        var record = store.Arms.FindById(armId);
        if (record is null) return;
        foreach (var due in record.Events.Where(e => e.ReceiptDue).ToList())
        {
            receipts.Send(record, due);
            store.Write(() =>
            {
                var current = store.Arms.FindById(armId)!;
                foreach (var e in current.Events.Where(e => e.Id == due.Id)) e.ReceiptDue = false;
                store.Arms.Update(current);
                return 0;
            });
        }
    }

    /// <summary>Receipts owed from before a restart.</summary>
    public void SendOwedReceipts()
    {
        foreach (var record in store.Arms.Find(a => a.ReceiptWanted).Where(a => a.Events.Any(e => e.ReceiptDue)).ToList()) SendReceipts(record.Id);
    }

    /// <summary>Revokes a sent message: no recipient's Agent gets its key from now on. Returns false if unknown (or not the sender's).</summary>
    public bool Revoke(string messageId, string? sender = null)
    {
        var revoked = store.Revoke(messageId, sender, _time.GetUtcNow().UtcDateTime) is not null;
        if (revoked) logger.LogInformation("Background revoked {MessageId}{By}", messageId, sender is null ? "" : " at the request of " + sender);
        return revoked;
    }

    public IReadOnlyList<SentRecord> SentBy(string sender) => store.SentBy(sender);

    public IReadOnlyList<ArmRecord> ArmsOf(string messageId) => store.ArmsOf(messageId);
}
