using System.Text.Json;
using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>What an Invitation carries for machines: who invites, and where its two elements take Inter-Courier mail.</summary>
public sealed record InvitationBody
{
    public const string MediaType = "application/vnd.gateway.invitation+json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string InvitationId { get; init; } = "";
    public string Address { get; init; } = "";
    public string Courier { get; init; } = "";
    public string ForegroundEndpoint { get; init; } = "";
    public string BackgroundEndpoint { get; init; } = "";

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);
    public static InvitationBody Parse(byte[] json) =>
        JsonSerializer.Deserialize<InvitationBody>(json, Json) ?? throw new PartRejectedException("the invitation body is empty");
}

/// <summary>
/// The Invitation mail a Public courier sends to an address it does not know: readable by any mail program (a
/// text with the one-time registration link), S/MIME signed (multipart/signed) by the courier's Foreground with its
/// certificate chain, and carrying the courier's two introduction certificates and endpoints so that a courier
/// where the address is already registered can answer with an Invitation Reject.
/// </summary>
public static class InvitationMessage
{
    public const string HeaderName = "X-Gateway-Invitation";

    public static MimeMessage Build(CourierSecureMimeContext context, CmsSigner foregroundSigner, string from, InvitationBody body, string text,
        IEnumerable<X509Certificate> certificates)
    {
        var mixed = new Multipart("mixed")
        {
            new TextPart("plain") { Text = text },
            CourierMime.Part(InvitationBody.MediaType, body.ToJson(), "invitation.json"),
            CourierMime.Part(InterCourierMessage.ChainMediaType, System.Text.Encoding.ASCII.GetBytes(CourierAuthority.Pem(certificates.Cast<object>().ToArray())), "courier.pem"),
        };
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(body.Address));
        message.Subject = $"A protected message is waiting for you at {body.Courier}";
        message.Date = DateTimeOffset.UtcNow;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(body.Courier);
        message.Headers.Add(HeaderName, body.InvitationId);
        message.Body = MultipartSigned.Create(context, foregroundSigner, mixed);
        return message;
    }

    public sealed record Read(InvitationBody Body, X509Certificate Foreground, X509Certificate Background, IReadOnlyList<X509Certificate> Chain);

    /// <summary>Checks an Invitation: signed by a Foreground introduction certificate valid up to the Root, carrying both element certificates of that courier.</summary>
    public static Read Open(CourierSecureMimeContext context, MimeMessage message)
    {
        if (message.Headers[HeaderName] is null || message.Body is not MultipartSigned signed || signed.Count < 2 || signed[0] is not Multipart mixed)
            throw new PartRejectedException("not an Invitation");
        var signatures = signed.Verify(context);
        if (signatures.Count != 1) throw new PartRejectedException($"the Invitation carries {signatures.Count} signatures; exactly one is accepted");
        var signature = signatures[0];
        try { signature.Verify(verifySignatureOnly: true); }
        catch (DigitalSignatureVerifyException ex) { throw new PartRejectedException("the Invitation's signature does not verify: " + ex.Message, ex); }
        if (signature.SignerCertificate is not SecureMimeDigitalCertificate { Certificate: { } signer })
            throw new PartRejectedException("the Invitation's signer certificate is missing");
        var body = mixed.OfType<MimePart>().FirstOrDefault(p => p.ContentType.MimeType == InvitationBody.MediaType) is { } b
            ? InvitationBody.Parse(CourierMime.Decode(b)) : throw new PartRejectedException("the Invitation carries no invitation body");
        var pem = mixed.OfType<MimePart>().FirstOrDefault(p => p.ContentType.MimeType == InterCourierMessage.ChainMediaType)
                  ?? throw new PartRejectedException("the Invitation carries no certificates");
        var certificates = CourierAuthority.ReadAllPem<X509Certificate>(System.Text.Encoding.ASCII.GetString(CourierMime.Decode(pem)));
        var chain = certificates.Where(c => c.GetBasicConstraints() >= 0).ToList();
        var validation = context.ValidateCertificate(signer, chain);
        if (!validation.IsValid)
            throw new PartRejectedException("the Invitation's signer is not trusted: " + validation.Reason) { Transient = validation.MissingRevocationData };
        if (InterCourierMessage.IntroductionOf(signer) is not { Element: CourierElement.Foreground } named || !string.Equals(named.Courier, body.Courier, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the Invitation is not signed by the Foreground of {body.Courier}");
        X509Certificate Element(CourierElement e) => certificates.FirstOrDefault(c => InterCourierMessage.IntroductionOf(c) is { } n && n.Element == e
                && string.Equals(n.Courier, body.Courier, StringComparison.OrdinalIgnoreCase))
            ?? throw new PartRejectedException($"the Invitation carries no {e} certificate of {body.Courier}");
        return new Read(body, Element(CourierElement.Foreground), Element(CourierElement.Background), chain);
    }

    /// <summary>
    /// Invitation Reject, done by each element for itself: the invited address is a user here, so this element
    /// records the inviting courier's element and introduces itself to it, naming the invitation and the address.
    /// </summary>
    /// <param name="forCourierBelow">A Gateway courier answering for a courier below it (which checked its user, and
    /// whose address the Gateway checked against that courier's domains).</param>
    public static void Reject(CourierSecureMimeContext context, ElementRelay relay, MimeMessage message, bool forCourierBelow = false)
    {
        var invitation = Open(context, message);
        // Only for a user of ours: answering claims the address for this courier.
        if (!forCourierBelow && relay.Router.Decide(invitation.Body.Address) is not CourierRoute.Deliver)
            throw new PartRejectedException($"an Invitation for {invitation.Body.Address}, who is no user here, is not answered");
        if (relay.BehindGateway && relay.Peers.Superior() is { IntroductionCertificate.Length: > 0 } gateway)
        {
            // Behind a Gateway courier we introduce ourselves to no one else: the Gateway answers the Invitation for us
            // (and then receives, and passes down, the parts held for our user).
            relay.Introduce(context, gateway.Id, gateway.Endpoint, new X509Certificate(gateway.IntroductionCertificate),
                relay.Describe(IntroductionBody.InvitationRejectBelow, invitation.Body.InvitationId, invitation.Body.Address) with { Invitation = CourierMime.Bytes(message) });
            return;
        }
        var introduction = relay.Element == CourierElement.Foreground ? invitation.Foreground : invitation.Background;
        var endpoint = relay.Element == CourierElement.Foreground ? invitation.Body.ForegroundEndpoint : invitation.Body.BackgroundEndpoint;
        var peer = relay.Learn(context, introduction, invitation.Chain, endpoint, PeerSource.Introduction, Array.Empty<string>(), Array.Empty<string>());
        relay.Introduce(context, peer.Id, peer.Endpoint, introduction, relay.Describe("invitation-reject", invitation.Body.InvitationId, invitation.Body.Address));
    }
}
