using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>The routing decision each element makes from its own peer table, for every kind of recipient and courier role.</summary>
public sealed class CourierRouterTests : IDisposable
{
    readonly PeerTable _peers = new(Path.Combine(TempDirectory.Create("peers"), "peers.db"));
    readonly HashSet<string> _users = new(StringComparer.OrdinalIgnoreCase) { "ann@corp.test" };
    static readonly DateTime Now = new(2026, 11, 24, 12, 0, 0, DateTimeKind.Utc);

    public void Dispose() => _peers.Dispose();

    CourierRouter Router(CourierRole? role) => new(_users.Contains, new[] { "corp.test" }, () => role, _peers);

    [Theory]
    [InlineData(CourierRole.Private)]
    [InlineData(CourierRole.Public)]
    [InlineData(CourierRole.Root)]
    [InlineData(CourierRole.Gateway)]
    public void A_local_user_is_delivered_here_whatever_the_role(CourierRole role) =>
        Assert.IsType<CourierRoute.Deliver>(Router(role).Decide("ANN@corp.test"));

    [Fact]
    public void Unknown_recipients_are_deferred_by_private_and_gateway_couriers_and_invited_by_public_ones()
    {
        _peers.Record(new PeerRecord { Id = "up.test", Role = CourierRole.Public, Above = true, Endpoint = "127.0.0.1:2600", LearntFrom = PeerSource.Admin }, Now);
        Assert.IsType<CourierRoute.Defer>(Router(CourierRole.Private).Decide("bob@elsewhere.test"));
        Assert.IsType<CourierRoute.Defer>(Router(CourierRole.Gateway).Decide("bob@elsewhere.test"));
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Public).Decide("bob@elsewhere.test"));
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Root).Decide("bob@elsewhere.test"));
    }

    [Fact]
    public void A_public_courier_defers_a_part_from_below_to_its_superior_but_invites_for_its_own_users()
    {
        _peers.Record(new PeerRecord { Id = "root.test", Role = CourierRole.Root, Above = true, Endpoint = "127.0.0.1:2600", LearntFrom = PeerSource.Admin }, Now);
        Assert.IsType<CourierRoute.Defer>(Router(CourierRole.Public).Decide("bob@elsewhere.test", deferredFromBelow: true));
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Public).Decide("bob@elsewhere.test"));
    }

    [Fact]
    public void A_public_courier_behind_a_gateway_courier_defers_instead_of_inviting_past_it()
    {
        _peers.Record(new PeerRecord { Id = "gw.test", Role = CourierRole.Gateway, Above = true, Endpoint = "127.0.0.1:2600", LearntFrom = PeerSource.Admin }, Now);
        Assert.IsType<CourierRoute.Defer>(Router(CourierRole.Public).Decide("bob@elsewhere.test"));
        // Its own domain is its own business: a newcomer there is still invited (by it, to itself).
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Public).Decide("newcomer@corp.test"));
    }

    [Fact]
    public void Without_a_superior_or_invitations_unknown_recipients_are_outside_and_configured_outside_domains_always_are()
    {
        Assert.IsType<CourierRoute.Outside>(Router(CourierRole.Private).Decide("bob@elsewhere.test"));
        var standalone = new CourierRouter(_users.Contains, new[] { "corp.test" }, () => CourierRole.Root, _peers, invites: () => false);
        Assert.IsType<CourierRoute.Outside>(standalone.Decide("bob@elsewhere.test"));
        Assert.IsType<CourierRoute.Hold>(standalone.Decide("new@corp.test"));
        var withOutside = new CourierRouter(_users.Contains, new[] { "corp.test" }, () => CourierRole.Public, _peers, isOutsideDomain: d => d == "partner.test");
        Assert.IsType<CourierRoute.Outside>(withOutside.Decide("bob@partner.test"));
        Assert.IsType<CourierRoute.Invite>(withOutside.Decide("bob@elsewhere.test"));
    }

    [Fact]
    public void A_non_user_in_our_own_domain_is_held_by_a_private_courier_and_invited_by_a_public_one()
    {
        Assert.IsType<CourierRoute.Hold>(Router(CourierRole.Private).Decide("new@corp.test"));
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Public).Decide("new@corp.test"));
    }

    [Fact]
    public void Known_domains_relay_to_their_courier_and_a_courier_below_us_wins()
    {
        _peers.Record(new PeerRecord { Id = "Far.test", Role = CourierRole.Private, Domains = { "far.test" }, Endpoint = "127.0.0.1:2601", LearntFrom = PeerSource.Introduction }, Now);
        var relay = Assert.IsType<CourierRoute.Relay>(Router(CourierRole.Private).Decide("bob@FAR.test"));
        Assert.Equal("far.test", relay.Peer.Id);
        Assert.Contains("introduced", relay.Why);

        _peers.Record(new PeerRecord { Id = "sub.test", Role = CourierRole.Private, Domains = { "far.test" }, Below = true, Endpoint = "127.0.0.1:2602", LearntFrom = PeerSource.Admin }, Now);
        Assert.Equal("sub.test", Assert.IsType<CourierRoute.Relay>(Router(CourierRole.Public).Decide("bob@far.test")).Peer.Id);
    }

    [Fact]
    public void An_address_named_by_an_invitation_reject_goes_to_that_courier_even_in_a_domain_another_serves()
    {
        _peers.Record(new PeerRecord { Id = "far.test", Role = CourierRole.Private, Domains = { "far.test" }, Endpoint = "127.0.0.1:2601", LearntFrom = PeerSource.Introduction }, Now);
        _peers.Record(new PeerRecord { Id = "r.test", Role = CourierRole.Private, Addresses = { "Moved@Far.test" }, Endpoint = "127.0.0.1:2603", LearntFrom = PeerSource.InvitationReject }, Now);
        Assert.Equal("r.test", Assert.IsType<CourierRoute.Relay>(Router(CourierRole.Public).Decide("moved@far.test")).Peer.Id);
        Assert.Equal("far.test", Assert.IsType<CourierRoute.Relay>(Router(CourierRole.Public).Decide("other@far.test")).Peer.Id);
    }

    [Fact]
    public async Task Who_serves_a_domain_is_answered_from_memory_and_a_change_from_another_process_is_seen_within_the_recheck()
    {
        var path = Path.Combine(TempDirectory.Create("peers"), "peers.db");
        using var running = new PeerTable(path);
        Assert.Null(running.ServingDomain("far.test")); // remembered as absent
        using (var admin = new PeerTable(path)) // as 'gateway peer ...' opens it beside a running gateway
            admin.Record(new PeerRecord { Id = "far.test", Domains = { "far.test" }, Addresses = { "x@near.test" }, Endpoint = "127.0.0.1:2700", LearntFrom = PeerSource.Admin }, Now);
        var deadline = DateTime.UtcNow + Gateway.Storage.SharedStoreCache<PeerRecord>.Recheck + TimeSpan.FromSeconds(5);
        while (running.ServingDomain("far.test") is null && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal("far.test", running.ServingDomain("FAR.test")?.Id);
        Assert.Equal("far.test", running.ServingAddress("x@near.test")?.Id);
        Assert.True(running.Forget("far.test")); // a change made here is seen here at once
        Assert.Null(running.ServingDomain("far.test"));
        Assert.Null(running.ServingAddress("x@near.test"));
    }

    [Fact]
    public void Recording_a_peer_again_merges_what_is_known_and_keeps_the_first_learning()
    {
        _peers.Record(new PeerRecord { Id = "p.test", Role = CourierRole.Public, Domains = { "a.test" }, Endpoint = "127.0.0.1:1", IntroductionCertificate = new byte[] { 1 }, LearntFrom = PeerSource.Deferral }, Now);
        var again = _peers.Record(new PeerRecord { Id = "P.TEST", Role = CourierRole.Public, Domains = { "b.test" }, Addresses = { "x@c.test" }, LearntFrom = PeerSource.Introduction }, Now.AddHours(1));
        Assert.Equal(new[] { "a.test", "b.test" }, again.Domains);
        Assert.Equal(new[] { "x@c.test" }, again.Addresses);
        Assert.Equal("127.0.0.1:1", again.Endpoint);
        Assert.Equal(new byte[] { 1 }, again.IntroductionCertificate);
        Assert.Equal(PeerSource.Deferral, again.LearntFrom);
        Assert.Equal(Now, again.LearntUtc.ToUniversalTime());
        Assert.True(_peers.Forget("p.test"));
        Assert.IsType<CourierRoute.Invite>(Router(CourierRole.Public).Decide("y@a.test"));
    }

    [Fact]
    public async Task The_peer_verbs_list_show_and_forget_each_elements_table()
    {
        var data = TempDirectory.Create("peer-cli");
        var dir = new Gateway.Platform.DataDirectory(data);
        dir.EnsureCreated();
        using (var fg = new PeerTable(PeerTable.PathIn(dir, CourierElement.Foreground)))
            fg.Record(new PeerRecord { Id = "far.test", Role = CourierRole.Private, Domains = { "far.test" }, Endpoint = "127.0.0.1:2601", LearntFrom = PeerSource.Introduction }, Now);
        using (var bg = new PeerTable(PeerTable.PathIn(dir, CourierElement.Background)))
            bg.Record(new PeerRecord { Id = "far.test", Role = CourierRole.Private, Domains = { "far.test" }, Endpoint = "127.0.0.1:2602", LearntFrom = PeerSource.Deferral }, Now);

        var list = (await GatewayProcess.RunCliAsync(data, null, "peer", "list"));
        Assert.True(list.ExitCode == 0, list.All);
        Assert.Contains("foreground\tfar.test\tprivate\tfar.test\t127.0.0.1:2601\tIntroduction", list.StdOut);
        Assert.Contains("background\tfar.test\tprivate\tfar.test\t127.0.0.1:2602\tDeferral", list.StdOut);

        var show = (await GatewayProcess.RunCliAsync(data, null, "peer", "show", "far.test", "--element", "background"));
        Assert.True(show.ExitCode == 0, show.All);
        Assert.Contains("background peer far.test", show.StdOut);
        Assert.DoesNotContain("foreground", show.StdOut);

        var forget = (await GatewayProcess.RunCliAsync(data, null, "peer", "forget", "far.test", "--element", "foreground"));
        Assert.True(forget.ExitCode == 0, forget.All);
        var after = (await GatewayProcess.RunCliAsync(data, null, "peer", "list"));
        Assert.DoesNotContain("foreground\tfar.test", after.StdOut);
        Assert.Contains("background\tfar.test", after.StdOut);
        Assert.Equal(1, (await GatewayProcess.RunCliAsync(data, null, "peer", "forget", "nobody.test")).ExitCode);
        Assert.NotEqual(0, (await GatewayProcess.RunCliAsync(data, null, "peer", "list", "--element", "sideways")).ExitCode);
    }
}
