using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Parameters;

namespace Gateway.Crypto;

/// <summary>
/// BouncyCastle's EC keys used with .NET's EC (OpenSSL's assembly on Linux, several times faster than BouncyCastle's
/// managed arithmetic) for the NIST curves .NET names: ECDH shared secrets and ECDSA signatures. Keys stay BouncyCastle
/// objects everywhere else (the key store, certificates, CMS); the .NET form of a private key is made once per key
/// object (its public point computed once) and kept beside it. Anything else (another curve, explicit parameters)
/// returns null, and the caller keeps to BouncyCastle.
/// </summary>
public static class NativeEc
{
    /// <summary>The .NET curve for a key on a named NIST curve, or null.</summary>
    public static ECCurve? CurveOf(ECKeyParameters key)
    {
        var name = key.PublicKeyParamSet ?? (key.Parameters as ECNamedDomainParameters)?.Name;
        if (name is null) return null;
        if (name.Equals(X9ObjectIdentifiers.Prime256v1)) return ECCurve.NamedCurves.nistP256;
        if (name.Equals(SecObjectIdentifiers.SecP384r1)) return ECCurve.NamedCurves.nistP384;
        if (name.Equals(SecObjectIdentifiers.SecP521r1)) return ECCurve.NamedCurves.nistP521;
        return null;
    }

    static int FieldBytes(ECKeyParameters key) => (key.Parameters.Curve.FieldSize + 7) / 8;

    /// <summary>The public point of a BouncyCastle public key in .NET's form; null when the curve is not one of .NET's.</summary>
    public static ECParameters? PublicForm(ECPublicKeyParameters key)
    {
        if (CurveOf(key) is not { } curve) return null;
        return new ECParameters { Curve = curve, Q = PointOf(key.Q, FieldBytes(key)) };
    }

    static ECPoint PointOf(Org.BouncyCastle.Math.EC.ECPoint point, int size)
    {
        var q = point.Normalize();
        return new ECPoint { X = q.AffineXCoord.ToBigInteger().ToByteArrayUnsigned().PadLeft(size), Y = q.AffineYCoord.ToBigInteger().ToByteArrayUnsigned().PadLeft(size) };
    }

    /// <summary>A private key in .NET's form (with its public point); null when the curve is not one of .NET's.</summary>
    public static ECParameters? PrivateForm(ECPrivateKeyParameters key) => Native(key)?.Parameters;

    /// <summary>
    /// A private key imported into .NET once per key object (the key store keeps one object per key): importing costs
    /// OpenSSL a key check as dear as the operation itself. The imported objects are used under a lock.
    /// </summary>
    sealed class NativePrivateKey(ECParameters parameters)
    {
        public ECParameters Parameters { get; } = parameters;
        public readonly object Gate = new();
        ECDiffieHellman? _ecdh;
        ECDsa? _ecdsa;
        public ECDiffieHellman Ecdh => _ecdh ??= ECDiffieHellman.Create(Parameters);
        public ECDsa Ecdsa => _ecdsa ??= ECDsa.Create(Parameters);
    }

    static readonly ConditionalWeakTable<ECPrivateKeyParameters, NativePrivateKey> PrivateKeys = new();

    static NativePrivateKey? Native(ECPrivateKeyParameters key)
    {
        if (CurveOf(key) is null) return null;
        return PrivateKeys.GetValue(key, k =>
        {
            var size = FieldBytes(k);
            return new NativePrivateKey(new ECParameters
            {
                Curve = CurveOf(k)!.Value,
                D = k.D.ToByteArrayUnsigned().PadLeft(size),
                Q = PointOf(k.Parameters.G.Multiply(k.D), size),
            });
        });
    }

    /// <summary>A public key imported into .NET once, for ECDH (its public half) and for ECDSA checks (under a lock).</summary>
    sealed class NativePublicKey(ECParameters form)
    {
        readonly Lazy<ECDiffieHellmanPublicKey> _ecdh = new(() =>
        {
            using var holder = ECDiffieHellman.Create(form);
            return holder.PublicKey;
        });
        readonly Lazy<ECDsa> _ecdsa = new(() => ECDsa.Create(form));
        public ECDiffieHellmanPublicKey Ecdh => _ecdh.Value;
        public ECDsa Ecdsa => _ecdsa.Value;
    }

