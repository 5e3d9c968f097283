using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Encodings;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Gateway.Crypto;
using X509Certificate = Org.BouncyCastle.X509.X509Certificate;

namespace Gateway.Sealing;

/// <summary>
/// A stored message sealed to its owner's certificate: a DER CMS EnvelopedData (RFC 5652) with one recipient (ECDH
/// key agreement per RFC 5753 for EC keys, RSAES-OAEP for RSA keys) and the octets under AES-256-CBC. Any S/MIME tool
/// opens it with the owner's key (<c>openssl cms -decrypt -inform DER</c>), which is how an operator recovers mail
/// without the gateway. Written as a stream with definite lengths (the octet count is known before the first write),
/// so the encrypted octets sit at a fixed place in the file and CBC lets them be read from any offset.
/// </summary>
public static class CmsBlob
{
    const int Block = 16;
    static readonly SecureRandom Random = new();

    /// <summary>Writes <paramref name="length"/> octets of <paramref name="content"/> sealed to <paramref name="recipient"/>; returns the content key.</summary>
    public static byte[] Write(X509Certificate recipient, Stream content, long length, Stream output)
    {
        var cek = RandomNumberGenerator.GetBytes(32);
        var iv = RandomNumberGenerator.GetBytes(Block);
        var recipientInfo = RecipientInfoFor(recipient, cek);
        var cipherLength = (length / Block + 1) * Block; // PKCS#7 padding always adds 1 to 16 octets

        var contentType = CmsObjectIdentifiers.Data.GetDerEncoded();
        var algorithm = new AlgorithmIdentifier(NistObjectIdentifiers.IdAes256Cbc, new DerOctetString(iv)).GetDerEncoded();
        var encryptedContentHeader = Header(0x80, cipherLength); // [0] IMPLICIT OCTET STRING, primitive
        var encryptedContentInfoBody = contentType.Length + algorithm.Length + encryptedContentHeader.Length + cipherLength;
        var encryptedContentInfoHeader = Header(0x30, encryptedContentInfoBody);
        // RFC 5652 6.1: version 2 when a RecipientInfo is not a KeyTransRecipientInfo of version 0.
        var version = DerInteger.ValueOf(recipientInfo.Info is KeyTransRecipientInfo ? 0 : 2).GetDerEncoded();
        var recipients = new DerSet(recipientInfo).GetDerEncoded();
        var envelopedBody = version.Length + recipients.Length + encryptedContentInfoHeader.Length + encryptedContentInfoBody;
        var envelopedHeader = Header(0x30, envelopedBody);
        var explicitBody = envelopedHeader.Length + envelopedBody;
        var explicitHeader = Header(0xA0, explicitBody);
        var outerType = CmsObjectIdentifiers.EnvelopedData.GetDerEncoded();
        var outerHeader = Header(0x30, outerType.Length + explicitHeader.Length + explicitBody);

        foreach (var part in new[] { outerHeader, outerType, explicitHeader, envelopedHeader, version, recipients, encryptedContentInfoHeader, contentType, algorithm, encryptedContentHeader })
            output.Write(part);

        using var aes = Aes.Create();
        aes.Key = cek;
        using (var encryptor = aes.CreateEncryptor(cek, iv))
        using (var crypto = new CryptoStream(output, encryptor, CryptoStreamMode.Write, leaveOpen: true))
        {
            var buffer = new byte[64 * 1024];
            var left = length;
            while (left > 0)
            {
                var n = content.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new IOException($"the message ended after {length - left} of {length} octets");
                crypto.Write(buffer, 0, n);
                left -= n;
            }
            crypto.FlushFinalBlock();
            CryptographicOperations.ZeroMemory(buffer);
        }
        return cek;
    }

    static RecipientInfo RecipientInfoFor(X509Certificate recipient, byte[] cek)
    {
        var publicKey = recipient.GetPublicKey();
        if (publicKey is ECPublicKeyParameters) return new EcdhRecipientInfoGenerator(recipient).Generate(new KeyParameter(cek), Random);
        if (publicKey is RsaKeyParameters rsa)
        {
            // RSAES-OAEP with its default parameters (SHA-1, MGF1-SHA-1), which every CMS implementation reads.
            var oaep = new OaepEncoding(new RsaEngine());
            oaep.Init(true, new ParametersWithRandom(rsa, Random));
            var wrapped = oaep.ProcessBlock(cek, 0, cek.Length);
            var rid = new RecipientIdentifier(new Org.BouncyCastle.Asn1.Cms.IssuerAndSerialNumber(recipient.IssuerDN, recipient.SerialNumber));
            return new RecipientInfo(new KeyTransRecipientInfo(rid, new AlgorithmIdentifier(PkcsObjectIdentifiers.IdRsaesOaep, new RsaesOaepParameters()),
                new DerOctetString(wrapped)));
        }
        throw new CryptographicException($"cannot seal to a {publicKey.GetType().Name} key");
    }

