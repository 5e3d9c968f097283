using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Storage;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Courier;

/// <summary>
/// Distribute Accounts for one address that reach an element out of the order they were sent: an element on a host of
/// its own applies each account's messages in sending order and drops the ones that were overtaken, across restarts.
/// (Found in CI: a Distribute Account told at start, overtaken by the account's removal, put the removed user back.)
/// </summary>
public sealed class DistributeAccountOrderTests : IDisposable
{
    const string Bob = "bob@s.test";
    readonly string _dir = TempDirectory.Create("acct-order");
    readonly LiteDbUserStore _users;
    readonly CertificateDirectory _directory;
    readonly ElementInbox _inbox;
    static readonly DateTimeOffset T0 = new(2026, 11, 25, 3, 0, 0, TimeSpan.Zero);

    public DistributeAccountOrderTests()
    {
        _users = new LiteDbUserStore(Path.Combine(_dir, "users.db"));
        _directory = new CertificateDirectory(Path.Combine(_dir, "certs.db"));
        _inbox = new ElementInbox(Path.Combine(_dir, "inbox"), Gateway.Sealing.SpoolSeal.Ephemeral());
        _users.Add(Bob, PasswordHasher.HashOfUnknownPassword());
    }

    public void Dispose()
    {
        _users.Dispose();
        _directory.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch { }
    }

    /// <summary>Hands one message to the element as its inbox would; the stand-in reader returns <paramref name="body"/>
    /// (signatures are the subject of other tests).</summary>
    async Task TakeAsync(AccountVersions versions, string name, DistributeAccount.Body body)
    {
        var bytes = "From: <foreground@s.test>\r\nTo: <background@s.test>\r\nSubject: Distribute Account\r\n\r\nsealed\r\n"u8.ToArray();
        Assert.True(_inbox.Put(name, bytes));
        var released = 0;
        await DistributeAccount.TakeAsync("Background", "the Foreground", _inbox, name, bytes, _ => body, _directory, _users, versions,
            () => { released++; return Task.CompletedTask; }, NullLogger.Instance);
        Assert.Empty(_inbox.Waiting());
    }

    [Fact]
    public async Task An_account_told_before_its_removal_but_arriving_after_it_does_not_come_back()
    {
        var path = AccountVersions.PathIn(_dir);
        await TakeAsync(new AccountVersions(path), "acct-2", new DistributeAccount.Body(Bob, T0.AddSeconds(2), Removed: true));
        Assert.Null(_users.Find(Bob));

        // The older "exists", overtaken on the way, arrives now: dropped, also after a restart (the time is on disk).
        await TakeAsync(new AccountVersions(path), "acct-1", new DistributeAccount.Body(Bob, T0.AddSeconds(1)));
        Assert.Null(_users.Find(Bob));

        // A later "exists" (the user added again) is applied.
        await TakeAsync(new AccountVersions(path), "acct-3", new DistributeAccount.Body(Bob, T0.AddSeconds(3)));
        Assert.NotNull(_users.Find(Bob));
    }

    [Fact]
    public async Task Messages_in_sending_order_are_all_applied_and_other_accounts_are_not_held_back()
    {
        var versions = new AccountVersions(AccountVersions.PathIn(_dir));
        await TakeAsync(versions, "acct-1", new DistributeAccount.Body("carol@s.test", T0.AddSeconds(5)));
        // Bob's removal, sent earlier than Carol's account, is not overtaken by it: the order is per address.
        await TakeAsync(versions, "acct-2", new DistributeAccount.Body(Bob, T0.AddSeconds(1), Removed: true));
        Assert.Null(_users.Find(Bob));
        Assert.NotNull(_users.Find("carol@s.test"));
        // The same moment twice (one message carried twice) is taken again without harm.
        await TakeAsync(versions, "acct-3", new DistributeAccount.Body("carol@s.test", T0.AddSeconds(5)));
        Assert.NotNull(_users.Find("carol@s.test"));
    }
}
