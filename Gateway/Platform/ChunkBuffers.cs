using System.Buffers;
using System.Security.Cryptography;

namespace Gateway.Platform;

/// <summary>
/// The working buffers of the streamed layers (sealed spool files, CMS writers and readers, content decryption),
/// taken from the shared array pool instead of allocated per use. A protected message passes a dozen such layers,
/// each with a 64 KiB buffer or two; allocating them made several megabytes of garbage per message, most of the
/// gateway's allocation and a good part of its CPU (the runtime zeroes every new array, and collects them).
/// </summary>
/// <remarks>
/// A pooled array outlives its use, so whatever plaintext it held is zeroed before it goes back: callers say how many
/// leading octets they may have filled with something secret. An array given back is replaced by an empty one, so a
/// use after the return fails instead of reading another message's buffer.
/// </remarks>
public static class ChunkBuffers
{
    /// <summary>An array of at least <paramref name="minimum"/> octets (often longer: use explicit lengths).</summary>
    public static byte[] Rent(int minimum) => ArrayPool<byte>.Shared.Rent(minimum);

    /// <summary>Zeroes the first <paramref name="secret"/> octets of <paramref name="buffer"/>, gives it back to the
    /// pool and leaves an empty array in its place.</summary>
    public static void Return(ref byte[] buffer, int secret)
    {
        var array = buffer;
        buffer = [];
        if (array.Length == 0) return;
        if (secret > 0) CryptographicOperations.ZeroMemory(array.AsSpan(0, Math.Min(secret, array.Length)));
        ArrayPool<byte>.Shared.Return(array);
    }
}
