using Gateway.Tests.Support;

namespace Gateway.Tests.Lifecycle;

/// <summary>The executable's verbs, help and start-up errors, as an operator meets them.</summary>
public class CommandLineTests
{
    [Fact]
    public async Task Help_documents_every_verb()
    {
        var data = TempDirectory.Create("help");
        var root = await GatewayProcess.RunCliAsync(data, null, "--help");
        Assert.Equal(0, root.ExitCode);
        Assert.Contains("run", root.StdOut);
        Assert.Contains("user", root.StdOut);
        Assert.Contains("--config", root.StdOut);
        var user = await GatewayProcess.RunCliAsync(data, null, "user", "--help");
        foreach (var verb in new[] { "add", "list", "passwd", "remove" }) Assert.Contains(verb, user.StdOut);
        var add = await GatewayProcess.RunCliAsync(data, null, "user", "add", "--help");
        Assert.Contains("--password-stdin", add.StdOut);
    }

    [Fact]
    public async Task User_verbs_add_list_change_and_remove_users()
    {
        var data = TempDirectory.Create("users");
        var add = await GatewayProcess.RunCliAsync(data, "first-password\n", "user", "add", "carol@localhost", "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);
        var again = await GatewayProcess.RunCliAsync(data, "first-password\n", "user", "add", "carol@localhost", "--password-stdin");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists already", again.StdErr);
        var weak = await GatewayProcess.RunCliAsync(data, "short\n", "user", "add", "dave@localhost", "--password-stdin");
        Assert.Equal(1, weak.ExitCode);
        Assert.Contains("at least 8", weak.StdErr);
        var badAddress = await GatewayProcess.RunCliAsync(data, "long-enough\n", "user", "add", "not an address", "--password-stdin");
        Assert.Equal(1, badAddress.ExitCode);
        var list = await GatewayProcess.RunCliAsync(data, null, "user", "list");
        Assert.Contains("carol@localhost", list.StdOut);
        Assert.DoesNotContain("dave@localhost", list.StdOut);

        var db = new Gateway.Storage.LiteDbUserStore(Path.Combine(data, "users.db"));
        var before = db.Find("carol@localhost")!.PasswordHash;
        Assert.True(Gateway.Storage.PasswordHasher.Verify("first-password", before));
        db.Dispose();
        var passwd = await GatewayProcess.RunCliAsync(data, "second-password\n", "user", "passwd", "carol@localhost", "--password-stdin");
        Assert.True(passwd.ExitCode == 0, passwd.All);
        db = new Gateway.Storage.LiteDbUserStore(Path.Combine(data, "users.db"));
        Assert.True(Gateway.Storage.PasswordHasher.Verify("second-password", db.Find("carol@localhost")!.PasswordHash));
        db.Dispose();

        var remove = await GatewayProcess.RunCliAsync(data, null, "user", "remove", "carol@localhost");
        Assert.Equal(0, remove.ExitCode);
        Assert.DoesNotContain("carol@localhost", (await GatewayProcess.RunCliAsync(data, null, "user", "list")).StdOut);
        Assert.Equal(1, (await GatewayProcess.RunCliAsync(data, null, "user", "remove", "carol@localhost")).ExitCode);
    }

    [Fact]
    public async Task Bad_configuration_stops_start_up_with_one_line_naming_the_key()
    {
        var data = TempDirectory.Create("badcfg");
        var config = Path.Combine(data, "gateway.json");
        await File.WriteAllTextAsync(config, """{ "Gateway": { "Limits": { "MaxMessageSize": "big" }, "Hostname": "ok.example" } }""");
        var r = await GatewayProcess.RunCliAsync(data, null, "run", "--config", config);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("gateway: configuration error: Gateway:Limits:MaxMessageSize:", line);
        Assert.Contains("fix:", line);

        var missing = await GatewayProcess.RunCliAsync(data, null, "--config", Path.Combine(data, "nope.json"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.StdErr);
    }

    [Fact]
    public async Task First_start_without_configuration_creates_its_data_and_listens_on_the_default_ports()
    {
        var data = TempDirectory.Create("first");
        var defaults = new[] { 2525, 2587, 2465, 8443 };
        foreach (var port in defaults)
        {
            using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            try { probe.Start(); probe.Stop(); }
            catch (System.Net.Sockets.SocketException) { Assert.Fail($"port {port} is taken on this machine; the default-ports test needs it free"); }
        }
        var workDir = TempDirectory.Create("cwd");
        await using var gw = GatewayProcess.Start(data, null);
        foreach (var port in defaults) await gw.WaitForPortAsync(port);
        Assert.True(File.Exists(Path.Combine(data, "tls", "self-signed.pfx")));
        Assert.True(File.Exists(Path.Combine(data, "users.db")));
        Assert.True(Directory.Exists(Path.Combine(data, "queue", "messages")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "keys", "master.key")));
        await using var c = await SmtpWire.ConnectAsync(2465, implicitTls: true);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Json_logs_carry_the_session_id_as_a_field()
    {
        var data = TempDirectory.Create("jsonlog");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        await using var gw = GatewayProcess.Start(data, config, new Dictionary<string, string> { ["Logging__Console__FormatterName"] = "json" });
        await gw.WaitForPortAsync(ports[0]);
        await using (var c = await SmtpWire.ConnectAsync(ports[0]))
        {
            await c.HelloAsync();
            await c.CommandAsync("QUIT");
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!gw.Output.Contains("Session closed") && DateTime.UtcNow < deadline) await Task.Delay(100);
        var lines = gw.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var opened = lines.Select(l => System.Text.Json.JsonDocument.Parse(l)).First(d => d.RootElement.GetProperty("Message").GetString() == "Session opened");
        var scope = opened.RootElement.GetProperty("Scopes").EnumerateArray().First(s => s.TryGetProperty("SessionId", out _));
        Assert.Matches("^[0-9a-f]{12}$", scope.GetProperty("SessionId").GetString());
        Assert.Equal("delivery", scope.GetProperty("Listener").GetString());
    }

    [Fact]
    public async Task Message_verbs_open_the_background_store_themselves_when_no_gateway_runs()
    {
        var data = TempDirectory.Create("message-offline");
        var path = Gateway.Courier.BackgroundStore.PathIn(new Gateway.Platform.DataDirectory(data));
        using (var store = new Gateway.Courier.BackgroundStore(path))
            store.Write(() =>
            {
                store.Sent.Insert(new Gateway.Courier.SentRecord { Id = "offline1", Sender = "alice@localhost", Recipients = { "bob@localhost" }, CreatedUtc = DateTime.UtcNow });
                return 0;
            });

        var list = await GatewayProcess.RunCliAsync(data, null, "message", "list");
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.Contains("offline1", list.StdOut);
        Assert.Contains("1 message(s)", list.StdErr);
        var revoke = await GatewayProcess.RunCliAsync(data, null, "message", "revoke", "offline1");
        Assert.True(revoke.ExitCode == 0, revoke.StdErr);
        Assert.Contains("revoked offline1", revoke.StdOut);
        var unknown = await GatewayProcess.RunCliAsync(data, null, "message", "show", "nothing-here");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no sent message nothing-here", unknown.StdErr);

        using var reopened = Gateway.Courier.BackgroundStore.TryOpen(path);
        Assert.NotNull(reopened); // the verbs let go of the store
        Assert.True(reopened.Sent.FindById("offline1").Revoked);
    }
}
