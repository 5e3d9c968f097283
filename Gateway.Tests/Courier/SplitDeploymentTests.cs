using System.Text.RegularExpressions;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>
/// One courier split over two processes with their own data directories, as over two hosts: the Agent and the
/// Foreground in one (submission, IMAP, mailboxes, the CA), the Background in the other (made with
/// 'gateway roles export background'). The ARM travels from the Agent to the Background over SMTP, the key comes back
/// to the reading Agent over HTTPS; neither process holds the other's key or part.
/// </summary>
public sealed class SplitDeploymentTests : IAsyncLifetime
{
    const string Password = "split-deploy-pass";
    static readonly int[] AllPorts = Ports.Free(10);
    readonly CourierNode _main = new("s.test", AllPorts[0..4]);
    /// <summary>Another courier, T (Public, under S), whose elements exchange parts with S's two hosts.</summary>
    readonly CourierNode _peer = new("t.test", AllPorts[6..10]);
    readonly string _backgroundData = TempDirectory.Create("courier-s-background");
    int BackgroundDeliveryPort => AllPorts[4];
    int BackgroundWebPort => AllPorts[5];
    string BackgroundConfig => Path.Combine(_backgroundData, "..", Path.GetFileName(_backgroundData) + ".json");
    GatewayProcess? _background;

    public async Task InitializeAsync()
    {
        // Made as one courier first, as an operator would, then split.
        _main.Configure(new Dictionary<string, int> { ["t.test"] = _peer.DeliveryPort },
            courierExtra: $", \"BackgroundEndpoint\": \"127.0.0.1:{BackgroundDeliveryPort}\", \"BackgroundUrl\": \"https://127.0.0.1:{BackgroundWebPort}\"",
            gatewayExtra: "\n    \"Roles\": [ \"agent\", \"foreground\" ],");
        await _main.CliAsync(null, "ca", "init", "--root");
        await _main.AddUserAsync("alice@s.test", Password);
        await _main.AddUserAsync("bob@s.test", Password);
        // T joins under S; its Background is told where S's Background listens.
        _peer.Configure(new Dictionary<string, int> { ["s.test"] = _main.DeliveryPort });
        var request = Path.Combine(_peer.DataDirectory, "..", "t.req");
        var chain = Path.Combine(_peer.DataDirectory, "..", "t.chain");
        await _peer.CliAsync(null, "ca", "request", "--out", request);
        await _main.CliAsync(null, "ca", "sign", request, "--role", "public", "--out", chain);
        await _peer.CliAsync(null, "ca", "install", chain, "--superior", _main.Endpoint, "--superior-background", $"127.0.0.1:{BackgroundDeliveryPort}");
        await _peer.AddUserAsync("tina@t.test", Password);
        Directory.Delete(_backgroundData);
        var export = await _main.CliAsync(null, "roles", "export", "background", "--out", _backgroundData);
        Assert.Contains("The Background now lives in", export.StdOut);

        File.WriteAllText(BackgroundConfig, $$"""
            {
              "Gateway": {
                "Hostname": "s.test",
                "Domains": [ "s.test" ],
                "Roles": [ "background" ],
                "Listeners": [ { "Name": "delivery", "Endpoint": "127.0.0.1:{{BackgroundDeliveryPort}}", "Role": "Delivery", "Tls": "StartTls" } ],
                "Web": { "Endpoint": "127.0.0.1:{{BackgroundWebPort}}", "PublicUrl": "https://127.0.0.1:{{BackgroundWebPort}}" },
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 2, "Tls": "Opportunistic", "DnsServers": [ "127.0.0.1:9" ] },
                "Courier": { "CreateRootOnFirstStart": false, "PendingCheckSeconds": 1, "PeerCrlMaxAgeSeconds": 2, "PeerFirstRetrySeconds": 1,
                             "BackgroundEndpoint": "127.0.0.1:{{BackgroundDeliveryPort}}" },
                "Routes": [ { "Domain": "s.test", "Host": "127.0.0.1", "Port": {{_main.DeliveryPort}} } ]
              }
            }
            """);
        _background = GatewayProcess.Start(_backgroundData, BackgroundConfig, "run");
        await _background.WaitForPortAsync(BackgroundDeliveryPort, 60);
        await _background.WaitForPortAsync(BackgroundWebPort, 60);
        _main.Start();
        await _main.WaitUntilListeningAsync();
        _peer.Start();
        await _peer.WaitUntilListeningAsync();
    }

