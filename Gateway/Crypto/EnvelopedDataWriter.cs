using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Gateway.Crypto;

/// <summary>
/// Writes a CMS EnvelopedData (RFC 5652 6) as a stream: ContentInfo, recipient infos, then the content encrypted with
/// AES-256-CBC (.NET's AES: OpenSSL with AES-NI) as it is written, in BER with indefinite lengths and the encrypted
/// content as a constructed OCTET STRING of 64 KiB chunks, the shape BouncyCastle's stream generator makes and every
/// CMS reader (OpenSSL, gpgsm, MimeKit) takes. Nothing is held but one chunk, and nothing is allocated per write
/// (BouncyCastle's cipher stream returns a new array for every write). The recipient infos come from the usual
/// generators (<see cref="EcdhRecipientInfoGenerator"/>, <see cref="KekRecipientInfoGenerator"/>, BouncyCastle's).
/// Dispose completes the structure; the output stream is left open.
/// </summary>
public sealed class EnvelopedDataWriter : Stream
{
    const int Chunk = CbcContent.ChunkBytes;
    readonly Stream _output;
    readonly Aes _aes;
    readonly byte[] _buffer = new byte[Chunk];
    readonly byte[] _encrypted = new byte[Chunk + 16];
    readonly byte[] _chain = new byte[16];
    int _filled;
    bool _completed;

    EnvelopedDataWriter(Stream output, byte[] cek, byte[] iv)
    {
        _output = output;
        _aes = Aes.Create();
        _aes.Key = cek;
        iv.CopyTo(_chain, 0);
    }

    /// <summary>Starts an EnvelopedData for <paramref name="recipients"/> under a fresh AES-256 content key.</summary>
    public static EnvelopedDataWriter Open(Stream output, IEnumerable<RecipientInfoGenerator> recipients)
    {
        var cek = RandomNumberGenerator.GetBytes(32);
        var iv = RandomNumberGenerator.GetBytes(16);
        try
        {
            var random = new SecureRandom();
            var infos = recipients.Select(r => r.Generate(new KeyParameter(cek), random)).ToList();
            if (infos.Count == 0) throw new ArgumentException("an envelope needs at least one recipient", nameof(recipients));
            // RFC 5652 6.1: version 0 when every recipient is a version-0 key transport, else 2 (no originator info,
            // password or other recipient infos here).
            var version = infos.All(i => i.Info is KeyTransRecipientInfo k && k.Version.HasValue(0)) ? 0 : 2;
            var writer = new EnvelopedDataWriter(output, cek, iv);
            writer.WriteHeader(version, infos, iv);
            return writer;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(cek);
        }
    }

    void WriteHeader(int version, IReadOnlyList<RecipientInfo> infos, byte[] iv)
    {
        Span<byte> indefinite = [0x80];
        _output.WriteByte(0x30); _output.Write(indefinite);                         // ContentInfo
        _output.Write(CmsObjectIdentifiers.EnvelopedData.GetEncoded());
        _output.WriteByte(0xA0); _output.Write(indefinite);                         // [0] EXPLICIT
        _output.WriteByte(0x30); _output.Write(indefinite);                         // EnvelopedData
        _output.Write(new DerInteger(version).GetEncoded());
        _output.Write(new DerSet(infos.Cast<Asn1Encodable>().ToArray()).GetEncoded(Asn1Encodable.Der));
        _output.WriteByte(0x30); _output.Write(indefinite);                         // EncryptedContentInfo
        _output.Write(CmsObjectIdentifiers.Data.GetEncoded());
        _output.Write(new AlgorithmIdentifier(NistObjectIdentifiers.IdAes256Cbc, new DerOctetString(iv)).GetEncoded(Asn1Encodable.Der));
        _output.WriteByte(0xA0); _output.Write(indefinite);                         // [0] IMPLICIT OCTET STRING, constructed
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_completed;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_completed) throw new ObjectDisposedException(nameof(EnvelopedDataWriter));
        while (buffer.Length > 0)
        {
            if (_filled == Chunk) EncryptChunk(final: false);
            var n = Math.Min(buffer.Length, Chunk - _filled);
            buffer[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            buffer = buffer[n..];
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    void EncryptChunk(bool final)
    {
        var written = _aes.EncryptCbc(_buffer.AsSpan(0, _filled), _chain, _encrypted, final ? PaddingMode.PKCS7 : PaddingMode.None);
        _encrypted.AsSpan(written - 16, 16).CopyTo(_chain);
        // One primitive OCTET STRING per chunk.
        Span<byte> head = stackalloc byte[5];
        head[0] = 0x04;
        var length = DerLength(written, head[1..]);
        _output.Write(head[..(1 + length)]);
        _output.Write(_encrypted, 0, written);
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

    public override void Flush() => _output.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Encrypts the last chunk (with its padding) and closes every open structure.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_completed)
        {
            _completed = true;
            try
            {
                EncryptChunk(final: true);
                // End-of-contents for the OCTET STRING, EncryptedContentInfo, EnvelopedData, [0] and ContentInfo.
                _output.Write(stackalloc byte[10]);
                _output.Flush();
            }
            finally
            {
                _aes.Dispose();
                CryptographicOperations.ZeroMemory(_buffer);
            }
        }
        base.Dispose(disposing);
    }
}
