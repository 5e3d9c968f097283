using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>What an Inter-Courier message carries.</summary>
public enum InterCourierKind
{
    /// <summary>A content part on its way to the recipient's courier (Foreground to Foreground).</summary>
    ContentPart,
    /// <summary>An ARM on its way to the recipient's courier (Background to Background).</summary>
    Arm,
    /// <summary>An Introduction: the sending element's courier, its addresses and certificates.</summary>
    Introduction,
    /// <summary>Registration Transfer, old Foreground to new: the user's subscription and key (<see cref="TransferBody"/>).</summary>
    TransferSubscription,
    /// <summary>Registration Transfer, new Foreground to old: the new courier's addresses and the user's new certificate.</summary>
    ConfigurationUpdate,
    /// <summary>Registration Transfer, new Foreground to old: the account is in service here; the old courier lets the user go.</summary>
    TransferComplete,
    /// <summary>Registration Transfer, old Foreground to new: the user's Agent accepts the new configuration, signed with
    /// the user's key (the one the Transfer Subscription carried); the new courier then completes the transfer.</summary>
    ExchangeKeys,
}

/// <summary>What an Introduction says about its courier (the payload of an Introduction message).</summary>
public sealed record IntroductionBody
{
    public const string MediaType = "application/vnd.gateway.introduction+json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Domains the courier serves (for a Private courier they must lie within its certificate's name constraints).</summary>
    public List<string> Domains { get; init; } = new();
    /// <summary>For an Invitation Reject: the invitation being answered and the address it invited.</summary>
    public string? InvitationId { get; init; }
    public string? Address { get; init; }
    /// <summary>Why it is sent: "superior" (a courier joining under its superior), "deferral" (answering a deferred part),
    /// "invitation-reject", "invitation-reject-below" (a courier below a Gateway courier hands it the Invitation its
    /// user received, for the Gateway to answer), or "domains" (a Gateway courier answers for more domains now).</summary>
    public string Reason { get; init; } = "";
    /// <summary>For "invitation-reject-below": the Invitation mail as received.</summary>
    public byte[]? Invitation { get; init; }

    public const string InvitationRejectBelow = "invitation-reject-below";

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static IntroductionBody Parse(byte[] json)
    {
        try { return JsonSerializer.Deserialize<IntroductionBody>(json, Json) ?? throw new PartRejectedException("the Introduction is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the Introduction is not valid: " + ex.Message, ex); }
    }
}

/// <summary>The cleartext-inside-the-envelope header of an Inter-Courier message (JSON, <see cref="MediaType"/>).</summary>
public sealed record InterCourierHeader
{
    public const string MediaType = "application/vnd.gateway.inter-courier+json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public InterCourierKind Kind { get; init; }
    /// <summary>The courier message id the payload belongs to (content part or ARM); empty for an Introduction.</summary>
    public string MessageId { get; init; } = "";
    /// <summary>The sending element's courier id (the name in its courier CA certificate).</summary>
    public string FromCourier { get; init; } = "";
    public CourierElement FromElement { get; init; }
    /// <summary>host:port where the sending element takes Inter-Courier mail (so that the receiver can answer it directly).</summary>
    public string FromEndpoint { get; init; } = "";
    /// <summary>For a part relayed by a superior (Deferral): the courier it came from first, and where that element listens.</summary>
    public string? OriginCourier { get; init; }
    public string? OriginEndpoint { get; init; }
    /// <summary>The domains the originator answers for (a Gateway courier names those of the couriers below it too);
    /// checked against its certificate's name constraints when it has them.</summary>
    public List<string>? OriginDomains { get; init; }
    /// <summary>The recipients this hop carries the part for (the payload names all the message's recipients).</summary>
    public List<string> Recipients { get; init; } = new();
    /// <summary>Inter-Courier hops so far, this one included (a loop guard, and how tests count a Deferral's way).</summary>
    public int Hops { get; init; } = 1;
    public DateTimeOffset CreatedUtc { get; init; }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static InterCourierHeader Parse(byte[] json)
    {
        try
        {
            return JsonSerializer.Deserialize<InterCourierHeader>(json, Json) ?? throw new PartRejectedException("the Inter-Courier header is empty");
        }
        catch (JsonException ex)
        {
            throw new PartRejectedException("the Inter-Courier header is not valid: " + ex.Message, ex);
        }
    }
}

/// <summary>An Inter-Courier message as received and checked: who sent it (element and courier), and what it carries.</summary>
/// <param name="SignerChain">The CA certificates the signature carried (the sending courier's CA up to the Root), already validated with the signer.</param>
public sealed record InterCourierEnvelope(InterCourierHeader Header, MimeEntity Payload, X509Certificate Signer, IReadOnlyList<X509Certificate> SignerChain,
    IReadOnlyList<X509Certificate> OriginChain);

