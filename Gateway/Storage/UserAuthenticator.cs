using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gateway.Imap;
using Gateway.Smtp;

namespace Gateway.Storage;

/// <summary>
/// Checks AUTH and LOGIN credentials against the user store. An unknown user costs the same Argon2id work as a
/// known one, so response time does not reveal which addresses exist.
/// </summary>
/// <remarks>
/// Mail programs log in often (Thunderbird keeps several IMAP connections and reconnects them), and each Argon2id
/// check costs tens of megabytes and a good part of a second. A successful check is therefore remembered for a
/// while, like Dovecot's auth cache: as an HMAC of the password under a per-process random key, compared in
/// constant time, and only as long as the stored hash is the one it was checked against (a password change or a
/// removed user ends it at once). Failures are never cached.
/// </remarks>
public sealed class UserAuthenticator(IUserStore users, TimeProvider? time = null) : ISmtpAuthenticator, IImapAuthenticator
{
    static readonly Lazy<string> DummyHash = new(() => PasswordHasher.Hash(Guid.NewGuid().ToString()));
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(15);

    readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    readonly ConcurrentDictionary<string, (byte[] Mac, string StoredHash, DateTimeOffset Expires)> _verified = new(StringComparer.OrdinalIgnoreCase);
    readonly TimeProvider _time = time ?? TimeProvider.System;
    long _hashChecks;

    /// <summary>How many times a password was checked with Argon2id (not from the cache); for tests.</summary>
    internal long HashChecks => Interlocked.Read(ref _hashChecks);

    public ValueTask<string?> AuthenticateAsync(string user, string password, CancellationToken cancellationToken)
    {
        if (user.Length is 0 or > 320 || password.Length > 1024) return ValueTask.FromResult<string?>(null);
        var record = users.Find(user);
        var mac = HMACSHA256.HashData(_cacheKey, Encoding.UTF8.GetBytes(password));
        if (record is not null && _verified.TryGetValue(record.Address, out var cached) && cached.Expires > _time.GetUtcNow()
            && cached.StoredHash == record.PasswordHash && CryptographicOperations.FixedTimeEquals(cached.Mac, mac))
            return ValueTask.FromResult<string?>(record.Address);

        return new ValueTask<string?>(Task.Run(() =>
        {
            Interlocked.Increment(ref _hashChecks);
            var ok = PasswordHasher.Verify(password, record?.PasswordHash ?? DummyHash.Value);
            if (!ok || record is null) return null;
            _verified[record.Address] = (mac, record.PasswordHash, _time.GetUtcNow() + CacheLifetime);
            return record.Address;
        }, cancellationToken));
    }
}
