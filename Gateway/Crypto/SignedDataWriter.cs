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
public sealed class SignedDataWriter : Stream
{
    const int Chunk = 64 * 1024;
    readonly Stream _output;
    readonly ECPrivateKeyParameters _key;
    readonly IReadOnlyList<X509Certificate> _chain;
    readonly IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    readonly byte[] _buffer = new byte[Chunk];
    int _filled;
    bool _completed;

    SignedDataWriter(Stream output, ECPrivateKeyParameters key, IReadOnlyList<X509Certificate> chain)
    {
        _output = output;
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
        Span<byte> indefinite = [0x80];
        _output.WriteByte(0x30); _output.Write(indefinite);                          // ContentInfo
        _output.Write(CmsObjectIdentifiers.SignedData.GetEncoded());
        _output.WriteByte(0xA0); _output.Write(indefinite);                          // [0] EXPLICIT
        _output.WriteByte(0x30); _output.Write(indefinite);                          // SignedData
        _output.Write(new DerInteger(1).GetEncoded());                               // version 1: issuerAndSerialNumber, id-data
        _output.Write(new DerSet(Sha256).GetEncoded(Asn1Encodable.Der));             // digestAlgorithms
        _output.WriteByte(0x30); _output.Write(indefinite);                          // EncapsulatedContentInfo
        _output.Write(CmsObjectIdentifiers.Data.GetEncoded());
        _output.WriteByte(0xA0); _output.Write(indefinite);                          // [0] EXPLICIT eContent
        _output.WriteByte(0x24); _output.Write(indefinite);                          // OCTET STRING, constructed
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_completed;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_completed) throw new ObjectDisposedException(nameof(SignedDataWriter));
        _digest.AppendData(buffer);
        while (buffer.Length > 0)
        {
            if (_filled == Chunk) WriteChunk();
            var n = Math.Min(buffer.Length, Chunk - _filled);
            buffer[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            buffer = buffer[n..];
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    void WriteChunk()
    {
        if (_filled == 0) return;
        Span<byte> head = stackalloc byte[5];
        head[0] = 0x04;
        var length = DerLength(_filled, head[1..]);
        _output.Write(head[..(1 + length)]);
        _output.Write(_buffer, 0, _filled);
        _filled = 0;
    }

    static int DerLength(int length, Span<byte> into)
    {
        if (length < 0x80) { into[0] = (byte)length; return 1; }
        var octets = length <= 0xFF ? 1 : length <= 0xFFFF ? 2 : 3;
        into[0] = (byte)(0x80 | octets);
        for (var i = 0; i < octets; i++) into[octets - i] = (byte)(length >> (8 * i));
        return 1 + octets;
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

    public override void Flush() => _output.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Writes the last chunk, closes the content, and appends the certificates and the SignerInfo.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_completed)
        {
            _completed = true;
            try
            {
                WriteChunk();
                _output.Write(stackalloc byte[6]);                                     // end of OCTET STRING, [0], EncapsulatedContentInfo
                var certificates = new DerSet(_chain.Select(c => (Asn1Encodable)c.CertificateStructure).ToArray());
                _output.Write(new DerTaggedObject(false, 0, certificates).GetEncoded(Asn1Encodable.Der)); // [0] IMPLICIT certificates
                _output.Write(new DerSet(Sign()).GetEncoded(Asn1Encodable.Der));      // signerInfos
                _output.Write(stackalloc byte[6]);                                     // end of SignedData, [0], ContentInfo
                _output.Flush();
            }
            finally
            {
                _digest.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
