using System.Text.Json;
using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Courier;

/// <summary>
/// With the Agent on a host of its own, the registration page is there (accounts, passwords and the CA are), while
/// the Invitation and its one-time link belong to the Foreground's desk. The page asks the Foreground's host to check
/// a link, then to claim it (<c>POST /courier/registration</c>): the question, holding the link's secret, is encrypted
/// to the Foreground; the answer, naming the invited address, is signed by it and carries the question's nonce.
/// </summary>
public static class RegistrationClaim
{
    public const string QuestionMediaType = "application/vnd.gateway.registration-question+json";
    public const string AnswerMediaType = "application/vnd.gateway.registration-answer+json";

    /// <param name="Claim">False: only check the link; true: the person registers (the invitation is closed).</param>
    public sealed record Question(string Token, bool Claim, string Nonce);

    /// <param name="Refusal">Why the link does not work (shown to the person), or null.</param>
    public sealed record Answer(string Nonce, string? InvitationId, string? Address, DateTime ExpiresUtc, string? Refusal);

    public static byte[] Seal(Question question, CourierSecureMimeContext context, Org.BouncyCastle.X509.X509Certificate foreground)
    {
        var part = CourierMime.Part(QuestionMediaType, JsonSerializer.SerializeToUtf8Bytes(question));
        var sealedPart = ApplicationPkcs7Mime.Encrypt(context, new CmsRecipientCollection { new CmsRecipient(foreground) }, part);
        using var buffer = new MemoryStream();
        sealedPart.WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Decrypts a question with the Foreground's key.</summary>
    public static Question Open(CourierSecureMimeContext context, byte[] sealedQuestion)
    {
        try
        {
            var entity = MimeEntity.Load(new MemoryStream(sealedQuestion, writable: false));
            if (entity is not ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.EnvelopedData } enveloped)
                throw new PartRejectedException("the registration question is not enveloped data");
            if (enveloped.Decrypt(context) is not MimePart { ContentType.MimeType: QuestionMediaType } part)
                throw new PartRejectedException("not a registration question");
            var question = JsonSerializer.Deserialize<Question>(CourierMime.Decode(part)) ?? throw new PartRejectedException("empty registration question");
            if (question.Nonce is not { Length: >= 16 and <= 64 }) throw new PartRejectedException("the registration question has no nonce");
            return question;
        }
        catch (Exception ex) when (ex is FormatException or JsonException or Org.BouncyCastle.Cms.CmsException or ArgumentException or InvalidOperationException
                                       or NotSupportedException or KeyStoreException or PrivateKeyNotFoundException)
        {
            throw new PartRejectedException("the registration question cannot be read: " + ex.Message, ex);
        }
    }
}
