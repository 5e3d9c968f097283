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
public sealed class EnvelopedDataWriter : CmsStreamWriter
{
    readonly Aes _aes;
    byte[] _encrypted = Platform.ChunkBuffers.Rent(Chunk + 16); // ciphertext only: given back unzeroed
    readonly byte[] _chain = new byte[16];

    EnvelopedDataWriter(Stream output, byte[] cek, byte[] iv) : base(output)
    {
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
        OpenIndefinite(0x30);                                                       // ContentInfo
        Output.Write(CmsObjectIdentifiers.EnvelopedData.GetEncoded());
        OpenIndefinite(0xA0);                                                       // [0] EXPLICIT
        OpenIndefinite(0x30);                                                       // EnvelopedData
        Output.Write(DerInteger.ValueOf(version).GetEncoded());
        Output.Write(new DerSet(infos.Cast<Asn1Encodable>().ToArray()).GetEncoded(Asn1Encodable.Der));
        OpenIndefinite(0x30);                                                       // EncryptedContentInfo
        Output.Write(CmsObjectIdentifiers.Data.GetEncoded());
        Output.Write(new AlgorithmIdentifier(NistObjectIdentifiers.IdAes256Cbc, new DerOctetString(iv)).GetEncoded(Asn1Encodable.Der));
        OpenIndefinite(0xA0);                                                       // [0] IMPLICIT OCTET STRING, constructed
    }

    /// <summary>Encrypts a chunk (the last with its padding, chaining the IV) into one OCTET STRING.</summary>
    protected override void WriteChunk(ReadOnlySpan<byte> chunk, bool last)
    {
        var written = _aes.EncryptCbc(chunk, _chain, _encrypted, last ? PaddingMode.PKCS7 : PaddingMode.None);
        _encrypted.AsSpan(written - 16, 16).CopyTo(_chain);
        WriteOctetString(_encrypted.AsSpan(0, written));
    }

    /// <summary>End-of-contents for the OCTET STRING, EncryptedContentInfo, EnvelopedData, [0] and ContentInfo.</summary>
    protected override void Complete() => CloseIndefinite(5);

    protected override void Dispose(bool disposing)
    {
        try { base.Dispose(disposing); }
        finally
        {
            if (disposing)
            {
                _aes.Dispose();
                Platform.ChunkBuffers.Return(ref _encrypted, 0);
            }
        }
    }
}
