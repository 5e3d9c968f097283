using System.Net;

namespace Gateway.Smtp;

/// <summary>
/// Slows and then locks out password guessing: each failure from an address, or against an account, adds
/// a growing delay; after <c>maxFailures</c> within the lockout window further AUTH attempts are refused
/// until the window has passed.
/// </summary>
public sealed class AuthThrottle(int maxFailures, TimeSpan lockout, TimeSpan delayPerFailure, TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly Dictionary<string, (int Failures, DateTimeOffset Since)> _entries = new();

    public bool IsLockedOut(IPAddress address, string? user = null)
    {
        lock (_entries)
            return Locked(AddressKey(address)) || (user is not null && Locked(UserKey(user)));
    }

    /// <summary>Records a failure and returns how long to wait before answering it.</summary>
    public TimeSpan RecordFailure(IPAddress address, string? user)
    {
        lock (_entries)
        {
            var n = Bump(AddressKey(address));
            if (!string.IsNullOrEmpty(user)) n = Math.Max(n, Bump(UserKey(user)));
            return TimeSpan.FromTicks(delayPerFailure.Ticks * Math.Min(n, 5));
        }
    }

    public void RecordSuccess(IPAddress address, string user)
    {
        lock (_entries)
        {
            _entries.Remove(AddressKey(address));
            _entries.Remove(UserKey(user));
        }
    }

    bool Locked(string key)
    {
        if (!_entries.TryGetValue(key, out var e)) return false;
        if (_time.GetUtcNow() - e.Since > lockout) { _entries.Remove(key); return false; }
        return e.Failures >= maxFailures;
    }

    int Bump(string key)
    {
        var now = _time.GetUtcNow();
        if (!_entries.TryGetValue(key, out var e) || now - e.Since > lockout) e = (0, now);
        e.Failures++;
        _entries[key] = e;
        if (_entries.Count > 100_000) Prune(now);
        return e.Failures;
    }

    void Prune(DateTimeOffset now)
    {
        foreach (var key in _entries.Where(kv => now - kv.Value.Since > lockout).Select(kv => kv.Key).ToList())
            _entries.Remove(key);
    }

    static string AddressKey(IPAddress a) => "ip:" + a;
    static string UserKey(string u) => "user:" + u.ToLowerInvariant();
}