/// <summary>
/// Messages between the elements of two couriers, over SMTP: from <c>foreground@A</c> to <c>foreground@B</c> (or between
/// the two Backgrounds; a Foreground never talks to a Background of another courier). The body is a multipart of the
/// <see cref="InterCourierHeader"/>, the payload (for a content part or an ARM: the sender's signed part, unchanged,
/// so the receiver checks the sender's signature too) and, for a deferred part, the originating courier's
/// certificate chain; it is signed by the sending element's introduction key, with its courier's CA chain up to the
/// Root, and encrypted to the receiving element's introduction certificate.
/// </summary>
public static class InterCourierMessage
{
    public const string ChainMediaType = "application/pem-certificate-chain";

    public static MimeMessage Build(CourierSecureMimeContext context, CmsSigner elementSigner, string fromAddress, X509Certificate peerIntroduction,
        InterCourierHeader header, MimeEntity payload, IEnumerable<X509Certificate>? originChain = null)
    {
        var body = new Multipart("mixed") { CourierMime.Part(InterCourierHeader.MediaType, header.ToJson()), payload };
        if (originChain is not null) body.Add(CourierMime.Part(ChainMediaType, System.Text.Encoding.ASCII.GetBytes(CourierAuthority.Pem(originChain.Cast<object>().ToArray()))));
        var to = Certificates.EmailOf(peerIntroduction) ?? throw new PartRejectedException("the peer's introduction certificate names no address");
        var subject = header.Kind == InterCourierKind.Introduction ? "Inter-Courier Introduction" : $"Inter-Courier {header.Kind} {header.MessageId}";
        return CourierMime.Message(fromAddress, to, subject, PartEnvelope.Seal(context, elementSigner, peerIntroduction, body));
    }

    /// <summary>
    /// Decrypts with the receiving element's key and checks: one valid signature by an introduction certificate of the
    /// same kind of element, chaining to the Root and unrevoked, whose courier is the one the header names.
    /// </summary>
    public static InterCourierEnvelope Read(CourierSecureMimeContext context, MimeMessage message, CourierElement receivingElement)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
        var (courier, element) = IntroductionOf(opened.Signer)
            ?? throw new PartRejectedException($"the Inter-Courier message is signed by <{opened.SignerAddress}>, which is not an element's introduction certificate");
        if (element != receivingElement)
            throw new PartRejectedException($"the Inter-Courier message comes from the {element} of {courier}; only a {receivingElement} may write to this {receivingElement}");
        if (opened.Entity is not Multipart { Count: >= 2 } parts || parts[0] is not MimePart { ContentType.MimeType: InterCourierHeader.MediaType } headerPart)
            throw new PartRejectedException("the Inter-Courier message is not a header and a payload");
        var header = InterCourierHeader.Parse(CourierMime.Decode(headerPart));
        if (!string.Equals(header.FromCourier, courier, StringComparison.OrdinalIgnoreCase) || header.FromElement != element)
            throw new PartRejectedException($"the header says it comes from the {header.FromElement} of {header.FromCourier}, the signature from the {element} of {courier}");
        var chain = parts.Count >= 3 && parts[2] is MimePart { ContentType.MimeType: ChainMediaType } chainPart
            ? CourierAuthority.ReadAllPem<X509Certificate>(System.Text.Encoding.ASCII.GetString(CourierMime.Decode(chainPart)))
            : new List<X509Certificate>();
        if (header.Hops is < 1 or > CourierRouter.MaxHops)
            throw new PartRejectedException($"the Inter-Courier message has made {header.Hops} hops; at most {CourierRouter.MaxHops} are allowed (a routing loop?)");
        return new InterCourierEnvelope(header, parts[1], opened.Signer, opened.Carried, chain);
    }

    /// <summary>The courier id and element of an introduction certificate (CN "DOMAIN ELEMENT introduction", the
    /// element's address and the courier's DNS name in the SAN), or null for any other certificate.</summary>
    public static (string Courier, CourierElement Element)? IntroductionOf(X509Certificate certificate)
    {
        var cn = certificate.SubjectDN.GetValueList(X509Name.CN).Cast<string>().FirstOrDefault() ?? "";
        var email = Certificates.EmailOf(certificate);
        var dns = certificate.GetSubjectAlternativeNames()?.Where(n => n.Count >= 2 && n[0] is int tag && tag == GeneralName.DnsName)
            .Select(n => n[1]?.ToString()?.ToLowerInvariant()).FirstOrDefault();
        if (email is null || dns is null) return null;
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
        {
            var label = element == CourierElement.Foreground ? "foreground" : "background";
            if (email == $"{label}@{dns}" && string.Equals(cn, $"{dns} {label} introduction", StringComparison.OrdinalIgnoreCase))
                return (dns, element);
        }
        return null;
    }
}
