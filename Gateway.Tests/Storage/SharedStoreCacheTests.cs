using Gateway.Storage;
using Gateway.Tests.Support;

namespace Gateway.Tests.Storage;

/// <summary>The read copy of a shared-mode store: a change in this process applies at once, one by another process
/// (an admin verb; here a second store object on the same file) within the recheck time, from the first read on.</summary>
public sealed class SharedStoreCacheTests
{
    [Fact]
    public async Task Changes_here_apply_at_once_and_another_process_changes_within_a_second()
    {
        var path = Path.Combine(TempDirectory.Create("shared-cache"), "users.db");
        using var gateway = new LiteDbUserStore(path);
        using var admin = new LiteDbUserStore(path); // what 'gateway user add' opens while the gateway runs

        Assert.Null(gateway.Find("carol@example.org")); // remembered as absent
        Assert.True(admin.Add("carol@example.org", "hash-1"));
        var deadline = DateTime.UtcNow + SharedStoreCache<UserRecord>.Recheck + TimeSpan.FromSeconds(2);
        while (gateway.Find("carol@example.org") is null && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal("hash-1", gateway.Find("carol@example.org")?.PasswordHash);

        Assert.True(gateway.SetPasswordHash("carol@example.org", "hash-2"));
        Assert.Equal("hash-2", gateway.Find("carol@example.org")!.PasswordHash); // at once, here
        deadline = DateTime.UtcNow + SharedStoreCache<UserRecord>.Recheck + TimeSpan.FromSeconds(2);
        while (admin.Find("carol@example.org")?.PasswordHash != "hash-2" && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal("hash-2", admin.Find("carol@example.org")!.PasswordHash);

        Assert.True(admin.Remove("carol@example.org"));
        deadline = DateTime.UtcNow + SharedStoreCache<UserRecord>.Recheck + TimeSpan.FromSeconds(2);
        while (gateway.Find("carol@example.org") is not null && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Null(gateway.Find("carol@example.org"));
    }
}