    public async Task DisposeAsync()
    {
        await _peer.DisposeAsync();
        await _main.DisposeAsync();
        if (_background is not null) await _background.DisposeAsync();
    }

    Task<string> BackgroundLogAsync(int timeoutSeconds, params string[] parts) => _background!.WaitForLogAsync("s.test Background", timeoutSeconds, parts);

    static string Message(string token, string headers = "") =>
        $"From: <alice@s.test>\r\nTo: <bob@s.test>\r\nSubject: split {token}\r\nMessage-ID: <{token}@test>\r\n{headers}\r\nBody {token}\r\n";

    [Fact]
    public async Task Mail_within_the_split_courier_is_read_with_the_key_from_the_background_host_and_the_restrictions_hold()
    {
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _main.SubmitAsync("alice@s.test", Password, "bob@s.test", Message(token, "X-Gateway-Max-Opens: 1\r\n"))).Code);
        // The ARM went over SMTP to the Background's own host, which keeps it for bob (it learnt the accounts from the Foreground).
        await BackgroundLogAsync(60, "Background stored ARM", "for 1 local recipient(s)");
        var (message, _) = await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + token), 60);
        Assert.Equal("split " + token, message.Subject);
        await BackgroundLogAsync(30, "Background released the key", "bob@s.test");
        // One open allowed: a second mail program session gets the notice, decided on the Background's host.
        var (again, _) = await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("can no longer be opened"), 30);
        Assert.Contains("cannot be opened", again.Subject);
        await BackgroundLogAsync(30, "Background refused the key", "bob@s.test", "may be opened 1 time");
    }

    [Fact]
    public async Task A_user_key_replacement_goes_through_the_background_host_and_the_arms_follow_the_new_certificate()
    {
        var before = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _main.SubmitAsync("alice@s.test", Password, "bob@s.test", Message(before))).Code);
        await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + before), 60);

        // The Notice to Rekey goes to the Background's host and comes back as mail to bob's Agent, here.
        var rekey = await _main.CliAsync(null, "rekey", "user", "bob@s.test", "--wait");
        var serial = Regex.Match(rekey.StdOut, "replaced by ([0-9a-f]+)").Groups[1].Value;
        Assert.NotEmpty(serial);
        await BackgroundLogAsync(30, "Background carried the Notice to Rekey for bob@s.test to the Agent");
        await BackgroundLogAsync(30, "Background carried the Exchange Keys for bob@s.test to the Agent");
        await BackgroundLogAsync(30, "Background Key Replacement: ARMs for bob@s.test are re-wrapped to certificate " + serial);

        // The ARM of a message sent now is re-wrapped on the Background's host to the new certificate; both messages open.
        var after = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _main.SubmitAsync("alice@s.test", Password, "bob@s.test", Message(after))).Code);
        await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + after), 60);
        await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + before), 10);
        var status = await _main.CliAsync(null, "rekey", "status");
        Assert.Contains("bob@s.test\tCompleted\toperator", status.StdOut);
    }

    [Fact]
    public async Task Another_courier_exchanges_mail_with_the_split_courier_each_part_with_the_host_of_its_element()
    {
        // T introduced itself to S's Foreground (the main host) and to S's Background (its own host).
        await _main.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await BackgroundLogAsync(60, "Background recorded peer t.test");

        var token = Guid.NewGuid().ToString("N");
        var inbound = $"From: <tina@t.test>\r\nTo: <bob@s.test>\r\nSubject: from t {token}\r\n\r\nBody {token}\r\n";
        Assert.Equal(250, (await _peer.SubmitAsync("tina@t.test", Password, "bob@s.test", inbound)).Code);
        // T, a Public courier, invites bob (it does not know who serves s.test); S answers with both elements, its
        // Background from its own host (the main host passes the Invitation on), and T hands over the held parts.
        await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + token), 60);
        await _main.WaitForLogAsync(30, "Foreground stored content part", "(from t.test, hop 1)");
        await BackgroundLogAsync(30, "Background stored", "(from t.test, hop 1)");

        var answer = Guid.NewGuid().ToString("N");
        var outbound = $"From: <bob@s.test>\r\nTo: <tina@t.test>\r\nSubject: from s {answer}\r\n\r\nBody {answer}\r\n";
        Assert.Equal(250, (await _main.SubmitAsync("bob@s.test", Password, "tina@t.test", outbound)).Code);
        await _peer.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + answer), 60);
        await _main.WaitForLogAsync(30, "Foreground relays ContentPart", "to t.test");
        await BackgroundLogAsync(30, "Background relays Arm", "to t.test");
    }

    [Fact]
    public async Task Each_process_holds_only_its_own_keys_and_parts()
    {
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _main.SubmitAsync("alice@s.test", Password, "bob@s.test", Message(token))).Code);
        await _main.WaitForMessageAsync("bob@s.test", Password, t => t.Contains("Body " + token), 60);

        var main = new DataDirectory(_main.DataDirectory);
        var background = new DataDirectory(_backgroundData);
        Assert.False(Directory.Exists(main.BackgroundDirectory), "the Agent's host still has a Background directory");
        Assert.False(Directory.Exists(background.ForegroundDirectory), "the Background's host has a Foreground directory");
        Assert.Empty(Directory.Exists(background.BlobDirectory) ? Directory.GetFiles(background.BlobDirectory, "*", SearchOption.AllDirectories) : Array.Empty<string>());

        // Opened with both hosts' keys: the main host holds content and no ARM; the Background's host ARMs and no content.
        using (var audit = new HeldPartAudit(_main.DataDirectory, new[] { _main.DataDirectory, _backgroundData }))
        {
            var held = audit.Foreground();
            Assert.Contains(held, i => i.Kinds.Contains(HeldKind.Content));
            Assert.DoesNotContain(held, i => i.Kinds.Contains(HeldKind.Arm));
        }
        using (var audit = new HeldPartAudit(_backgroundData, new[] { _main.DataDirectory, _backgroundData }))
        {
            var held = audit.Background();
            Assert.Contains(held, i => i.Kinds.Contains(HeldKind.Arm));
            Assert.DoesNotContain(held, i => i.Kinds.Contains(HeldKind.Content));
        }

        // Keys: the main host keeps the Background's certificate only; the Background's host has no CA, Foreground or user key.
        var (bgId, fgId) = (CourierAuthority.IntroductionKeyId(CourierElement.Background), CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        using (var keys = HeldPartAudit.OpenKeyStoreCopy(_main.DataDirectory, TempDirectory.Create("split-keys-main")))
        {
            Assert.False(keys.HasPrivateKey(bgId));
            Assert.NotNull(keys.GetCertificate(bgId));
            Assert.True(keys.HasPrivateKey(fgId) && keys.HasPrivateKey(CourierAuthority.CaKeyId));
        }
        using (var keys = HeldPartAudit.OpenKeyStoreCopy(_backgroundData, TempDirectory.Create("split-keys-bg")))
        {
            Assert.True(keys.HasPrivateKey(bgId));
            Assert.Equal(new[] { bgId }, keys.List().Where(k => keys.HasPrivateKey(k.Id)).Select(k => k.Id).ToArray());
        }
    }
}
