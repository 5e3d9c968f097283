using System.Security.Cryptography;

namespace Gateway.Crypto;

/// <summary>
/// AES-256-GCM sealing of secrets at rest. Layout: version (1) | nonce (12) | tag (16) | ciphertext. The
/// associated data binds a sealed value to its place (a record id), so values cannot be swapped between records.
/// </summary>
public static class SealedSecret
{
    const byte Version = 1;
    const int NonceSize = 12;
    const int TagSize = 16;

    public static byte[] Seal(byte[] key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[1 + NonceSize + TagSize + plaintext.Length];
        output[0] = Version;
        var nonce = output.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(1 + NonceSize + TagSize), output.AsSpan(1 + NonceSize, TagSize), associatedData);
        return output;
    }

    /// <summary>Opens a sealed value; throws <see cref="CryptographicException"/> if the key, the data or its place is wrong.</summary>
    public static byte[] Open(byte[] key, ReadOnlySpan<byte> sealedValue, ReadOnlySpan<byte> associatedData)
    {
        if (sealedValue.Length < 1 + NonceSize + TagSize || sealedValue[0] != Version)
            throw new CryptographicException("not a sealed secret (unknown version or truncated)");
        var plaintext = new byte[sealedValue.Length - 1 - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(sealedValue.Slice(1, NonceSize), sealedValue[(1 + NonceSize + TagSize)..], sealedValue.Slice(1 + NonceSize, TagSize), plaintext, associatedData);
        return plaintext;
    }
}
