using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Gateway.Crypto;

/// <summary>
/// The encrypted content of a CMS EnvelopedData (RFC 5652 6.1, EncryptedContentInfo) decrypted as it is read, with
/// .NET's AES (OpenSSL, AES-NI) for AES-CBC, which is what every courier part and almost every S/MIME client uses: one
/// reusable buffer, no array per block (BouncyCastle's cipher streams allocate one per call, and per 16 octets when
/// read). Other content ciphers are left to BouncyCastle.
/// </summary>
public static class CbcContent
{
    public const int ChunkBytes = 64 * 1024;

    /// <summary>The AES key size in octets for an AES-CBC algorithm identifier, or 0 for anything else.</summary>
    public static int AesKeyBytes(DerObjectIdentifier algorithm) =>
        algorithm.Equals(NistObjectIdentifiers.IdAes256Cbc) ? 32
        : algorithm.Equals(NistObjectIdentifiers.IdAes192Cbc) ? 24
        : algorithm.Equals(NistObjectIdentifiers.IdAes128Cbc) ? 16
        : 0;

    /// <summary>Decrypts the content of <paramref name="info"/> under <paramref name="cek"/> into <paramref name="plaintext"/>.</summary>
    /// <exception cref="InvalidCipherTextException">No content, a wrong key, bad padding.</exception>
    public static void Decrypt(EncryptedContentInfoParser? info, byte[] cek, Stream plaintext)
    {
        if (info is null) throw new InvalidCipherTextException("the envelope carries no encrypted content");
        var algorithm = info.ContentEncryptionAlgorithm;
        if (info.GetEncryptedContent(Asn1Tags.OctetString) is not Asn1OctetStringParser octets)
            throw new InvalidCipherTextException("the envelope carries no encrypted content");
        using var encrypted = octets.GetOctetStream();
        if (AesKeyBytes(algorithm.Algorithm) is var keyBytes and > 0)
        {
            if (cek.Length != keyBytes) throw new InvalidCipherTextException($"the content key has {cek.Length} octets; {algorithm.Algorithm} needs {keyBytes}");
            if (algorithm.Parameters is not Asn1OctetString { } ivString || ivString.GetOctets() is not { Length: 16 } iv)
                throw new InvalidCipherTextException("the AES-CBC parameters are not a 16-octet IV");
            DecryptAesCbc(encrypted, cek, iv, plaintext);
            return;
        }
        var cipher = CipherUtilities.GetCipher(algorithm.Algorithm);
        cipher.Init(false, ParameterUtilities.GetCipherParameters(algorithm.Algorithm, new KeyParameter(cek), algorithm.Parameters?.ToAsn1Object()));
        var input = new byte[ChunkBytes];
        var output = new byte[cipher.GetUpdateOutputSize(input.Length) + cipher.GetBlockSize()];
        int read;
        while ((read = encrypted.Read(input, 0, input.Length)) > 0)
        {
            var n = cipher.ProcessBytes(input, 0, read, output, 0);
            plaintext.Write(output, 0, n);
        }
        var last = cipher.DoFinal(output, 0);
        plaintext.Write(output, 0, last);
    }

    /// <summary>AES-CBC with PKCS#7 padding, streamed: every full chunk but the last is decrypted without padding,
    /// chaining the IV; the last (held back until the input ends) with it.</summary>
    static void DecryptAesCbc(Stream encrypted, byte[] key, byte[] iv, Stream plaintext)
    {
        using var aes = Aes.Create();
        aes.Key = key;
        var buffer = Platform.ChunkBuffers.Rent(ChunkBytes + 16); // pooled: see ChunkBuffers
        var output = Platform.ChunkBuffers.Rent(ChunkBytes + 16);
        var outputTouched = 0;
        Span<byte> chain = stackalloc byte[16];
        iv.CopyTo(chain);
        var filled = 0;
        try
        {
            while (true)
            {
                var read = encrypted.Read(buffer, filled, ChunkBytes + 16 - filled);
                if (read <= 0) break;
                filled += read;
                // Keep the last block back: only the final call knows the padding.
                if (filled < ChunkBytes + 16) continue;
                var n = ChunkBytes;
                outputTouched = n; // what a call may write, set before it: a call that throws may have written some
                var written = aes.DecryptCbc(buffer.AsSpan(0, n), chain, output, PaddingMode.None);
                buffer.AsSpan(n - 16, 16).CopyTo(chain);
                plaintext.Write(output, 0, written);
                buffer.AsSpan(n, filled - n).CopyTo(buffer);
                filled -= n;
            }
            if (filled == 0 || filled % 16 != 0) throw new InvalidCipherTextException("the encrypted content is not a whole number of AES blocks");
            // The last call may write its padding too, past what it returns.
            outputTouched = Math.Max(outputTouched, filled);
            var last = aes.DecryptCbc(buffer.AsSpan(0, filled), chain, output, PaddingMode.PKCS7);
            plaintext.Write(output, 0, last);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidCipherTextException("the content does not decrypt with this key (bad padding)", ex);
        }
        finally
        {
            Platform.ChunkBuffers.Return(ref output, outputTouched);
            Platform.ChunkBuffers.Return(ref buffer, 0); // ciphertext
        }
    }
}
