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
/// key agreement per RFC 5753 for EC keys, with the owner's ephemeral key of the last minute and fresh user keying
/// material per blob (<see cref="EphemeralKeyReuse"/>); RSAES-OAEP for RSA keys) and the octets under AES-256-CBC. Any S/MIME tool
/// opens it with the owner's key (<c>openssl cms -decrypt -inform DER</c>), which is how an operator recovers mail
/// without the gateway. Written as a stream with definite lengths (the octet count is known before the first write),
/// so the encrypted octets sit at a fixed place in the file and CBC lets them be read from any offset. CBC does not
/// detect changes: the digests of the ciphertext's windows, kept sealed with the content key, do.
/// </summary>
public static class CmsBlob
{
    const int Block = 16;
    static readonly SecureRandom Random = new();

    /// <summary>The ciphertext is checked in windows of this many octets (CBC itself does not detect changes).</summary>
    public const int DigestWindow = 64 * 1024;

    /// <summary>Octets of each window's digest (SHA-256, truncated).</summary>
    public const int DigestSize = 16;

    /// <summary>
    /// The digest of one window of ciphertext: SHA-256 over the IV, the window's number, the block before it (the IV
    /// for the first) and its octets, so a window cannot be changed, moved, or taken from another blob unnoticed.
    /// </summary>
    internal static void WindowDigest(ReadOnlySpan<byte> iv, long window, ReadOnlySpan<byte> previousBlock, ReadOnlySpan<byte> cipher, Span<byte> digest)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(number, window);
        hash.AppendData(iv);
        hash.AppendData(number);
        hash.AppendData(previousBlock);
        hash.AppendData(cipher);
        Span<byte> full = stackalloc byte[32];
        hash.GetHashAndReset(full);
        full[..DigestSize].CopyTo(digest);
    }

    /// <summary>
    /// Writes <paramref name="length"/> octets of <paramref name="content"/> sealed to <paramref name="recipient"/>;
    /// returns the content key and the digests of the ciphertext's windows (<see cref="DigestWindow"/>), which
    /// <see cref="Open"/> needs: the caller keeps both sealed.
    /// </summary>
    public static (byte[] Cek, byte[] Digests) Write(X509Certificate recipient, Stream content, long length, Stream output)
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
        var digests = new WindowDigestStream(output, iv, cipherLength);
        using (var encryptor = aes.CreateEncryptor(cek, iv))
        using (var crypto = new CryptoStream(digests, encryptor, CryptoStreamMode.Write, leaveOpen: true))
        {
            var buffer = Gateway.Platform.ChunkBuffers.Rent(64 * 1024); // pooled: see ChunkBuffers
            var touched = 0;
            try
            {
                var left = length;
                while (left > 0)
                {
                    var n = content.Read(buffer, 0, (int)Math.Min(64 * 1024, left));
                    if (n == 0) throw new IOException($"the message ended after {length - left} of {length} octets");
                    touched = Math.Max(touched, n);
                    crypto.Write(buffer, 0, n);
                    left -= n;
                }
                crypto.FlushFinalBlock();
            }
            finally { Gateway.Platform.ChunkBuffers.Return(ref buffer, touched); }
        }
        return (cek, digests.Finish());
    }

    /// <summary>Passes the ciphertext on and digests it window by window.</summary>
    sealed class WindowDigestStream(Stream output, byte[] iv, long cipherLength) : Stream
    {
        byte[] _window = Gateway.Platform.ChunkBuffers.Rent(DigestWindow); // ciphertext: given back unzeroed by Finish
        readonly byte[] _previous = iv.ToArray();
        readonly byte[] _digests = new byte[(int)((cipherLength + DigestWindow - 1) / DigestWindow) * DigestSize];
        int _filled;
        long _windows;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            output.Write(buffer);
            while (buffer.Length > 0)
            {
                var n = Math.Min(buffer.Length, DigestWindow - _filled);
                buffer[..n].CopyTo(_window.AsSpan(_filled));
                _filled += n;
                buffer = buffer[n..];
                if (_filled == DigestWindow) CloseWindow();
            }
        }

        void CloseWindow()
        {
            WindowDigest(iv, _windows, _previous, _window.AsSpan(0, _filled), _digests.AsSpan((int)_windows * DigestSize, DigestSize));
            _window.AsSpan(_filled - Block, Block).CopyTo(_previous);
            _windows++;
            _filled = 0;
        }

        public byte[] Finish()
        {
            if (_filled > 0) CloseWindow();
            Gateway.Platform.ChunkBuffers.Return(ref _window, 0);
            if (_windows * DigestSize != _digests.Length) throw new IOException("the ciphertext is not as long as announced");
            return _digests;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Flush() => output.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    static RecipientInfo RecipientInfoFor(X509Certificate recipient, byte[] cek)
    {
        var publicKey = recipient.GetPublicKey();
        if (publicKey is ECPublicKeyParameters) return new EcdhRecipientInfoGenerator(recipient, reuseEphemeral: true).Generate(new KeyParameter(cek), Random);
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

    /// <summary>Opens a blob written by <see cref="Write"/> with its content key and window digests: a seekable stream
    /// of the octets, each window checked against its digest before any of it is returned.</summary>
    public static Stream Open(Stream blob, byte[] cek, byte[] digests)
    {
        var (iv, offset, cipherLength) = Locate(blob);
        if (digests.Length != (cipherLength + DigestWindow - 1) / DigestWindow * DigestSize)
            throw new CryptographicException("the stored message does not match its record (window digests)");
        return new CbcReadStream(blob, cek, iv, offset, cipherLength, digests);
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
