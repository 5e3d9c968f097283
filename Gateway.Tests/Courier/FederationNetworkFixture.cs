using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>
/// A courier network on loopback, every courier its own gateway process with its own data directory and ports, built
/// with the real CLI exactly as operators would: the Root (which invites), Public P under it, Private Q under P,
/// Private R under the Root; and two that must be refused: X, the Root of another network that recorded R by hand,
/// and V, a Private courier under the Root whose certificate the Root revoked; G, a Gateway courier under the Root, and
/// H, a Private courier under G, which introduces itself to no one but G. R's Background has a delivery listener of
/// its own (Courier:BackgroundEndpoint), so the two parts of a message to R arrive on different paths. Routes between the couriers' domains
/// are static (no DNS), and mail for newcomer.test goes to a test sink (to catch Invitations).
/// </summary>
public sealed partial class FederationNetworkFixture : IAsyncLifetime
{
    public const string Password = "federation-pass-1";
    static readonly int[] AllPorts = Ports.Free(33);
    public CourierNode Root { get; } = new("root.test", AllPorts[0..4]);
    public CourierNode P { get; } = new("p.test", AllPorts[4..8]);
    public CourierNode Q { get; } = new("q.test", AllPorts[8..12]);
    public CourierNode R { get; } = new("r.test", AllPorts[12..16]);
    public CourierNode X { get; } = new("x.test", AllPorts[16..20]);
    public CourierNode V { get; } = new("v.test", AllPorts[20..24]);
    public CourierNode G { get; } = new("g.test", AllPorts[24..28]);
    public CourierNode H { get; } = new("h.test", AllPorts[28..32]);
    public ScriptedSmtpServer Outside { get; } = new();
    public IEnumerable<CourierNode> All => new[] { Root, P, Q, R, X, V, G, H };
    public TimeSpan SetupTime { get; private set; }
    /// <summary>The Root invites, and gives up parts held for an unknown address after about 17 s.</summary>
    const string RootCourierSettings = ", \"Invite\": true, \"PendingDays\": 0.0002";

    public async Task InitializeAsync()
    {
        var started = DateTime.UtcNow;
        var routes = All.ToDictionary(n => n.Name, n => n.DeliveryPort);
        routes["newcomer.test"] = Outside.Port;
        foreach (var node in All) node.Configure(routes, node == Root ? RootCourierSettings : "", node == R ? AllPorts[32] : null);

        await Root.CliAsync(null, "ca", "init", "--root");
        await X.CliAsync(null, "ca", "init", "--root");
        await JoinAsync(P, Root, "public");
        await JoinAsync(Q, P, "private", "q.test");
        await JoinAsync(R, Root, "private", "r.test");
        await JoinAsync(V, Root, "private", "v.test");
        await JoinAsync(G, Root, "gateway");
        await JoinAsync(H, G, "private", "h.test");
        // The Root revokes V's courier certificate before anything is sent.
        var serial = SerialLine().Match((await V.CliAsync(null, "ca", "show")).StdOut).Groups[1].Value;
        await Root.CliAsync(null, "cert", "revoke", serial);
        // X, the Root of another network, records R by hand from R's exported introduction.
        var rIntroduction = Path.Combine(R.DataDirectory, "..", "r-introduction.pem");
        await R.CliAsync(null, "peer", "export", "--out", rIntroduction);
        await X.CliAsync(null, "peer", "add", rIntroduction, "--endpoint", R.Endpoint, "--background-endpoint", $"127.0.0.1:{R.BackgroundPort}");

        await Task.WhenAll(
            Root.AddUserAsync("ruth@root.test", Password),
            P.AddUserAsync("paul@p.test", Password),
            Q.AddUserAsync("alice@q.test", Password).ContinueWith(_ => Q.AddUserAsync("carol@q.test", Password)).Unwrap(),
            R.AddUserAsync("bob@r.test", Password).ContinueWith(_ => R.AddUserAsync("rita@r.test", Password)).Unwrap(),
            X.AddUserAsync("xavier@x.test", Password),
            V.AddUserAsync("vera@v.test", Password),
            H.AddUserAsync("hana@h.test", Password));

        foreach (var node in All) node.Start();
        await Task.WhenAll(All.Select(n => n.WaitUntilListeningAsync()));
        // Couriers below introduce themselves to their superior when they start.
        foreach (var element in new[] { "Foreground", "Background" })
        {
            await Root.WaitForLogAsync(60, $"{element} recorded peer p.test");
            await Root.WaitForLogAsync(60, $"{element} recorded peer r.test");
            await P.WaitForLogAsync(60, $"{element} recorded peer q.test");
            await Root.WaitForLogAsync(60, $"{element} recorded peer g.test");
            await G.WaitForLogAsync(60, $"{element} recorded peer h.test");
        }
        SetupTime = DateTime.UtcNow - started;
    }

    static async Task JoinAsync(CourierNode node, CourierNode superior, string role, string? domain = null)
    {
        var request = Path.Combine(node.DataDirectory, "..", node.Name + ".req");
        var chain = Path.Combine(node.DataDirectory, "..", node.Name + ".chain");
        await node.CliAsync(null, "ca", "request", "--out", request);
        var sign = new List<string> { "ca", "sign", request, "--role", role, "--out", chain };
        if (domain is not null) sign.AddRange(new[] { "--domain", domain });
        await superior.CliAsync(null, sign.ToArray());
        await node.CliAsync(null, "ca", "install", chain, "--superior", superior.Endpoint);
    }

    [GeneratedRegex(@"Serial:\s+([0-9a-fA-F]+)")]
    private static partial Regex SerialLine();

    public async Task DisposeAsync()
    {
        foreach (var node in All) await node.DisposeAsync();
        await Outside.DisposeAsync();
    }
}
