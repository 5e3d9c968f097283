using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Crypto;

namespace Gateway.Courier;

/// <summary>
/// The Agent's request for a recipient's ARM when the Background runs on another host: which message, for whom, why,
/// when, and a one-time nonce, as JSON (<see cref="MediaType"/>) inside an opaque S/MIME signature by the recipient's
/// own key, which only the recipient's Agent holds. The answer needs no protection of its own: the sealed ARM is
/// signed by the Background and encrypted to the recipient.
/// </summary>
public sealed record KeyReleaseRequest
{
    public const string MediaType = "application/vnd.gateway.key-release+json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public string MessageId { get; init; } = "";
    public string Recipient { get; init; } = "";
    public ReleasePurpose Purpose { get; init; }
    /// <summary>Random, once per request: a request seen before is refused (a replay would count an open again).</summary>
    public string Nonce { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>The request as the Agent sends it: MIME, application/pkcs7-mime signed-data by the recipient's key.</summary>
    public byte[] Sign(IKeyRing agentKeys, CertificateDirectory directory) => UserSignedRequest.Sign(agentKeys, directory, Recipient, MediaType, ToJson());

    /// <summary>Checks the signature (chain to our anchors, unrevoked) and that the signer is the recipient named inside.</summary>
    public static (KeyReleaseRequest Request, Org.BouncyCastle.X509.X509Certificate Signer) Open(CourierSecureMimeContext context, byte[] signed)
    {
        var (json, signer, signerAddress) = UserSignedRequest.Open(context, signed, MediaType);
        KeyReleaseRequest request;
        try { request = JsonSerializer.Deserialize<KeyReleaseRequest>(json, Json) ?? throw new PartRejectedException("the key request is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the key request is not valid: " + ex.Message, ex); }
        if (!string.Equals(signerAddress, request.Recipient, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the key request for <{request.Recipient}> is signed by <{signerAddress}>");
        return (request, signer);
    }
}
