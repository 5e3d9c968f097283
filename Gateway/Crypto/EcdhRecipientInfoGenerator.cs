using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Gateway.Crypto;

/// <summary>
/// A KeyAgreeRecipientInfo for one EC recipient, made per RFC 5753: a fresh ephemeral key on the recipient's curve,
/// dhSinglePass-stdDH-sha256kdf-scheme, and the content key wrapped with AES-256 key wrap.
/// </summary>
/// <param name="reuseEphemeral">For the courier's own envelopes: an ephemeral key of the last minute for the same
/// recipient, with fresh user keying material (see <see cref="EphemeralKeyReuse"/>); otherwise a new ephemeral key.</param>
public sealed class EcdhRecipientInfoGenerator(X509Certificate recipient, bool reuseEphemeral = false) : RecipientInfoGenerator
{
    public RecipientInfo Generate(KeyParameter contentEncryptionKey, SecureRandom random)
    {
        var recipientKey = (ECPublicKeyParameters)recipient.GetPublicKey();
        var wrap = NistObjectIdentifiers.IdAes256Wrap;
        byte[] ephemeralPoint, z;
        byte[]? ukm = null;
        if (reuseEphemeral && EphemeralKeyReuse.ForRecipient(recipientKey) is { } reused)
        {
            (ephemeralPoint, z) = reused;
            ukm = new byte[EphemeralKeyReuse.UkmSize];
            random.NextBytes(ukm);
        }
        else if (NativeEc.Ephemeral(recipientKey) is { } native)
            (ephemeralPoint, z) = native; // .NET's EC (OpenSSL) on the NIST curves
        else
        {
            var generator = new ECKeyPairGenerator();
            generator.Init(new ECKeyGenerationParameters(recipientKey.Parameters, random));
            var ephemeral = generator.GenerateKeyPair();
            ephemeralPoint = ((ECPublicKeyParameters)ephemeral.Public).Q.GetEncoded(false);
            z = Rfc5753KeyAgreement.SharedSecret((ECPrivateKeyParameters)ephemeral.Private, recipientKey);
        }
        var kek = Rfc5753KeyAgreement.DeriveKek(z, Rfc5753KeyAgreement.StdDhSha256Kdf, wrap, ukm, nullWrapParameters: false);
        var wrapped = Rfc5753KeyAgreement.Wrap(kek, contentEncryptionKey.GetKey());
        Array.Clear(kek);

        var originator = new OriginatorIdentifierOrKey(new OriginatorPublicKey(new AlgorithmIdentifier(X9ObjectIdentifiers.IdECPublicKey), ephemeralPoint));
        var keyEncryption = new AlgorithmIdentifier(Rfc5753KeyAgreement.StdDhSha256Kdf, new AlgorithmIdentifier(wrap));
        var rid = new KeyAgreeRecipientIdentifier(new IssuerAndSerialNumber(recipient.IssuerDN, recipient.SerialNumber));
        var encryptedKeys = new DerSequence(new RecipientEncryptedKey(rid, new DerOctetString(wrapped)));
        return new RecipientInfo(new KeyAgreeRecipientInfo(originator, ukm is null ? null : new DerOctetString(ukm), keyEncryption, encryptedKeys));
    }
}