    static byte[] Header(byte tag, long length)
    {
        if (length < 0x80) return new[] { tag, (byte)length };
        var octets = 0;
        for (var l = length; l > 0; l >>= 8) octets++;
        var header = new byte[2 + octets];
        header[0] = tag;
        header[1] = (byte)(0x80 | octets);
        for (var i = 0; i < octets; i++) header[2 + i] = (byte)(length >> (8 * (octets - 1 - i)));
        return header;
    }

    /// <summary>Opens a blob written by <see cref="Write"/> with its content key: a seekable stream of the octets.</summary>
    public static Stream Open(Stream blob, byte[] cek)
    {
        var (iv, offset, cipherLength) = Locate(blob);
        return new CbcReadStream(blob, cek, iv, offset, cipherLength);
    }

    /// <summary>Finds the IV and the encrypted octets (offset, length) by walking the DER headers in front of them.</summary>
    static (byte[] Iv, long Offset, long Length) Locate(Stream blob)
    {
        // The headers end well within 4 KiB (one recipient); a longer issuer name is read again with more.
        try { return Locate(blob, 4096); }
        catch (CryptographicException) when (blob.Length > 4096) { return Locate(blob, 64 * 1024); }
    }

    static (byte[] Iv, long Offset, long Length) Locate(Stream blob, int headLength)
    {
        var head = new byte[(int)Math.Min(blob.Length, headLength)];
        blob.Position = 0;
        blob.ReadExactly(head);
        var reader = new DerWalker(head);
        reader.Enter(0x30);                    // ContentInfo
        reader.Skip(0x06);                     // contentType
        reader.Enter(0xA0);                    // [0] EXPLICIT
        reader.Enter(0x30);                    // EnvelopedData
        reader.Skip(0x02);                     // version
        reader.Skip(0x31);                     // recipientInfos
        reader.Enter(0x30);                    // EncryptedContentInfo
        reader.Skip(0x06);                     // contentType
        var algorithm = AlgorithmIdentifier.GetInstance(Asn1Object.FromByteArray(reader.Take(0x30)));
        if (!algorithm.Algorithm.Equals(NistObjectIdentifiers.IdAes256Cbc)) throw new CryptographicException("the stored message is not sealed with AES-256-CBC");
        var iv = Asn1OctetString.GetInstance(algorithm.Parameters).GetOctets();
        var length = reader.Enter(0x80);       // encryptedContent
        if (iv.Length != Block || length % Block != 0 || length == 0 || reader.Position + length != blob.Length)
            throw new CryptographicException("the stored message is damaged (its sealed octets do not match the file)");
        return (iv, reader.Position, length);
    }

    /// <summary>A cursor over DER headers (definite lengths only).</summary>
    ref struct DerWalker(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> _data = data;
        public int Position { get; private set; }

        /// <summary>Reads a header with the given tag and stays at its content; returns the content's length.</summary>
        public long Enter(byte tag)
        {
            if (Position + 2 > _data.Length || _data[Position] != tag) throw new CryptographicException($"the stored message is damaged (expected DER tag 0x{tag:x2})");
            var first = _data[Position + 1];
            Position += 2;
            if (first < 0x80) return first;
            var octets = first & 0x7f;
            if (octets is 0 or > 8 || Position + octets > _data.Length) throw new CryptographicException("the stored message is damaged (bad DER length)");
            long length = 0;
            for (var i = 0; i < octets; i++) length = (length << 8) | _data[Position + i];
            Position += octets;
            return length;
        }

        public void Skip(byte tag)
        {
            var length = Enter(tag); // before the read of Position that += would make first
            Position += (int)length;
        }

        public byte[] Take(byte tag)
        {
            var start = Position;
            Skip(tag);
            if (Position > _data.Length) throw new CryptographicException("the stored message is damaged (truncated header)");
            return _data[start..Position].ToArray();
        }
    }
}
