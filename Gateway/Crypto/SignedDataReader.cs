using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using PkcsObjectIdentifiers = Org.BouncyCastle.Asn1.Pkcs.PkcsObjectIdentifiers;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Gateway.Crypto;

/// <summary>The SignedData cannot be read or its signature cannot be checked as CMS requires (RFC 5652 5.4, 5.6).</summary>
public sealed class SignedDataException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Reads an opaque CMS SignedData (RFC 5652 5) as a stream and checks its signatures: the encapsulated content is
/// copied out as it is read and digested with .NET's SHA-2 (the CPU's SHA instructions) for each digest algorithm
/// the SignedData lists; a signer's signed attributes are then checked (content type, message digest against that
/// digest, no countersignature among them, the certificate valid at the signing time if one is given) and the
/// signature over them verified, ECDSA with .NET's EC on the NIST curves, BouncyCastle for others and for RSA.
/// </summary>
public sealed class SignedDataReader
{
    public required DerObjectIdentifier ContentType { get; init; }
    public required IReadOnlyList<X509Certificate> Certificates { get; init; }
    public required IReadOnlyList<SignerInfo> Signers { get; init; }
    readonly Dictionary<string, byte[]> _digests = new();

    static HashAlgorithmName? HashOf(DerObjectIdentifier digest) =>
        digest.Equals(NistObjectIdentifiers.IdSha256) ? HashAlgorithmName.SHA256
        : digest.Equals(NistObjectIdentifiers.IdSha384) ? HashAlgorithmName.SHA384
        : digest.Equals(NistObjectIdentifiers.IdSha512) ? HashAlgorithmName.SHA512
        : null;

    /// <summary>Reads <paramref name="cms"/> to its end, copying the encapsulated content into <paramref name="content"/>.</summary>
    /// <exception cref="SignedDataException">Not a SignedData with encapsulated content, or a digest algorithm other than SHA-2.</exception>
    public static SignedDataReader Read(Stream cms, Stream content)
    {
        if (new Asn1StreamParser(cms).ReadObject() is not Asn1SequenceParser sequence) throw new SignedDataException("not a CMS ContentInfo");
        var info = new ContentInfoParser(sequence);
        if (!CmsObjectIdentifiers.SignedData.Equals(info.ContentType)) throw new SignedDataException("not a CMS SignedData");
        var signedData = SignedDataParser.GetInstance(info.GetContent(Asn1Tags.Sequence));

        var hashes = new Dictionary<string, IncrementalHash>();
        try
        {
            var algorithms = signedData.GetDigestAlgorithms();
            for (var o = algorithms.ReadObject(); o is not null; o = algorithms.ReadObject())
            {
                var algorithm = AlgorithmIdentifier.GetInstance(o.ToAsn1Object()).Algorithm;
                if (HashOf(algorithm) is { } hash) hashes.TryAdd(algorithm.Id, IncrementalHash.CreateHash(hash));
            }
            if (hashes.Count == 0) throw new SignedDataException("the SignedData lists no SHA-2 digest algorithm");

            var encapsulated = signedData.GetEncapContentInfo();
            var contentType = encapsulated.ContentType;
            if (encapsulated.GetContent(Asn1Tags.OctetString) is not Asn1OctetStringParser octets) throw new SignedDataException("the signed part carries no content");
            using (var stream = octets.GetOctetStream())
            {
                var buffer = Platform.ChunkBuffers.Rent(64 * 1024); // pooled: see ChunkBuffers
                var touched = 0;
                try
                {
                    int read;
                    while ((read = stream.Read(buffer, 0, 64 * 1024)) > 0)
                    {
                        touched = Math.Max(touched, read);
                        foreach (var hash in hashes.Values) hash.AppendData(buffer, 0, read);
                        content.Write(buffer, 0, read);
                    }
                }
                finally { Platform.ChunkBuffers.Return(ref buffer, touched); }
            }

            var certificates = new List<X509Certificate>();
            if (signedData.GetCertificates() is { } set)
                for (var o = set.ReadObject(); o is not null; o = set.ReadObject())
                    if (o.ToAsn1Object() is Asn1Sequence certificate) certificates.Add(new X509Certificate(X509CertificateStructure.GetInstance(certificate)));
            if (signedData.GetCrls() is { } crls)
                for (var o = crls.ReadObject(); o is not null; o = crls.ReadObject()) { } // CRLs come from the directory, not from the sender
            var signers = new List<SignerInfo>();
            var signerInfos = signedData.GetSignerInfos();
            for (var o = signerInfos.ReadObject(); o is not null; o = signerInfos.ReadObject()) signers.Add(SignerInfo.GetInstance(o.ToAsn1Object()));

            var reader = new SignedDataReader { ContentType = contentType, Certificates = certificates, Signers = signers };
            foreach (var (oid, hash) in hashes) reader._digests[oid] = hash.GetHashAndReset();
            return reader;
        }
        finally
        {
            foreach (var hash in hashes.Values) hash.Dispose();
        }
    }

