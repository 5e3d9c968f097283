using System.Text.Json;
using Gateway.Crypto;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// Distribute Account: the Foreground tells the Background that an account now exists (after a Registration). One of
/// the only two Foreground-to-Background messages: one-way, never answered, signed by the Foreground's introduction
/// key and sealed to the Background's, so that the Background can trust it wherever it runs. It carries the address
/// and the user's certificate (a Background on its own host re-wraps ARMs to it); the Background then releases the
/// ARMs it held for it.
/// </summary>
public static class DistributeAccount
{
    public const string MediaType = "application/vnd.gateway.distribute-account+json";
    public const string Prefix = "acct-";

    /// <param name="Certificate">The user's S/MIME certificate (DER), when the Foreground knows it.</param>
    public sealed record Body(string Address, DateTimeOffset CreatedUtc, byte[]? Certificate = null);

    public static (string Name, byte[] Bytes) Build(CourierSecureMimeContext context, IKeyRing foregroundKeys, CourierIdentity identity, string address,
        Org.BouncyCastle.X509.X509Certificate? certificate = null)
    {
        var body = new Body(address.ToLowerInvariant(), DateTimeOffset.UtcNow, certificate?.GetEncoded());
        var signer = PartEnvelope.Signer(foregroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var message = CourierMime.Message(identity.ElementAddress(CourierElement.Foreground)!, identity.ElementAddress(CourierElement.Background)!, "Distribute Account",
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Background)!, CourierMime.Part(MediaType, JsonSerializer.SerializeToUtf8Bytes(body))));
        var name = Prefix + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(body.Address)), 0, 12).ToLowerInvariant();
        return (name, CourierMime.Bytes(message));
    }

    /// <summary>Builds one for <paramref name="address"/>, with the user's certificate from <paramref name="keys"/>, and
    /// hands it to the Background (its inbox here, or the link to its host).</summary>
    public static void Send(IKeyRing foregroundKeys, KeyStore keys, CertificateDirectory directory, CourierIdentity identity, IElementDrop background, string address)
    {
        using var context = new CourierSecureMimeContext(foregroundKeys, directory);
        var (name, bytes) = Build(context, foregroundKeys, identity, address, keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address.ToLowerInvariant())));
        background.Drop(name, bytes);
    }

    /// <summary>Opens one with the Background's keys; it must be signed by this courier's own Foreground.</summary>
    public static Body Read(CourierSecureMimeContext context, CourierIdentity identity, MimeMessage message)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: identity.ElementAddress(CourierElement.Foreground));
        if (opened.Entity is not MimePart { ContentType.MimeType: MediaType } part) throw new PartRejectedException("not a Distribute Account message");
        return JsonSerializer.Deserialize<Body>(CourierMime.Decode(part)) ?? throw new PartRejectedException("empty Distribute Account message");
    }
}
