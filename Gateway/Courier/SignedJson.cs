using System.Text.Json;
using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Courier;

/// <summary>
/// A small JSON document one host of a split courier answers another with, inside an opaque S/MIME signature by an
/// element's introduction key (<see cref="ReachAnswer"/>, <see cref="RegistrationClaim"/>): the asking host takes
/// it only when that element signed it.
/// </summary>
public static class SignedJson
{
    public static byte[] Sign<T>(T value, string mediaType, IKeyRing keys, CertificateDirectory directory, CourierElement element)
    {
        using var context = new CourierSecureMimeContext(keys, directory);
        var signer = PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(element));
        var signed = ApplicationPkcs7Mime.Sign(context, signer, CourierMime.Part(mediaType, JsonSerializer.SerializeToUtf8Bytes(value)));
        using var buffer = new MemoryStream();
        signed.WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Checks the signature (chain, revocation, the signer is <paramref name="signer"/>) and reads the document.</summary>
    public static T Open<T>(CourierSecureMimeContext context, byte[] signed, string mediaType, string signer)
    {
        MimeEntity entity;
        try { entity = MimeEntity.Load(new MemoryStream(signed, writable: false)); }
        catch (FormatException ex) { throw new PartRejectedException("the answer is not MIME: " + ex.Message, ex); }
        var opened = PartEnvelope.Verify(context, entity, signer);
        if (opened.Entity is not MimePart { ContentType.MimeType: var type } part || type != mediaType)
            throw new PartRejectedException($"the signed entity is not {mediaType}");
        try { return JsonSerializer.Deserialize<T>(CourierMime.Decode(part)) ?? throw new PartRejectedException("the answer is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the answer is not valid: " + ex.Message, ex); }
    }
}
