using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;

namespace Gateway.Courier.Portal;

/// <summary>What a pickup link says: which message, for which outside recipient, until when.</summary>
public sealed record PickupClaims(string MessageId, string Recipient, DateTimeOffset ExpiresUtc, string LinkId);

/// <summary>Why a pickup link was not accepted; each maps to a page without content (404, 403 or 410).</summary>
public enum PickupLinkProblem { Malformed, Forged, Expired }

/// <summary>
/// The token in the link an outside recipient gets by mail (the pickup page on the gateway's HTTPS listener). It names
/// the courier message and the recipient and carries its expiry, authenticated with HMAC-SHA256 under a key derived from
/// the master key, so it cannot be made or changed elsewhere and nothing about it is stored. The link alone opens
/// nothing: the recipient still proves the address with a one-time code (<see cref="AddressProofs"/>).
/// </summary>
/// <remarks>Layout, base64url: version (1) | expiry (8, Unix seconds, big-endian) | random (16, the link id) |
/// UTF-8 "messageId\nrecipient" | MAC (32) over everything before it.</remarks>
public sealed class PickupLink
{
    const byte Version = 1;
    const int MacSize = 32;
    const int RandomSize = 16;
    const int MaxTokenLength = 2048;
    readonly byte[] _key;

    public PickupLink(MasterKey masterKey) => _key = masterKey.Derive("portal/pickup-link");

    PickupLink(byte[] key) => _key = key;

    /// <summary>A link key of its own (tests).</summary>
    public static PickupLink Ephemeral() => new(RandomNumberGenerator.GetBytes(32));

    public string Create(string messageId, string recipient, DateTimeOffset expiresUtc)
    {
        if (messageId.Contains('\n') || recipient.Contains('\n')) throw new ArgumentException("a message id or address with a line break");
        var names = Encoding.UTF8.GetBytes(messageId + "\n" + recipient.ToLowerInvariant());
        var token = new byte[1 + 8 + RandomSize + names.Length + MacSize];
        token[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(token.AsSpan(1), expiresUtc.ToUnixTimeSeconds());
        RandomNumberGenerator.Fill(token.AsSpan(9, RandomSize));
        names.CopyTo(token, 9 + RandomSize);
        HMACSHA256.HashData(_key, token.AsSpan(0, token.Length - MacSize), token.AsSpan(token.Length - MacSize));
        return Base64Url(token);
    }

    /// <summary>The claims of a genuine, unexpired link; otherwise null and why.</summary>
    public PickupClaims? Verify(string? token, DateTimeOffset now, out PickupLinkProblem problem)
    {
        problem = PickupLinkProblem.Malformed;
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength || FromBase64Url(token) is not { } bytes
            || bytes.Length < 1 + 8 + RandomSize + 3 + MacSize || bytes[0] != Version)
            return null;
        Span<byte> mac = stackalloc byte[MacSize];
        HMACSHA256.HashData(_key, bytes.AsSpan(0, bytes.Length - MacSize), mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, bytes.AsSpan(bytes.Length - MacSize)))
        {
            problem = PickupLinkProblem.Forged;
            return null;
        }
        var expires = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(1)));
        var names = Encoding.UTF8.GetString(bytes.AsSpan(9 + RandomSize, bytes.Length - 9 - RandomSize - MacSize)).Split('\n');
        if (names.Length != 2 || names[0].Length == 0 || names[1].Length == 0) return null;
        if (now >= expires)
        {
            problem = PickupLinkProblem.Expired;
            return null;
        }
        return new PickupClaims(names[0], names[1], expires, Convert.ToHexString(bytes.AsSpan(9, RandomSize)).ToLowerInvariant());
    }

    /// <summary>base64url without padding (RFC 4648 5), as links and the portal's cookies carry it.</summary>
    internal static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    internal static byte[]? FromBase64Url(string text)
    {
        if (text.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))) return null;
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += (padded.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => "!" };
        try { return Convert.FromBase64String(padded); }
        catch (FormatException) { return null; }
    }
}
