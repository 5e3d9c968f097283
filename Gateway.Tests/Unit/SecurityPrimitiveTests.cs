using System.Net;
using Gateway.Smtp;
using Gateway.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Unit;

public class SecurityPrimitiveTests
{
    [Fact]
    public void Argon2id_hash_verifies_only_the_right_password()
    {
        var hash = PasswordHasher.Hash("correct horse", memoryKiB: 1024, iterations: 1);
        Assert.StartsWith("$argon2id$v=19$m=1024,t=1,p=1$", hash);
        Assert.True(PasswordHasher.Verify("correct horse", hash));
        Assert.False(PasswordHasher.Verify("correct horsf", hash));
        Assert.False(PasswordHasher.Verify("", hash));
        Assert.NotEqual(hash, PasswordHasher.Hash("correct horse", memoryKiB: 1024, iterations: 1)); // salted
    }

    [Theory]
    [InlineData("")]
    [InlineData("plaintext")]
    [InlineData("$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA")]
    [InlineData("$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$aGFzaA")]
    [InlineData("$argon2id$v=19$m=1024,t=1,p=1$!!!$aGFzaA")]
    public void Malformed_hashes_never_verify(string stored) => Assert.False(PasswordHasher.Verify("x", stored));

    [Fact]
    public void Production_parameters_are_the_default()
    {
        var hash = PasswordHasher.Hash("pw");
        Assert.Contains($"m={PasswordHasher.DefaultMemoryKiB},t={PasswordHasher.DefaultIterations}", hash);
    }

    [Fact]
    public void Auth_throttle_delays_then_locks_out_then_forgives_after_the_window()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var throttle = new AuthThrottle(3, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100), time);
        var ip = IPAddress.Parse("192.0.2.7");
        Assert.Equal(TimeSpan.FromMilliseconds(100), throttle.RecordFailure(ip, "a@x"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), throttle.RecordFailure(ip, "a@x"));
        Assert.False(throttle.IsLockedOut(ip));
        throttle.RecordFailure(ip, "b@x");
        Assert.True(throttle.IsLockedOut(ip));
        Assert.True(throttle.IsLockedOut(IPAddress.Parse("192.0.2.8"), "A@X") == false); // 2 failures for a@x < 3
        time.Advance(TimeSpan.FromMinutes(6));
        Assert.False(throttle.IsLockedOut(ip));
    }

    [Fact]
    public void Auth_throttle_locks_an_account_attacked_from_many_addresses()
    {
        var throttle = new AuthThrottle(3, TimeSpan.FromMinutes(5), TimeSpan.Zero);
        for (var i = 1; i <= 3; i++) throttle.RecordFailure(IPAddress.Parse($"198.51.100.{i}"), "victim@x");
        Assert.True(throttle.IsLockedOut(IPAddress.Parse("198.51.100.200"), "victim@x"));
        Assert.False(throttle.IsLockedOut(IPAddress.Parse("198.51.100.200"), "other@x"));
    }

    [Fact]
    public void Connection_limiter_counts_per_address_and_in_total()
    {
        var limiter = new ConnectionLimiter(3, 2);
        var a = IPAddress.Parse("192.0.2.1");
        var b = IPAddress.Parse("192.0.2.2");
        Assert.True(limiter.TryAcquire(a, out _));
        Assert.True(limiter.TryAcquire(a, out _));
        Assert.False(limiter.TryAcquire(a, out var why));
        Assert.Contains("your address", why);
        Assert.True(limiter.TryAcquire(b, out _));
        Assert.False(limiter.TryAcquire(b, out why));
        Assert.Contains("this server", why);
        limiter.Release(a);
        Assert.True(limiter.TryAcquire(b, out _));
        Assert.Equal(3, limiter.Current);
    }
}
