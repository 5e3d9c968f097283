using System.Text.Json;
using Gateway.Crypto;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The status page's request to the Background on another host (<c>POST /courier/status</c>): list the user's sent
/// messages, or revoke one; signed by the user's key (<see cref="UserSignedRequest"/>). The answer
/// (<see cref="StatusAnswer"/>) is signed by the Background and encrypted to the user: who they wrote to and when is
/// theirs alone.
/// </summary>
public sealed record StatusRequest
{
    public const string MediaType = "application/vnd.gateway.status-request+json";
    public const string AnswerMediaType = "application/vnd.gateway.status-answer+json";

    public string User { get; init; } = "";
    /// <summary>A message to revoke; null: list.</summary>
    public string? Revoke { get; init; }
    public int Max { get; init; }
    public string Nonce { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; }

    public byte[] Sign(IKeyRing agentKeys, CertificateDirectory directory) =>
        UserSignedRequest.Sign(agentKeys, directory, User, MediaType, JsonSerializer.SerializeToUtf8Bytes(this));

    public static (StatusRequest Request, Org.BouncyCastle.X509.X509Certificate Signer) Open(CourierSecureMimeContext context, byte[] signed)
    {
        var (json, signer, signerAddress) = UserSignedRequest.Open(context, signed, MediaType);
        StatusRequest request;
        try { request = JsonSerializer.Deserialize<StatusRequest>(json) ?? throw new PartRejectedException("the status request is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the status request is not valid: " + ex.Message, ex); }
        if (!string.Equals(signerAddress, request.User, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the status request for <{request.User}> is signed by <{signerAddress}>");
        return (request, signer);
    }
}

/// <param name="Nonce">The request's nonce: an answer to another request is not taken.</param>
public sealed record StatusAnswer(string Nonce, List<SentMessageStatus> Messages, bool Revoked)
{
    /// <summary>Signed by the Background, sealed to the user's certificate (the request's signer).</summary>
    public byte[] Seal(IKeyRing backgroundKeys, CertificateDirectory directory, Org.BouncyCastle.X509.X509Certificate user)
    {
        using var context = new CourierSecureMimeContext(backgroundKeys, directory);
        var signer = PartEnvelope.Signer(backgroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Background));
        var sealedAnswer = PartEnvelope.Seal(context, signer, user, CourierMime.Part(StatusRequest.AnswerMediaType, JsonSerializer.SerializeToUtf8Bytes(this)));
        using var buffer = new MemoryStream();
        sealedAnswer.WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Opens it with the user's key; it must be signed by our Background and answer <paramref name="nonce"/>.</summary>
    public static StatusAnswer Open(CourierSecureMimeContext context, byte[] sealedAnswer, string background, string nonce)
    {
        MimeEntity entity;
        try { entity = MimeEntity.Load(new MemoryStream(sealedAnswer, writable: false)); }
        catch (FormatException ex) { throw new PartRejectedException("the status answer is not MIME: " + ex.Message, ex); }
        var opened = PartEnvelope.Open(context, entity, background);
        if (opened.Entity is not MimePart { ContentType.MimeType: StatusRequest.AnswerMediaType } part) throw new PartRejectedException("not a status answer");
        StatusAnswer answer;
        try { answer = JsonSerializer.Deserialize<StatusAnswer>(CourierMime.Decode(part)) ?? throw new PartRejectedException("the status answer is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the status answer is not valid: " + ex.Message, ex); }
        if (answer.Nonce != nonce) throw new PartRejectedException("the status answer is for another request (a replay?)");
        return answer;
    }
}
