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
        using var aes = Cipher(key);
        return Seal(aes, plaintext, associatedData);
    }

    /// <summary>Opens a sealed value; throws <see cref="CryptographicException"/> if the key, the data or its place is wrong.</summary>
    public static byte[] Open(byte[] key, ReadOnlySpan<byte> sealedValue, ReadOnlySpan<byte> associatedData)
    {
        using var aes = Cipher(key);
        return Open(aes, sealedValue, associatedData);
    }

    internal static AesGcm Cipher(byte[] key) => new(key, TagSize);

    internal static byte[] Seal(AesGcm aes, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[1 + NonceSize + TagSize + plaintext.Length];
        output[0] = Version;
        var nonce = output.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        aes.Encrypt(nonce, plaintext, output.AsSpan(1 + NonceSize + TagSize), output.AsSpan(1 + NonceSize, TagSize), associatedData);
        return output;
    }

    internal static byte[] Open(AesGcm aes, ReadOnlySpan<byte> sealedValue, ReadOnlySpan<byte> associatedData)
    {
        if (sealedValue.Length < 1 + NonceSize + TagSize || sealedValue[0] != Version)
            throw new CryptographicException("not a sealed secret (unknown version or truncated)");
        var plaintext = new byte[sealedValue.Length - 1 - NonceSize - TagSize];
        aes.Decrypt(sealedValue.Slice(1, NonceSize), sealedValue[(1 + NonceSize + TagSize)..], sealedValue.Slice(1 + NonceSize, TagSize), plaintext, associatedData);
        return plaintext;
    }
}

/// <summary>
/// A key that seals and opens many values (<see cref="SealedSecret"/>'s layout): its AES-GCM contexts (OpenSSL's, with
/// the key schedule done) are kept and used again, instead of one made and freed per value, which cost more than the
/// value's own encryption for the small values a mailbox keeps (a FETCH of header fields opens one per message).
/// </summary>
public sealed class SealingKey(byte[] key)
{
    // A context serves one caller at a time (AesGcm is not thread-safe): each call takes one and gives it back.
    readonly System.Collections.Concurrent.ConcurrentBag<AesGcm> _idle = new();
    int _idleCount;
    static readonly int MaxIdle = 2 * Environment.ProcessorCount;

    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var aes = Take();
        try { return SealedSecret.Seal(aes, plaintext, associatedData); }
        finally { Give(aes); }
    }

    /// <summary>Opens a sealed value; throws <see cref="CryptographicException"/> if the key, the data or its place is wrong.</summary>
    public byte[] Open(ReadOnlySpan<byte> sealedValue, ReadOnlySpan<byte> associatedData)
    {
        var aes = Take();
        try { return SealedSecret.Open(aes, sealedValue, associatedData); }
        finally { Give(aes); }
    }

    AesGcm Take()
    {
        if (_idle.TryTake(out var aes))
        {
            Interlocked.Decrement(ref _idleCount);
            return aes;
        }
        return SealedSecret.Cipher(key);
    }

    void Give(AesGcm aes)
    {
        if (Interlocked.Increment(ref _idleCount) <= MaxIdle) _idle.Add(aes);
        else
        {
            Interlocked.Decrement(ref _idleCount);
            aes.Dispose();
        }
    }
}
