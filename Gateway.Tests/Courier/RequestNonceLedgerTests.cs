using Gateway.Courier;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>A signed request's nonce is remembered on disk: sent again after a restart, it is still a replay.</summary>
public class RequestNonceLedgerTests
{
    [Fact]
    public void A_nonce_seen_before_a_restart_is_a_replay_after_it()
    {
        var path = Path.Combine(TempDirectory.Create("nonces"), "request-nonces.db");
        var now = DateTimeOffset.UtcNow;
        using (var ledger = new RequestNonceLedger(path))
        {
            Assert.True(ledger.TryRecord("0123456789abcdef0123", now, now));
            Assert.False(ledger.TryRecord("0123456789abcdef0123", now, now));
        }
        using (var reopened = new RequestNonceLedger(path))
        {
            Assert.False(reopened.TryRecord("0123456789abcdef0123", now, now));
            Assert.True(reopened.TryRecord("fedcba9876543210fedc", now, now));
        }
    }

    [Fact]
    public void Nonces_older_than_the_freshness_window_are_swept()
    {
        var path = Path.Combine(TempDirectory.Create("nonces-sweep"), "request-nonces.db");
        var then = DateTimeOffset.UtcNow.AddHours(-1);
        using var ledger = new RequestNonceLedger(path);
        Assert.True(ledger.TryRecord("old-nonce-0000000000", then, then));
        var now = DateTimeOffset.UtcNow;
        // The sweep runs every 256 records; the old nonce is gone after it (its request would be refused as too old anyway).
        for (var i = 0; i < 256; i++) Assert.True(ledger.TryRecord($"new-nonce-{i:D12}", now, now));
        Assert.True(ledger.TryRecord("old-nonce-0000000000", then, now));
    }
}