    /// <summary>The certificate among those carried that <paramref name="signer"/> names (issuer and serial, or subject key identifier).</summary>
    public X509Certificate? CertificateOf(SignerInfo signer)
    {
        var id = signer.SignerID.ID;
        if (id is Asn1OctetString keyId)
            return Certificates.FirstOrDefault(c => c.GetExtensionValue(X509Extensions.SubjectKeyIdentifier) is { } ext
                && SubjectKeyIdentifier.GetInstance(Asn1Object.FromByteArray(ext.GetOctets())).GetKeyIdentifier().AsSpan().SequenceEqual(keyId.GetOctets()));
        var issuerAndSerial = IssuerAndSerialNumber.GetInstance(id);
        return Certificates.FirstOrDefault(c => c.IssuerDN.Equivalent(issuerAndSerial.Issuer) && c.SerialNumber.Equals(issuerAndSerial.SerialNumber.Value));
    }

    /// <summary>
    /// Whether <paramref name="signer"/>'s signature is valid for the content read and made with <paramref name="certificate"/>'s key.
    /// Throws <see cref="SignedDataException"/> when the signed attributes are not what CMS requires, and BouncyCastle's
    /// certificate exceptions when the certificate was not valid at the signing time it claims.
    /// </summary>
    public bool Verify(SignerInfo signer, X509Certificate certificate)
    {
        var digestAlgorithm = signer.DigestAlgorithm.Algorithm;
        if (HashOf(digestAlgorithm) is not { } hash || !_digests.TryGetValue(digestAlgorithm.Id, out var digest))
            throw new SignedDataException($"the signer's digest algorithm {digestAlgorithm} is not one the SignedData lists, or not SHA-2");
        if (signer.SignedAttrs is not { } signedAttributes) throw new SignedDataException("the signature has no signed attributes");
        var attributes = new Org.BouncyCastle.Asn1.Cms.AttributeTable(signedAttributes);
        var contentTypes = attributes.GetAll(CmsAttributes.ContentType);
        if (contentTypes.Count != 1 || Org.BouncyCastle.Asn1.Cms.Attribute.GetInstance(contentTypes[0]).AttrValues is not { Count: 1 } typeValues
            || !ContentType.Equals(typeValues[0]))
            throw new SignedDataException("the content-type attribute is missing, repeated or not the content's type");
        var digests = attributes.GetAll(CmsAttributes.MessageDigest);
        if (digests.Count != 1 || Org.BouncyCastle.Asn1.Cms.Attribute.GetInstance(digests[0]).AttrValues is not { Count: 1 } digestValues
            || digestValues[0] is not Asn1OctetString signedDigest)
            throw new SignedDataException("the message-digest attribute is missing or repeated");
        if (attributes.GetAll(CmsAttributes.CounterSignature).Count > 0)
            throw new SignedDataException("a countersignature must not be a signed attribute");
        if (!CryptographicOperations.FixedTimeEquals(signedDigest.GetOctets(), digest)) return false;
        var signingTimes = attributes.GetAll(CmsAttributes.SigningTime);
        if (signingTimes.Count > 1) throw new SignedDataException("the signing-time attribute is repeated");
        if (signingTimes.Count == 1 && Org.BouncyCastle.Asn1.Cms.Attribute.GetInstance(signingTimes[0]).AttrValues is { Count: 1 } times)
            certificate.CheckValidity(Org.BouncyCastle.Asn1.Cms.Time.GetInstance(times[0]).ToDateTime());

        // RFC 5652 5.4: the signature covers the DER of the attributes as a SET OF.
        var signed = signedAttributes.GetEncoded(Asn1Encodable.Der);
        var signature = signer.Signature.GetOctets();
        var algorithm = signer.SignatureAlgorithm.Algorithm;
        var key = KeyOf(certificate);
        if (key is ECPublicKeyParameters ec)
        {
            if (!IsEcdsa(algorithm, digestAlgorithm)) throw new SignedDataException($"signature algorithm {algorithm} does not fit an EC key with {digestAlgorithm}");
            if (NativeEc.VerifyData(ec, signed, signature, hash) is { } native) return native;
            return VerifyWithBouncyCastle(hash.Name + "withECDSA", key, signed, signature);
        }
        if (key is RsaKeyParameters)
        {
            if (!IsRsaPkcs1(algorithm, digestAlgorithm)) throw new SignedDataException($"signature algorithm {algorithm} does not fit an RSA key with {digestAlgorithm}");
            return VerifyWithBouncyCastle(hash.Name + "withRSA", key, signed, signature);
        }
        throw new SignedDataException("the signer's key is neither EC nor RSA");
    }

