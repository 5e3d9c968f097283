using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Parameters;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Gateway.Crypto;

/// <summary>
/// Writes an opaque (encapsulated) CMS SignedData (RFC 5652 5) as a stream, for one EC signer with SHA-256: the content
/// is written through as 64 KiB OCTET STRING chunks and digested with .NET's SHA-256 (the CPU's SHA instructions) as
/// it passes; the SignerInfo follows, with CMS's signed attributes (content type, signing time, message digest) signed
/// by .NET's ECDSA (<see cref="NativeEc"/>), then the certificates. BER with indefinite lengths, the shape
/// BouncyCastle's stream generator makes and OpenSSL, gpgsm and MimeKit read. Nothing is allocated per write.
/// Dispose completes the structure; the output stream is left open.
/// </summary>
public sealed class SignedDataWriter : CmsStreamWriter
{
    readonly ECPrivateKeyParameters _key;
    readonly IReadOnlyList<X509Certificate> _chain;
    readonly IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    SignedDataWriter(Stream output, ECPrivateKeyParameters key, IReadOnlyList<X509Certificate> chain) : base(output)
    {
        _key = key;
        _chain = chain;
    }

    /// <summary>A writer for <paramref name="key"/> (the signer's certificate first in <paramref name="chain"/>, CA
    /// certificates to carry after it), or null when .NET cannot sign with this key (BouncyCastle's generator does then).</summary>
    public static SignedDataWriter? TryOpen(Stream output, Org.BouncyCastle.Crypto.AsymmetricKeyParameter key, IReadOnlyList<X509Certificate> chain)
    {
        if (key is not ECPrivateKeyParameters ec || NativeEc.CurveOf(ec) is null || chain.Count == 0) return null;
        var writer = new SignedDataWriter(output, ec, chain);
        writer.WriteHeader();
        return writer;
    }

    static readonly AlgorithmIdentifier Sha256 = new(NistObjectIdentifiers.IdSha256);

    void WriteHeader()
    {
        OpenIndefinite(0x30);                                                        // ContentInfo
        Output.Write(CmsObjectIdentifiers.SignedData.GetEncoded());
        OpenIndefinite(0xA0);                                                        // [0] EXPLICIT
        OpenIndefinite(0x30);                                                        // SignedData
        Output.Write(DerInteger.One.GetEncoded());                                   // version 1: issuerAndSerialNumber, id-data
        Output.Write(new DerSet(Sha256).GetEncoded(Asn1Encodable.Der));              // digestAlgorithms
        OpenIndefinite(0x30);                                                        // EncapsulatedContentInfo
        Output.Write(CmsObjectIdentifiers.Data.GetEncoded());
        OpenIndefinite(0xA0);                                                        // [0] EXPLICIT eContent
        OpenIndefinite(0x24);                                                        // OCTET STRING, constructed
    }

    protected override void Observe(ReadOnlySpan<byte> data) => _digest.AppendData(data);

    protected override void WriteChunk(ReadOnlySpan<byte> chunk, bool last)
    {
        if (chunk.Length > 0) WriteOctetString(chunk);
    }

    SignerInfo Sign()
    {
        var signer = _chain[0];
        var attributes = new DerSet(
            new Org.BouncyCastle.Asn1.Cms.Attribute(CmsAttributes.ContentType, new DerSet(CmsObjectIdentifiers.Data)),
            new Org.BouncyCastle.Asn1.Cms.Attribute(CmsAttributes.SigningTime, new DerSet(new Org.BouncyCastle.Asn1.Cms.Time(DateTime.UtcNow))),
            new Org.BouncyCastle.Asn1.Cms.Attribute(CmsAttributes.MessageDigest, new DerSet(new DerOctetString(_digest.GetHashAndReset()))));
        // RFC 5652 5.4: the signature covers the DER of the attributes as a SET OF (not as the [0] they are carried in).
        var signature = NativeEc.SignData(_key, attributes.GetEncoded(Asn1Encodable.Der), HashAlgorithmName.SHA256)
                        ?? throw new InvalidOperationException("the key cannot be used with .NET's ECDSA");
        return new SignerInfo(new SignerIdentifier(new IssuerAndSerialNumber(signer.IssuerDN, signer.SerialNumber)), Sha256, attributes,
            new AlgorithmIdentifier(X9ObjectIdentifiers.ECDsaWithSha256), new DerOctetString(signature), null);
    }

    /// <summary>Closes the content, then the certificates and the SignerInfo, then the SignedData.</summary>
    protected override void Complete()
    {
        CloseIndefinite(3);                                                          // OCTET STRING, [0], EncapsulatedContentInfo
        var certificates = new DerSet(_chain.Select(c => (Asn1Encodable)c.CertificateStructure).ToArray());
        Output.Write(new DerTaggedObject(false, 0, certificates).GetEncoded(Asn1Encodable.Der)); // [0] IMPLICIT certificates
        Output.Write(new DerSet(Sign()).GetEncoded(Asn1Encodable.Der));              // signerInfos
        CloseIndefinite(3);                                                          // SignedData, [0], ContentInfo
    }

    protected override void Dispose(bool disposing)
    {
        try { base.Dispose(disposing); }
        finally { if (disposing) _digest.Dispose(); }
    }
}
