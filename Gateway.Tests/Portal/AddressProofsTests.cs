using Gateway.Courier.Portal;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Portal;

public sealed class AddressProofsTests
{
    static (AddressProofs Proofs, FakeTimeProvider Clock, string Path, MasterKey Key) Create()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
        var key = MasterKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var path = Path.Combine(TempDirectory.Create("proofs"), "portal.db");
        return (new AddressProofs(path, key, clock), clock, path, key);
    }

    static string CodeOf(CodeRequest request) => Assert.IsType<CodeRequest.Issued>(request).Code;

    [Fact]
    public void A_code_opens_once_and_only_in_time()
    {
        var (proofs, clock, path, _) = Create();
        using (proofs)
        {
            var code = CodeOf(proofs.Request("link1", "Carol@Outside.test"));
            Assert.Matches("^[0-9]{8}$", code);
            Assert.Equal(CodeCheck.Accepted, proofs.Check("link1", code));
            Assert.Equal(CodeCheck.NoCode, proofs.Check("link1", code)); // single use
            Assert.Equal(CodeCheck.NoCode, proofs.Check("other-link", code));

            var late = CodeOf(proofs.Request("link1", "carol@outside.test"));
            clock.Advance(TimeSpan.FromMinutes(11));
            Assert.Equal(CodeCheck.Expired, proofs.Check("link1", late));

            // A new code replaces the one before.
            var first = CodeOf(proofs.Request("link1", "carol@outside.test"));
            var second = CodeOf(proofs.Request("link1", "carol@outside.test"));
            if (first != second) Assert.Equal(CodeCheck.Wrong, proofs.Check("link1", first));
            Assert.Equal(CodeCheck.Accepted, proofs.Check("link1", second));
        }
        // Only MACs of codes are stored.
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void Guessing_locks_the_link_for_a_while_and_the_lock_survives_a_restart()
    {
        var (proofs, clock, path, key) = Create();
        var code = CodeOf(proofs.Request("link1", "carol@outside.test"));
        var wrong = code == "00000000" ? "00000001" : "00000000";
        for (var i = 0; i < 4; i++) Assert.Equal(CodeCheck.Wrong, proofs.Check("link1", wrong));
        Assert.Equal(CodeCheck.Locked, proofs.Check("link1", wrong));
        Assert.Equal(CodeCheck.Locked, proofs.Check("link1", code)); // the right code no longer helps
        Assert.IsType<CodeRequest.Refused>(proofs.Request("link1", "carol@outside.test"));
        proofs.Dispose();

        using var reopened = new AddressProofs(path, key, clock);
        Assert.Equal(CodeCheck.Locked, reopened.Check("link1", code));
        clock.Advance(TimeSpan.FromMinutes(16));
        var fresh = CodeOf(reopened.Request("link1", "carol@outside.test"));
        Assert.Equal(CodeCheck.Accepted, reopened.Check("link1", fresh));
        // Another link of the same address was never locked.
        Assert.Equal(CodeCheck.Accepted, reopened.Check("link2", CodeOf(reopened.Request("link2", "carol@outside.test"))));
    }

    [Fact]
    public void Codes_are_rationed_per_link_and_per_address()
    {
        var (proofs, clock, _, _) = Create();
        using var _ = proofs;
        for (var i = 0; i < 5; i++) CodeOf(proofs.Request("link1", "carol@outside.test"));
        var refused = Assert.IsType<CodeRequest.Refused>(proofs.Request("link1", "carol@outside.test"));
        Assert.Contains("this link", refused.Reason);
        for (var i = 0; i < 5; i++) CodeOf(proofs.Request("link2", "carol@outside.test"));
        refused = Assert.IsType<CodeRequest.Refused>(proofs.Request("link3", "carol@outside.test"));
        Assert.Contains("this address", refused.Reason);
        CodeOf(proofs.Request("link4", "dave@outside.test")); // others are not affected
        clock.Advance(TimeSpan.FromHours(1));
        CodeOf(proofs.Request("link3", "carol@outside.test"));
    }

    [Fact]
    public void Wrong_codes_over_many_links_of_one_address_pause_its_checks()
    {
        var (proofs, clock, _, _) = Create();
        using var _ = proofs;
        var last = "";
        for (var link = 0; link < 4; link++)
        {
            last = CodeOf(proofs.Request($"link{link}", "carol@outside.test"));
            var wrong = last == "00000000" ? "00000001" : "00000000";
            for (var i = 0; i < 4; i++) proofs.Check($"link{link}", wrong);
        }
        // 16 wrong codes for carol in the hour: even the right code of a fresh request waits.
        clock.Advance(TimeSpan.FromMinutes(1));
        var code = CodeOf(proofs.Request("link9", "carol@outside.test"));
        Assert.Equal(CodeCheck.Locked, proofs.Check("link9", code));
        clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(CodeCheck.Accepted, proofs.Check("link9", CodeOf(proofs.Request("link9", "carol@outside.test"))));
    }
}