    // The certificates a SignedData carries are parsed anew from each one, and BouncyCastle builds a certificate's key
    // (the curve's parameters, the point decoded and checked to be on the curve) on its first use: about a tenth of
    // opening a part, for the same few signers again and again. Their keys are kept by the DER of the certificate's
    // SubjectPublicKeyInfo (the key is a function of those octets alone); bounded, emptied when full.
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Org.BouncyCastle.Crypto.AsymmetricKeyParameter> Keys = new(StringComparer.Ordinal);
    const int MaxKeys = 4096;

    static Org.BouncyCastle.Crypto.AsymmetricKeyParameter KeyOf(X509Certificate certificate)
    {
        var info = certificate.CertificateStructure.SubjectPublicKeyInfo;
        var id = Convert.ToBase64String(info.GetDerEncoded());
        if (Keys.TryGetValue(id, out var known)) return known;
        var key = PublicKeyFactory.CreateKey(info);
        if (Keys.Count >= MaxKeys) Keys.Clear();
        return Keys.GetOrAdd(id, key);
    }

    static bool IsEcdsa(DerObjectIdentifier algorithm, DerObjectIdentifier digest) =>
        algorithm.Equals(X9ObjectIdentifiers.IdECPublicKey)
        || (algorithm.Equals(X9ObjectIdentifiers.ECDsaWithSha256) && digest.Equals(NistObjectIdentifiers.IdSha256))
        || (algorithm.Equals(X9ObjectIdentifiers.ECDsaWithSha384) && digest.Equals(NistObjectIdentifiers.IdSha384))
        || (algorithm.Equals(X9ObjectIdentifiers.ECDsaWithSha512) && digest.Equals(NistObjectIdentifiers.IdSha512));

    static bool IsRsaPkcs1(DerObjectIdentifier algorithm, DerObjectIdentifier digest) =>
        algorithm.Equals(PkcsObjectIdentifiers.RsaEncryption)
        || (algorithm.Equals(PkcsObjectIdentifiers.Sha256WithRsaEncryption) && digest.Equals(NistObjectIdentifiers.IdSha256))
        || (algorithm.Equals(PkcsObjectIdentifiers.Sha384WithRsaEncryption) && digest.Equals(NistObjectIdentifiers.IdSha384))
        || (algorithm.Equals(PkcsObjectIdentifiers.Sha512WithRsaEncryption) && digest.Equals(NistObjectIdentifiers.IdSha512));

    static bool VerifyWithBouncyCastle(string algorithm, Org.BouncyCastle.Crypto.AsymmetricKeyParameter key, byte[] signed, byte[] signature)
    {
        var verifier = SignerUtilities.GetSigner(algorithm);
        verifier.Init(false, key);
        verifier.BlockUpdate(signed, 0, signed.Length);
        return verifier.VerifySignature(signature);
    }
}
