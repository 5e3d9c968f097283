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
        var (_, auth, clock) = Create();
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "first-password", default));
        Assert.Equal(1, auth.HashChecks);
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "first-password", default));
        Assert.Equal(1, auth.HashChecks);
        Assert.Null(await auth.AuthenticateAsync("ann@example.org", "wrong-password", default));
        Assert.Equal(2, auth.HashChecks); // a different password is never answered from the cache
        clock.Advance(UserAuthenticator.CacheLifetime + TimeSpan.FromSeconds(1));
        Assert.NotNull(await auth.AuthenticateAsync("ann@example.org", "first-password", default));
        Assert.Equal(3, auth.HashChecks); // after expiry the password is checked with Argon2id again
    }
}
