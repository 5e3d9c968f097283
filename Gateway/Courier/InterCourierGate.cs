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
/// <param name="foregroundInbox">The Foreground's inbox, or null when it runs on another host (its mail is then not taken here).</param>
/// <param name="backgroundInbox">Likewise for the Background.</param>
/// <param name="remoteBackground">With the Background on its own host: the link to it (an Invitation a user received goes there too).</param>
/// <param name="ownCourierCa">This courier's CA certificate: on an element's own host, the Agent's parts must be signed by a user it issued.</param>
/// <param name="remoteForeground">With the Foreground on its own host: the link to it, likewise.</param>
/// <param name="agentElsewhere">The Agent runs on another host: the elements here take its parts (and accounts) over SMTP.</param>
/// <param name="maxAge">How old a signed message may be when it arrives (<see cref="MessageFreshness.DefaultMaxAge"/> by default): a message
/// recorded and sent again later is refused, whatever it carries. It must be longer than senders keep retrying.</param>
public sealed class InterCourierGate(CourierIdentity identity, IKeyRing foregroundKeys, IKeyRing backgroundKeys, CertificateDirectory directory,
    ElementInbox? foregroundInbox, ElementInbox? backgroundInbox, ILogger<InterCourierGate> logger, Func<Org.BouncyCastle.X509.X509Certificate?>? ownCourierCa = null,
    IElementDrop? remoteBackground = null, IElementDrop? remoteForeground = null, bool agentElsewhere = false,
    Func<string, string, bool>? transferAuthorised = null, TimeSpan? maxAge = null, TimeProvider? time = null)
{
    readonly TimeSpan _maxAge = maxAge ?? MessageFreshness.DefaultMaxAge;
    readonly TimeProvider _time = time ?? TimeProvider.System;

    void CheckFresh(DateTimeOffset createdUtc, string what) => MessageFreshness.Check(createdUtc, what, _maxAge, _time.GetUtcNow());

    /// <summary>The element of ours whose address this is, wherever it runs.</summary>
    CourierElement? OwnElementOf(string address)
    {
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
            if (identity.ElementAddress(element) is { } own && string.Equals(own, address, StringComparison.OrdinalIgnoreCase)) return element;
        return null;
    }

    /// <summary>The element an address belongs to, if it is one of ours and runs here.</summary>
    public CourierElement? ElementOf(string address) =>
        OwnElementOf(address) is { } element && (element == CourierElement.Foreground ? foregroundInbox : backgroundInbox) is not null ? element : null;

    /// <summary>Whether an address is one of this courier's two element addresses, wherever the element runs: they take
    /// Inter-Courier and the courier's own traffic, never mail a user writes.</summary>
    public bool IsElementAddress(string address) => OwnElementOf(address) is not null;

    /// <summary>An element whose Agent runs on another host also takes this courier's own traffic over SMTP: the Agent's
    /// parts, accounts (the Foreground's Distribute Account for the Background, the Agent's host's for the Foreground),
    /// Key Replacement messages and Invitations a user received. In one process these are handed over directly, and never accepted from outside.</summary>
    bool TakesOwnCourierTraffic(CourierElement element) =>
        (agentElsewhere || foregroundInbox is null) && (element == CourierElement.Foreground ? foregroundInbox : backgroundInbox) is not null;

    enum OwnTraffic { None, AgentPart, Account, Invitation, KeyReplacement }

    /// <summary>What a message to our element is, by its sender: the Foreground's address (Distribute Account for the
    /// Background), a user's address (the Agent's part, or for the Foreground the Agent's host's Distribute Account), or
    /// another courier's element (Inter-Courier). Signatures decide later.</summary>
    OwnTraffic OwnTrafficOf(CourierElement element, HeaderList headers)
    {
        if (!TakesOwnCourierTraffic(element)) return OwnTraffic.None;
        if (headers[InvitationMessage.HeaderName] is not null) return OwnTraffic.Invitation;
        var from = CourierMime.FromAddress(headers);
        var keyReplacement = KeyReplacementMessage.KindOfSubject(headers[HeaderId.Subject]) is not null;
        if (element == CourierElement.Background && string.Equals(from, identity.ElementAddress(CourierElement.Foreground), StringComparison.OrdinalIgnoreCase))
            return keyReplacement ? OwnTraffic.KeyReplacement : OwnTraffic.Account;
        var local = from.Split('@')[0];
        if (local is "foreground" or "background") return OwnTraffic.None;
        if (element == CourierElement.Foreground && keyReplacement) return OwnTraffic.KeyReplacement;
        return element == CourierElement.Foreground && headers[HeaderId.Subject]?.Trim() == DistributeAccount.Subject ? OwnTraffic.Account : OwnTraffic.AgentPart;
    }

    /// <summary>The Agent names its part by the courier message id ("ARM id", "Content id"), as it does in one process;
    /// the element checks the part inside is that message's.</summary>
    static string? AgentPartName(CourierElement element, HeaderList headers)
    {
        var prefix = element == CourierElement.Foreground ? "Content " : "ARM ";
        return headers[HeaderId.Subject]?.Trim() is { } subject && subject.StartsWith(prefix, StringComparison.Ordinal) && subject[prefix.Length..] is var id
               && id.Length is > 0 and <= 64 && id.All(char.IsAsciiLetterOrDigit) ? id : null;
    }

    void CheckOwnCourierTraffic(CourierElement element, CourierSecureMimeContext context, MimeMessage message, OwnTraffic kind)
    {
        if (kind == OwnTraffic.Account)
        {
            var account = element == CourierElement.Background
                ? DistributeAccount.Read(context, identity, message)
                : DistributeAccount.ReadFromAgent(context, ownCourierCa?.Invoke(), message);
            CheckFresh(account.CreatedUtc, "Distribute Account");
            return;
        }
        if (kind == OwnTraffic.KeyReplacement)
        {
            // For the Background, from our Foreground; for the Foreground, from a user's Agent (signed with the new key).
            var body = element == CourierElement.Background
                ? KeyReplacementMessage.OpenAtBackground(context, identity, message).Body
                : KeyReplacementMessage.OpenFromAgent(context, ownCourierCa?.Invoke(), message);
            CheckFresh(body.CreatedUtc, body.Kind.ToString());
            return;
        }
        if (kind == OwnTraffic.Invitation)
        {
            // Answered only for an address of a user here (InvitationMessage.Reject checks it again).
            try { InvitationMessage.Open(context, message); }
            catch (Exception ex) when (ex is CertificateNotFoundException or Org.BouncyCastle.Cms.CmsException or NotSupportedException)
            {
                throw new PartRejectedException("the Invitation does not check out: " + ex.Message, ex);
            }
            return;
        }
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
        if (ownCourierCa?.Invoke() is not { } ca || !opened.Signer.IssuerDN.Equivalent(ca.SubjectDN))
            throw new PartRejectedException($"the part is signed by <{opened.SignerAddress}>, who is not a user of this courier");
        var (what, sender) = element == CourierElement.Background
            ? ("ARM", AccessRestrictionsMessage.FromEntity(opened.Entity).Sender)
            : ("content part", ForegroundElement.Read(opened.Entity).Manifest.Sender);
        if (!string.Equals(sender, opened.SignerAddress, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the {what} names <{sender}> as its sender but is signed by <{opened.SignerAddress}>");
    }

    /// <summary>Checks an Inter-Courier message for <paramref name="element"/>; returns why it is refused (and whether only
    /// for now, a peer's CRL being out of reach), or null.</summary>
    public (string Reason, bool Transient)? Check(CourierElement element, Stream content, string client)
    {
        try
        {
            var message = MimeMessage.Load(content);
            using var context = new CourierSecureMimeContext(element == CourierElement.Foreground ? foregroundKeys : backgroundKeys, directory);
            if (OwnTrafficOf(element, message.Headers) is var own && own != OwnTraffic.None)
            {
                CheckOwnCourierTraffic(element, context, message, own);
                return null;
            }
            var received = InterCourierMessage.Read(context, message, element);
            CheckFresh(received.Header.CreatedUtc, $"Inter-Courier {received.Header.Kind}");
            if (TransferDesk.IsTransfer(received.Header.Kind))
            {
                // Registration Transfer is between Foregrounds; a subscription only when pre-authorised here (no slamming).
                if (element != CourierElement.Foreground) return ($"a {received.Header.Kind} is not for the {element}", false);
                if (received.Header.Kind == InterCourierKind.TransferSubscription
                    && TransferBody.From(received.Payload) is var body && transferAuthorised?.Invoke(body.Address, received.Header.FromCourier) != true)
                {
                    logger.LogWarning("Foreground refused a Transfer Subscription of {Address} from {Courier}: not accepted here", body.Address, received.Header.FromCourier);
                    return ($"no transfer of {body.Address} from {received.Header.FromCourier} was accepted here", false);
                }
                return null;
            }
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

    /// <summary>Hands an accepted message to the element (durably; the same name twice is one part): an Inter-Courier
    /// message, or on an element's own host the Agent's part and the accounts it is told of.</summary>
    public void Accept(CourierElement element, string queueId, byte[] message)
    {
        var inbox = (element == CourierElement.Foreground ? foregroundInbox : backgroundInbox)
                    ?? throw new InvalidOperationException($"the {element} does not run in this process");
        // The header suffices to name it (the element opens and checks the whole message).
        var parsed = HeaderList.Load(new MemoryStream(message, writable: false));
        var name = OwnTrafficOf(element, parsed) switch
        {
            OwnTraffic.Account => DistributeAccount.Prefix + queueId,
            OwnTraffic.Invitation => ForegroundElement.InvitationPrefix + queueId,
            OwnTraffic.KeyReplacement => KeyReplacementMessage.NameOf(KeyReplacementMessage.KindOfSubject(parsed[HeaderId.Subject])!.Value, queueId),
            OwnTraffic.AgentPart => AgentPartName(element, parsed) ?? queueId,
            _ => ForegroundElement.InterCourierPrefix + queueId,
        };
        inbox.Put(name, message);
    }

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
        if (backgroundInbox is not null) backgroundInbox.Put(ForegroundElement.InvitationPrefix + queueId, message);
        else remoteBackground?.Drop(ForegroundElement.InvitationPrefix + queueId, message);
        if (foregroundInbox is not null) foregroundInbox.Put(ForegroundElement.InvitationPrefix + queueId, message);
        else remoteForeground?.Drop(ForegroundElement.InvitationPrefix + queueId, message);
    }
}
