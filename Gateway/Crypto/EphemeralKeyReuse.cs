using System.Collections.Concurrent;
using System.Diagnostics;
using Org.BouncyCastle.Crypto.Parameters;

namespace Gateway.Crypto;

/// <summary>
/// ECDH results reused for a short while on both ends of RFC 5753 key agreement, where the courier's own parts make
/// the same agreement again and again (every part to the Foreground, every ARM to the Background, every message sealed
/// to its owner). The sender keeps one ephemeral key per recipient key for <see cref="Window"/> or
/// <see cref="MaxUses"/> envelopes, whichever comes first; each envelope then carries fresh random user keying material
/// (ukm), so its key-encryption key is its own (RFC 5753 3.1.1: the ukm makes the KEK differ when one ephemeral key
/// serves more than one message), and its content key is random as always. The receiver keeps the shared secret for an
/// (own key, originator point) pair it has already computed, for the same window.
/// </summary>
/// <remarks>
/// What this gives up: an ephemeral private key lives in the sender's memory for up to a minute instead of one call.
/// Whoever can read that memory can also read the content being sealed in it, and ephemeral-static ECDH never gave
/// forward secrecy against the recipient's static key, which opens every envelope anyway. Outside recipients' S/MIME
/// (other software, other keys) always gets a fresh ephemeral key.
/// </remarks>
public static class EphemeralKeyReuse
{
    /// <summary>How long one ephemeral key (and a shared secret computed from it) is used.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    /// <summary>Envelopes per ephemeral key at most.</summary>
    public const int MaxUses = 10_000;

    /// <summary>Entries kept on each side at most; a full table is emptied (the next use computes again).</summary>
    const int MaxEntries = 4096;

    /// <summary>Octets of user keying material per envelope.</summary>
    public const int UkmSize = 32;

    sealed class SenderKey(byte[] point, byte[] secret, long until)
    {
        public readonly byte[] Point = point;
        public readonly byte[] Secret = secret;
        public readonly long Until = until;
        public int Uses;
    }

    static readonly ConcurrentDictionary<string, SenderKey> Senders = new(StringComparer.Ordinal);
    static readonly ConcurrentDictionary<(ECPrivateKeyParameters Key, string Point), (byte[] Secret, long Until)> Receivers = new();

    static long Now => Stopwatch.GetTimestamp();
    static long Later => Now + (long)(Window.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// The ephemeral point and a copy of the shared secret to use for one more envelope to <paramref name="recipient"/>
    /// (a new ephemeral key when the last one is used up, expired, or there is none); null when .NET's EC cannot make
    /// one for this key (the caller makes a fresh one its own way). The caller clears the copy.
    /// </summary>
    public static (byte[] EphemeralPoint, byte[] SharedSecret)? ForRecipient(ECPublicKeyParameters recipient)
    {
        if (NativeEc.PublicForm(recipient) is not { } form) return null;
        var id = NativeEc.IdOf(form);
        if (Senders.TryGetValue(id, out var known) && Now < known.Until && Interlocked.Increment(ref known.Uses) <= MaxUses)
            return (known.Point, (byte[])known.Secret.Clone());
        if (NativeEc.Ephemeral(recipient) is not { } fresh) return null;
        if (Senders.Count >= MaxEntries) Senders.Clear();
        var entry = new SenderKey(fresh.EphemeralPoint, fresh.SharedSecret, Later) { Uses = 1 };
        Senders[id] = entry;
        return (entry.Point, (byte[])entry.Secret.Clone());
    }

    /// <summary>A copy of the shared secret of <paramref name="key"/> with the originator point whose encoding is
    /// <paramref name="encodedPoint"/>, computed by <paramref name="compute"/> the first time in a window.</summary>
    public static byte[] ForOriginator(ECPrivateKeyParameters key, byte[] encodedPoint, Func<byte[]> compute)
    {
        var id = (key, Convert.ToHexString(encodedPoint));
        if (Receivers.TryGetValue(id, out var known) && Now < known.Until) return (byte[])known.Secret.Clone();
        var secret = compute();
        if (Receivers.Count >= MaxEntries) Receivers.Clear();
        Receivers[id] = ((byte[])secret.Clone(), Later);
        return secret;
    }

    /// <summary>Forgets every kept key and secret: the next envelope to any recipient gets a new ephemeral key.
    /// (Secrets are dropped, not cleared: another thread may be copying one out at that moment.)</summary>
    public static void Forget()
    {
        Senders.Clear();
        Receivers.Clear();
    }
}
