using Gateway.Storage;
using Gateway.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Unit;

public class UserAuthenticatorTests
{
    static (LiteDbUserStore Users, UserAuthenticator Auth, FakeTimeProvider Clock) Create()
    {
        var users = new LiteDbUserStore(Path.Combine(TempDirectory.Create("auth"), "users.db"));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        users.Add("ann@example.org", PasswordHasher.Hash("first-password", memoryKiB: 1024, iterations: 1));
        return (users, new UserAuthenticator(users, clock), clock);
    }

    [Fact]
    public async Task A_remembered_login_still_refuses_a_wrong_password_and_ends_with_a_password_change()
    {
        var (users, auth, _) = Create();
        Assert.Equal("ann@example.org", await auth.AuthenticateAsync("ANN@example.org", "first-password", default));
        Assert.Equal("ann@example.org", await auth.AuthenticateAsync("ann@example.org", "first-password", default)); // from the cache
        Assert.Null(await auth.AuthenticateAsync("ann@example.org", "first-passwore", default));
        users.SetPasswordHash("ann@example.org", PasswordHasher.Hash("second-password", memoryKiB: 1024, iterations: 1));
        Assert.Null(await auth.AuthenticateAsync("ann@example.org", "first-password", default));
        Assert.Equal("ann@example.org", await auth.AuthenticateAsync("ann@example.org", "second-password", default));
        users.Remove("ann@example.org");
        Assert.Null(await auth.AuthenticateAsync("ann@example.org", "second-password", default));
    }

    [Fact]
    public async Task The_cache_skips_argon2_until_it_expires()
    {
        var (users, auth, clock) = Create();
        // A production-cost hash makes the difference measurable.
        users.SetPasswordHash("ann@example.org", PasswordHasher.Hash("slow-password"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "slow-password", default));
        var full = watch.Elapsed;
        watch.Restart();
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "slow-password", default));
        var cached = watch.Elapsed;
        Assert.True(cached * 5 < full, $"cached {cached.TotalMilliseconds} ms vs full {full.TotalMilliseconds} ms");
        clock.Advance(UserAuthenticator.CacheLifetime + TimeSpan.FromSeconds(1));
        watch.Restart();
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "slow-password", default));
        Assert.True(watch.Elapsed * 5 > full, "after expiry the password is checked with Argon2id again");
    }
}
