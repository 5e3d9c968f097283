using System.Text.Json;
using Gateway.Crypto;
using Gateway.Delivery;
using Gateway.Platform;
using Gateway.Queue;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Courier;

/// <summary>
/// The Agent on the submission side. For a message a local user submitted to recipients this courier serves, it
/// makes a fresh CEK, seals the message under it (<see cref="ContentPart"/>), builds the ARM, and hands the ARM to
/// the Background first and then the content part to the Foreground, each signed by the sender and encrypted to
/// that element. Both parts are written to the Agent's outbox first (two sealed files, made durable together before
/// either is handed on), so a crash at any point hands on the same pair again, never a second CEK; the elements take
/// a given part once. An element in this process adopts its file by a second name in its inbox (no copy, one disk sync
/// of its directory); one on another host gets it through its link.
/// </summary>
public sealed class SubmissionAgent(
    MessageQueue queue,
    DataDirectory data,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierAuthority authority,
    CourierIdentity identity,
    RestrictionPolicy policy,
    Gateway.Configuration.GatewayOptions options,
    ILogger<SubmissionAgent> logger,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    string OutboxDirectory => Path.Combine(data.AgentDirectory, "outbox");
    /// <summary>Both parts in one file, as an earlier version wrote them (still handed on after an upgrade).</summary>
    string OutboxPath(string id) => Path.Combine(OutboxDirectory, id + ".parts");
    string ArmPath(string id) => Path.Combine(OutboxDirectory, id + ".arm");
    string ContentPath(string id) => Path.Combine(OutboxDirectory, id + ".content");

    /// <summary>Where the parts go; set by the host (the elements' inboxes, or a link to the element's own host).</summary>
    public required IElementDrop ForegroundInbox { get; init; }
    public required IElementDrop BackgroundInbox { get; init; }

    /// <summary>Both parts as an earlier version's outbox file holds them: the ARM (small) in memory, the content part
    /// read from the sealed file, never whole.</summary>
    sealed class Parts(byte[] arm, Stream content) : IDisposable
    {
        public byte[] Arm => arm;
        public Stream Content => content;
        public void Dispose() => content.Dispose();
    }

    public async Task<IReadOnlyList<RecipientOutcome>> SplitAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken)
    {
        var sender = message.AuthenticatedUser!.ToLowerInvariant();
        if (!identity.IsReady)
            return Fail(recipients, "4.7.0", "this courier has no element certificates yet ('gateway ca init --root' or join a network); the message is held, not sent in clear");
        var id = message.Id;
        try
        {
            if (File.Exists(OutboxPath(id)))
            {
                // Left by an earlier version: both parts in one file.
                using var parts = LoadOutbox(id);
                HandOn(id, parts.Arm, parts.Content);
            }
            else
            {
                // Both staged files present means both are the same build (the pair is made durable before either is
                // handed on); one alone means a build that never finished, and nothing was handed on: build again.
                if (!File.Exists(ArmPath(id)) || !File.Exists(ContentPath(id)))
                {
                    DurableFile.CreatePrivateDirectory(OutboxDirectory);
                    if (File.Exists(ArmPath(id)) || File.Exists(ContentPath(id)))
                    {
                        // The lone file goes, durably, before the new build writes its pair: otherwise a crash could
                        // leave it beside a new file of the other kind, a pair of two builds.
                        File.Delete(ArmPath(id));
                        File.Delete(ContentPath(id));
                        DurableFile.SyncDirectory(OutboxDirectory);
                    }
                    await BuildAsync(message, sender, recipients, cancellationToken);
                }
                // ARM first, then content: a content part never waits on a recipient's side for an ARM that was not sent.
                HandOn(BackgroundInbox, id, ArmPath(id));
                CrashPoint.Hit("agent-after-arm");
                HandOn(ForegroundInbox, id, ContentPath(id));
                CrashPoint.Hit("agent-after-content");
            }
        }
        catch (Exception ex) when (ex is KeyStoreException or CourierAuthorityException or MimeKit.Cryptography.CertificateNotFoundException or PartRejectedException)
        {
            logger.LogError("Agent cannot split {QueueId} from {Sender}: {Reason}", message.Id, sender, ex.Message);
            return Fail(recipients, "4.7.0", "the message cannot be protected yet: " + ex.Message);
        }
        logger.LogInformation("Agent split {QueueId} from {Sender} for {Count} recipient(s): ARM to the Background, content part to the Foreground",
            message.Id, sender, recipients.Count);
        return recipients.Select(r => new RecipientOutcome(r.Address, OutcomeKind.Delivered, "2.0.0", "protected: content part and ARM handed to the Foreground and Background")).ToList();
    }

    /// <summary>An element here adopts the staged file itself; one elsewhere (or on another file system) gets a copy.</summary>
    void HandOn(IElementDrop drop, string id, string staged)
    {
        if (drop.TryAdopt(id, staged)) return;
        using var part = queue.Seal.OpenRead(staged);
        drop.Drop(id, part);
    }

    void HandOn(string id, byte[] arm, Stream content)
    {
        BackgroundInbox.Drop(id, arm);
        CrashPoint.Hit("agent-after-arm");
        ForegroundInbox.Drop(id, content);
        CrashPoint.Hit("agent-after-content");
    }

    /// <summary>Forgets a message's parts once the queue has recorded the hand-off (the message left the queue). An
    /// element that adopted a part keeps it under its own name until it is done with it.</summary>
    public void Discard(string queueId)
    {
        foreach (var path in new[] { OutboxPath(queueId), ArmPath(queueId), ContentPath(queueId) })
            if (File.Exists(path)) File.Delete(path);
    }

    /// <summary>Outbox files whose message is no longer queued (a crash between the queue's removal and
    /// <see cref="Discard"/>), and half-written ones.</summary>
    public void DiscardOrphans(ISet<string> queuedIds)
    {
        if (!Directory.Exists(OutboxDirectory)) return;
        foreach (var file in Directory.EnumerateFiles(OutboxDirectory, "*.tmp")) File.Delete(file);
        foreach (var pattern in new[] { "*.parts", "*.arm", "*.content" })
            foreach (var file in Directory.EnumerateFiles(OutboxDirectory, pattern))
                if (!queuedIds.Contains(Path.GetFileNameWithoutExtension(file))) File.Delete(file);
        queue.Seal.SealPlainFiles(OutboxDirectory, "*.parts"); // left plain by an earlier version
    }

    static List<RecipientOutcome> Fail(IEnumerable<QueuedRecipient> recipients, string status, string reason) =>
        recipients.Select(r => RecipientOutcome.Transient(r.Address, status, reason)).ToList();

    static ReadOnlySpan<byte> OutboxMagic => "GWP1"u8;

    /// <summary>The parts an earlier version wrote to its one outbox file before it stopped (the same parts are handed on
    /// again, never new ones).</summary>
    Parts LoadOutbox(string id)
    {
        var stored = queue.Seal.OpenReadAny(OutboxPath(id));
        try
        {
            Span<byte> head = stackalloc byte[8];
            if (stored.Length >= 8 && stored.Read(head) == 8 && head[..4].SequenceEqual(OutboxMagic))
            {
                var arm = new byte[System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(head[4..])];
                stored.ReadExactly(arm);
                return new Parts(arm, stored); // positioned at the content part, which runs to the end
            }
            // Written by an earlier version: JSON with both parts in base64.
            stored.Position = 0;
            var json = JsonSerializer.Deserialize<Dictionary<string, byte[]>>(stored)!;
            stored.Dispose();
            return new Parts(json["arm"], new MemoryStream(json["content"], writable: false));
        }
        catch
        {
            stored.Dispose();
            throw;
        }
    }

    async Task BuildAsync(QueuedMessage message, string sender, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken)
    {
        var id = message.Id;
        var now = _time.GetUtcNow();
        HeaderList headers;
        await using (var head = queue.OpenContent(message)) headers = await HeaderList.LoadAsync(head, cancellationToken);

        using var context = new CourierSecureMimeContext(keys, directory);
        EnsureCertificate(sender, context);
        // Our recipients only (a local user, or an address of our domains whose part may wait for its account): a
        // recipient another courier serves gets its certificate there, never from our CA (its name constraints
        // would not even allow it).
        foreach (var r in recipients.Where(r => IsOurs(r.Address))) EnsureCertificate(r.Address, context);

        var cek = ContentPart.NewCek();
        // The message is sealed under the CEK as it is read from the queue, into a working copy (a sealed file once large).
        var sealedContent = context.Scratch();
        await using (var original = queue.OpenContent(message)) ContentPart.Seal(original, id, cek, sealedContent);
        sealedContent.Position = 0;
        var contentDigest = ContentPart.Digest(sealedContent);
        sealedContent.Position = 0;
        var problems = new List<string>();
        var restrictions = policy.For(sender, headers, now, problems);
        foreach (var p in problems) logger.LogWarning("Agent: {QueueId} from {Sender}: ignored {Problem}", id, sender, p);
        var recipientList = recipients.Select(r => r.Address.ToLowerInvariant()).Distinct().ToList();
        var arm = new AccessRestrictionsMessage
        {
            MessageId = id, InternetMessageId = headers[HeaderId.MessageId]?.Trim(), Cek = cek, ContentDigest = contentDigest,
            Sender = sender, Recipients = recipientList, CreatedUtc = now, Restrictions = restrictions,
        };
        var manifest = new ContentManifest
        {
            MessageId = id, Sender = sender, Recipients = recipientList,
            Headers = headers.Where(h => ContentManifest.RoutingHeaders.Contains(h.Field, StringComparer.OrdinalIgnoreCase))
                .Select(h => new KeyValuePair<string, string>(h.Field, h.Value)).ToList(),
            Mailbox = message.FileInto, Flags = message.Flags,
        };

        // The sender's signature travels with both parts to the recipient's courier, which may know nothing of ours
        // (a Deferral): it carries our CA chain below the Root.
        var signer = PartEnvelope.Signer(keys, CourierSecureMimeContext.UserKeyId(sender), authority.OwnChain(withRoot: false));

        var armMessage = CourierMime.Message(sender, identity.ElementAddress(CourierElement.Background)!, "ARM " + id,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Background)!, arm.ToEntity()));

        var contentEntity = new Multipart("mixed")
        {
            CourierMime.Part(ContentManifest.MediaType, manifest.ToJson()),
            CourierMime.Part("application/pkcs7-mime", sealedContent, "content.p7m"),
        };
        var contentMessage = CourierMime.Message(sender, identity.ElementAddress(CourierElement.Foreground)!, "Content " + id,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Foreground)!, contentEntity));

        DurableFile.CreatePrivateDirectory(OutboxDirectory);
        // Sealed, each written as it is produced and synced; the directory once for both, before either is handed on.
        queue.Seal.WriteAtomicDirectoryUnsynced(ArmPath(id), stored => CourierMime.WriteTo(armMessage, stored));
        queue.Seal.WriteAtomicDirectoryUnsynced(ContentPath(id), stored => CourierMime.WriteTo(contentMessage, stored));
        DurableFile.SyncDirectory(OutboxDirectory);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(cek);
    }

    /// <summary>
    /// S/MIME for recipients outside (no courier serves them): the user's message, signed with the user's certificate
    /// and encrypted to the recipients' approved certificates. The message's own MIME body is wrapped whole, never
    /// rewritten (a part the user signed stays byte for byte inside); a body the user already encrypted is sent as is.
    /// </summary>
    public MimeMessage ProtectForOutside(MimeMessage message, string sender, IReadOnlyList<Org.BouncyCastle.X509.X509Certificate> recipients)
    {
        if (message.Body is ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.EnvelopedData or SecureMimeType.AuthEnvelopedData } or MultipartEncrypted)
            return message;
        using var context = new CourierSecureMimeContext(keys, directory);
        EnsureCertificate(sender, context);
        var signer = PartEnvelope.Signer(keys, CourierSecureMimeContext.UserKeyId(sender));
        var to = new CmsRecipientCollection();
        foreach (var certificate in recipients) to.Add(new CmsRecipient(certificate));
        // A message of headers alone still leaves protected: its (empty) body is what is signed and encrypted.
        var body = ApplicationPkcs7Mime.SignAndEncrypt(context, signer, to, message.Body ?? new TextPart("plain") { Text = "" });
        // The message is sent after this context is gone: its body's working copy goes with it (disposed with the message).
        context.HandOver(body);
        message.Body = body;
        return message;
    }

    /// <summary>
    /// A local user without a usable S/MIME certificate (created before the courier had a CA, or whose certificate
    /// expired or was revoked) gets one now: the Foreground and Background apply the same test before re-wrapping.
    /// </summary>
    void EnsureCertificate(string address, CourierSecureMimeContext context)
    {
        if (identity.UserCertificate(address, context) is not null) return;
        // Several deliveries run at once: one issues, the others then find its certificate (two would leave the
        // directory with a certificate whose key was overwritten).
        lock (CourierAuthority.UserIssueGate)
        {
            if (identity.UserCertificate(address, context) is not null) return;
            var certificate = authority.IssueUser(address, options.Crypto.UserKeyAlgorithm);
            logger.LogInformation("Agent issued an S/MIME certificate for {Address} (serial {Serial})", address, certificate.SerialNumber.ToString(16));
        }
    }


    bool IsOurs(string address) =>
        keys.Contains(CourierSecureMimeContext.UserKeyId(address))
        || options.Domains.Contains(address[(address.LastIndexOf('@') + 1)..], StringComparer.OrdinalIgnoreCase);

}
