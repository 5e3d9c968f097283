using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Gateway.Crypto;

/// <summary>
/// A KEKRecipientInfo (RFC 5652 6.2.3): the content key wrapped under a previously shared AES-256 key (RFC 3394 key
/// wrap, id-aes256-wrap), named by <paramref name="keyIdentifier"/>. The courier's content part uses it with the
/// message's CEK as that shared key.
/// </summary>
public sealed class KekRecipientInfoGenerator(byte[] kek, byte[] keyIdentifier) : RecipientInfoGenerator
{
    public RecipientInfo Generate(KeyParameter contentEncryptionKey, SecureRandom random)
    {
        if (kek.Length != 32) throw new ArgumentException("the key-encryption key must be 32 octets (AES-256)");
        var wrapped = Rfc5753KeyAgreement.Wrap(kek, contentEncryptionKey.GetKey());
        return new RecipientInfo(new KekRecipientInfo(new KekIdentifier(keyIdentifier, null, null),
            new AlgorithmIdentifier(NistObjectIdentifiers.IdAes256Wrap), new DerOctetString(wrapped)));
    }
}
