using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;

namespace Gateway.Crypto;

/// <summary>
/// Opens a CMS EnvelopedData whose recipient info for us is an ECDH KeyAgreeRecipientInfo (RFC 5753), deriving the
/// KEK the standard way first and the BouncyCastle way (NULL wrap parameters) second. Returns null when the
/// envelope has no key-agreement entry for the given certificate, so the caller can fall back to other kinds.
/// </summary>
public static class EcdhEnvelopeOpener
{
    /// <param name="keyFor">Our EC private key for a recipient (issuer, serial), or null if we hold none; asked only for entries that name one of ours.</param>
    public static byte[]? TryOpen(byte[] contentInfoDer, Func<X509Name, BigInteger, ECPrivateKeyParameters?> keyFor)
    {
        using var plaintext = new MemoryStream();
        return TryOpen(new MemoryStream(contentInfoDer, writable: false), keyFor, plaintext) ? plaintext.ToArray() : null;
    }

    /// <summary>
    /// The same, streamed: the envelope is parsed as it is read (DER or BER) and the content decrypted into
    /// <paramref name="plaintext"/> block by block, so a large part costs no copies of itself. Returns false (having
    /// written nothing) when no key-agreement entry names one of our certificates.
    /// </summary>
    public static bool TryOpen(Stream contentInfo, Func<X509Name, BigInteger, ECPrivateKeyParameters?> keyFor, Stream plaintext)
    {
        var info = new ContentInfoParser((Asn1SequenceParser)new Asn1StreamParser(contentInfo).ReadObject());
        if (!info.ContentType.Equals(CmsObjectIdentifiers.EnvelopedData)) return false;
        var enveloped = new EnvelopedDataParser((Asn1SequenceParser)info.GetContent(Asn1Tags.Sequence));
        enveloped.GetOriginatorInfo(); // read past it: the parser takes the fields in order
        var recipientInfos = (Asn1Set)enveloped.GetRecipientInfos().ToAsn1Object();
        foreach (var element in recipientInfos)
        {
            if (RecipientInfo.GetInstance(element).Info is not KeyAgreeRecipientInfo kari) continue;
            RecipientEncryptedKey? encryptedKey = null;
            ECPrivateKeyParameters? privateKey = null;
            foreach (var candidate in kari.RecipientEncryptedKeys.Cast<Asn1Encodable>().Select(RecipientEncryptedKey.GetInstance))
            {
                if (candidate.Identifier.IssuerAndSerialNumber is not { } ias) continue;
                privateKey = keyFor(ias.Issuer, ias.SerialNumber.Value);
                if (privateKey is null) continue;
                encryptedKey = candidate;
                break;
            }
            if (encryptedKey is null || privateKey is null) continue;

            var originatorKey = kari.Originator.OriginatorKey
                ?? throw new CryptographicUnsupportedException("key agreement with a static originator certificate is not supported");
            var encodedPoint = originatorKey.PublicKey.GetBytes();
            var key = privateKey;
            // The same originator key comes back for a minute from a courier (EphemeralKeyReuse): its secret is kept.
            var z = EphemeralKeyReuse.ForOriginator(key, encodedPoint, () =>
                Rfc5753KeyAgreement.SharedSecret(key, new ECPublicKeyParameters(key.Parameters.Curve.DecodePoint(encodedPoint), key.Parameters)));
            var scheme = kari.KeyEncryptionAlgorithm.Algorithm;
            var wrap = AlgorithmIdentifier.GetInstance(kari.KeyEncryptionAlgorithm.Parameters).Algorithm;
            var ukm = kari.UserKeyingMaterial?.GetOctets();
            var wrapped = encryptedKey.EncryptedKey.GetOctets();

            byte[]? cek = null;
            try
            {
                foreach (var nullParameters in new[] { false, true })
                {
                    var kek = Rfc5753KeyAgreement.DeriveKek((byte[])z.Clone(), scheme, wrap, ukm, nullParameters);
                    try { cek = Rfc5753KeyAgreement.Unwrap(kek, wrapped); break; }
                    catch (InvalidCipherTextException) { }
                    finally { Array.Clear(kek); }
                }
            }
            finally { Array.Clear(z); }
            if (cek is null) throw new InvalidCipherTextException("the content key does not unwrap with our key: the message was not encrypted for this certificate, or it was altered");

            try { CbcContent.Decrypt(enveloped.GetEncryptedContentInfo(), cek, plaintext); }
            finally { Array.Clear(cek); }
            return true;
        }
        return false;
    }

}

/// <summary>The envelope asks for something this implementation deliberately does not do.</summary>
public sealed class CryptographicUnsupportedException(string message) : Exception(message);