    /// <summary>Public keys imported into .NET, by curve and point (certificates are parsed anew in many places, so the
    /// key object is no handle); bounded, emptied when full.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, NativePublicKey> PublicKeys = new();
    const int MaxPublicKeys = 4096;

    /// <summary>A public key's identity as the tables keyed by key use it: its curve and point.</summary>
    public static string IdOf(ECParameters form) => form.Curve.Oid.Value + ":" + Convert.ToHexString(form.Q.X!) + Convert.ToHexString(form.Q.Y!);

    static NativePublicKey? NativePublic(ECPublicKeyParameters key)
    {
        if (PublicForm(key) is not { } form) return null;
        var id = IdOf(form);
        if (PublicKeys.TryGetValue(id, out var known)) return known;
        if (PublicKeys.Count >= MaxPublicKeys) PublicKeys.Clear();
        return PublicKeys.GetOrAdd(id, _ => new NativePublicKey(form));
    }

    /// <summary>The ECDH shared secret Z (the x-coordinate, field-size octets), or null when .NET cannot compute it for these keys.</summary>
    public static byte[]? SharedSecret(ECPrivateKeyParameters privateKey, ECPublicKeyParameters publicKey)
    {
        if (Native(privateKey) is not { } ours || NativePublic(publicKey) is not { } theirs
            || !string.Equals(ours.Parameters.Curve.Oid.Value, CurveOf(publicKey)?.Oid.Value, StringComparison.Ordinal))
            return null;
        lock (ours.Gate) return ours.Ecdh.DeriveRawSecretAgreement(theirs.Ecdh);
    }

    /// <summary>An ephemeral key pair on the recipient's curve: the uncompressed public point (0x04 || X || Y) and the
    /// shared secret with <paramref name="recipient"/>; null when .NET cannot do it for this key.</summary>
    public static (byte[] EphemeralPoint, byte[] SharedSecret)? Ephemeral(ECPublicKeyParameters recipient)
    {
        if (CurveOf(recipient) is not { } curve || NativePublic(recipient) is not { } theirs) return null;
        using var ephemeral = ECDiffieHellman.Create(curve);
        var secret = ephemeral.DeriveRawSecretAgreement(theirs.Ecdh);
        var q = ephemeral.ExportParameters(includePrivateParameters: false).Q;
        var point = new byte[1 + q.X!.Length + q.Y!.Length];
        point[0] = 0x04;
        q.X.CopyTo(point, 1);
        q.Y.CopyTo(point, 1 + q.X.Length);
        return (point, secret);
    }

    /// <summary>An ECDSA signature (DER SEQUENCE of r and s, as CMS carries it) over <paramref name="data"/> hashed with
    /// <paramref name="hash"/>; null when .NET cannot sign with this key.</summary>
    public static byte[]? SignData(ECPrivateKeyParameters key, ReadOnlySpan<byte> data, HashAlgorithmName hash)
    {
        if (Native(key) is not { } native) return null;
        lock (native.Gate) return native.Ecdsa.SignData(data, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>Checks an ECDSA signature (DER SEQUENCE of r and s) over <paramref name="data"/>; null when .NET cannot
    /// check it for this key. A malformed signature is invalid, not an error.</summary>
    public static bool? VerifyData(ECPublicKeyParameters key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, HashAlgorithmName hash)
    {
        if (NativePublic(key)?.Ecdsa is not { } verifier) return null;
        try
        {
            lock (verifier) return verifier.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    static byte[] PadLeft(this byte[] value, int size)
    {
        if (value.Length == size) return value;
        if (value.Length > size) throw new ArgumentException("the value is longer than the field");
        var padded = new byte[size];
        value.CopyTo(padded, size - value.Length);
        return padded;
    }
}
