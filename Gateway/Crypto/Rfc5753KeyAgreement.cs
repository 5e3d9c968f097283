using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Utilities;

namespace Gateway.Crypto;

/// <summary>
/// ECDH key agreement for CMS as RFC 5753 specifies it (ephemeral-static, "stdDH", X9.63 KDF over ECC-CMS-SharedInfo,
/// AES key wrap). BouncyCastle C# encodes the key-wrap AlgorithmIdentifier inside ECC-CMS-SharedInfo with NULL
/// parameters; RFC 5753 (via RFC 3565) and OpenSSL leave them absent, so the KEKs differ. This class derives the KEK
/// the standard way, and can also derive the NULL variant to open mail from BouncyCastle-based senders.
/// </summary>
public static class Rfc5753KeyAgreement
{
    /// <summary>dhSinglePass-stdDH-sha256kdf-scheme (SEC 1, RFC 5753 7.1.4): what we send.</summary>
    public static readonly DerObjectIdentifier StdDhSha256Kdf = SecObjectIdentifiers.dhSinglePass_stdDH_sha256kdf_scheme;

    public static byte[] DeriveKek(ECPrivateKeyParameters privateKey, ECPublicKeyParameters publicKey, DerObjectIdentifier scheme,
        DerObjectIdentifier wrapAlgorithm, byte[]? ukm, bool nullWrapParameters) =>
        DeriveKek(SharedSecret(privateKey, publicKey), scheme, wrapAlgorithm, ukm, nullWrapParameters);

    /// <summary>The ECDH shared secret Z: .NET's EC (OpenSSL) on the NIST curves, BouncyCastle otherwise.</summary>
    public static byte[] SharedSecret(ECPrivateKeyParameters privateKey, ECPublicKeyParameters publicKey)
    {
        if (NativeEc.SharedSecret(privateKey, publicKey) is { } native) return native;
        var agreement = new ECDHBasicAgreement();
        agreement.Init(privateKey);
        var fieldSize = (privateKey.Parameters.Curve.FieldSize + 7) / 8;
        return BigIntegers.AsUnsignedByteArray(fieldSize, agreement.CalculateAgreement(publicKey));
    }

    /// <summary>The KEK from the shared secret <paramref name="z"/> (which is cleared afterwards).</summary>
    public static byte[] DeriveKek(byte[] z, DerObjectIdentifier scheme, DerObjectIdentifier wrapAlgorithm, byte[]? ukm, bool nullWrapParameters)
    {
        var keyBits = WrapKeyBits(wrapAlgorithm);

        var keyInfo = nullWrapParameters ? new AlgorithmIdentifier(wrapAlgorithm, DerNull.Instance) : new AlgorithmIdentifier(wrapAlgorithm);
        var shared = new Asn1EncodableVector(keyInfo);
        if (ukm is not null) shared.Add(new DerTaggedObject(true, 0, new DerOctetString(ukm)));
        shared.Add(new DerTaggedObject(true, 2, new DerOctetString(BigEndian((uint)keyBits))));
        var sharedInfo = new DerSequence(shared).GetEncoded(Asn1Encodable.Der);

        try { return X963Kdf(Digest(scheme), z, sharedInfo, keyBits / 8); }
        finally { Array.Clear(z); }
    }

    /// <summary>ANSI X9.63 KDF: Hash(Z || counter || SharedInfo) for counter = 1, 2, ... until enough octets.</summary>
    static byte[] X963Kdf(IDigest digest, byte[] z, byte[] sharedInfo, int length)
    {
        var output = new byte[length];
        var block = new byte[digest.GetDigestSize()];
        uint counter = 1;
        for (var offset = 0; offset < length; counter++)
        {
            digest.BlockUpdate(z, 0, z.Length);
            var c = BigEndian(counter);
            digest.BlockUpdate(c, 0, c.Length);
            digest.BlockUpdate(sharedInfo, 0, sharedInfo.Length);
            digest.DoFinal(block, 0);
            var n = Math.Min(block.Length, length - offset);
            Array.Copy(block, 0, output, offset, n);
            offset += n;
        }
        return output;
    }

    static byte[] BigEndian(uint value)
    {
        var bytes = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    static IDigest Digest(DerObjectIdentifier scheme)
    {
        if (scheme.Equals(X9ObjectIdentifiers.DHSinglePassStdDHSha1KdfScheme)) return new Sha1Digest();
        if (scheme.Equals(SecObjectIdentifiers.dhSinglePass_stdDH_sha224kdf_scheme)) return new Sha224Digest();
        if (scheme.Equals(SecObjectIdentifiers.dhSinglePass_stdDH_sha256kdf_scheme)) return new Sha256Digest();
        if (scheme.Equals(SecObjectIdentifiers.dhSinglePass_stdDH_sha384kdf_scheme)) return new Sha384Digest();
        if (scheme.Equals(SecObjectIdentifiers.dhSinglePass_stdDH_sha512kdf_scheme)) return new Sha512Digest();
        throw new NotSupportedException($"key agreement scheme {scheme} is not supported (only ephemeral-static stdDH with an X9.63 KDF)");
    }

    static int WrapKeyBits(DerObjectIdentifier wrap)
    {
        if (wrap.Equals(NistObjectIdentifiers.IdAes128Wrap)) return 128;
        if (wrap.Equals(NistObjectIdentifiers.IdAes192Wrap)) return 192;
        if (wrap.Equals(NistObjectIdentifiers.IdAes256Wrap)) return 256;
        throw new NotSupportedException($"key wrap algorithm {wrap} is not supported (only AES key wrap, RFC 3394)");
    }

    public static byte[] Wrap(byte[] kek, byte[] key)
    {
        var engine = new AesWrapEngine();
        engine.Init(true, new KeyParameter(kek));
        return engine.Wrap(key, 0, key.Length);
    }

    /// <summary>Unwraps; throws <see cref="InvalidCipherTextException"/> when the KEK is wrong (the RFC 3394 integrity check).</summary>
    public static byte[] Unwrap(byte[] kek, byte[] wrapped)
    {
        var engine = new AesWrapEngine();
        engine.Init(false, new KeyParameter(kek));
        return engine.Unwrap(wrapped, 0, wrapped.Length);
    }
}
