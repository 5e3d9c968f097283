using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;

namespace Gateway.Crypto;

/// <summary>Key types for courier and user keys: ECDSA/ECDH on P-256 by default (RFC 5753 for S/MIME), RSA-3072 for old clients.</summary>
public enum KeyAlgorithm { EcP256, Rsa3072 }

public static class KeyPairs
{
    static readonly SecureRandom Random = new();

    public static AsymmetricCipherKeyPair Generate(KeyAlgorithm algorithm)
    {
        switch (algorithm)
        {
            case KeyAlgorithm.EcP256:
            {
                var generator = new ECKeyPairGenerator("EC");
                generator.Init(new ECKeyGenerationParameters(X9ObjectIdentifiers.Prime256v1, Random));
                return generator.GenerateKeyPair();
            }
            case KeyAlgorithm.Rsa3072:
            {
                var generator = new RsaKeyPairGenerator();
                generator.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(65537), Random, 3072, 100));
                return generator.GenerateKeyPair();
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm));
        }
    }

    /// <summary>The signature algorithm to sign with a private key of this kind.</summary>
    public static string SignatureAlgorithm(AsymmetricKeyParameter privateKey) =>
        privateKey is ECPrivateKeyParameters ? "SHA256WITHECDSA" : "SHA256WITHRSA";
}
