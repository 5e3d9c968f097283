using Gateway.Tests.Support;

namespace Gateway.Tests.Lifecycle;

/// <summary>Two couriers' operators building the hierarchy with the admin verbs, checked by openssl.</summary>
public class CaCommandTests
{
    static async Task<ToolResult> Gw(string data, string hostname, params string[] args) => await GwWithInput(data, hostname, null, args);

    static async Task<ToolResult> GwWithInput(string data, string hostname, string? stdin, params string[] args)
    {
        var env = new Dictionary<string, string>
        {
            ["GATEWAY_DATA_DIR"] = data,
            ["Gateway__Hostname"] = hostname,
            ["Gateway__Domains__0"] = hostname,
        };
        return await ExternalTool.RunAsync("dotnet", new[] { GatewayProcess.GatewayDll }.Concat(args), stdin, 120, env);
    }

    [Fact]
    public async Task Root_and_private_courier_join_up_and_users_get_certificates_openssl_accepts()
    {
        var dir = TempDirectory.Create("ca-flow");
        string Root = Path.Combine(dir, "root"), Corp = Path.Combine(dir, "corp");
        string F(string name) => Path.Combine(dir, name);

        var init = await Gw(Root, "root.test", "ca", "init", "--root");
        Assert.True(init.ExitCode == 0, init.All);
        Assert.Contains("Root of a new network", init.StdOut);
        Assert.Equal(1, (await Gw(Root, "root.test", "ca", "init", "--root")).ExitCode); // never twice

        Assert.Equal(0, (await Gw(Corp, "corp.test", "ca", "request", "--out", F("corp.csr"))).ExitCode);
        Assert.Contains("request is pending", (await Gw(Corp, "corp.test", "ca", "show")).StdOut);
        var sign = await Gw(Root, "root.test", "ca", "sign", F("corp.csr"), "--role", "private", "--domain", "corp.test", "--out", F("chain.pem"));
        Assert.True(sign.ExitCode == 0, sign.All);
        var install = await Gw(Corp, "corp.test", "ca", "install", F("chain.pem"));
        Assert.True(install.ExitCode == 0, install.All);
        Assert.Contains("Private courier", install.StdOut);
        var show = (await Gw(Corp, "corp.test", "ca", "show")).StdOut;
        Assert.Contains("Role:     Private", show);
        Assert.Contains("corp.test foreground introduction", show);
        Assert.Contains("corp.test background introduction", show);
        Assert.Equal(0, (await Gw(Corp, "corp.test", "cert", "export", "introduction-foreground", "--out", F("fg.pem"))).ExitCode);

        // A chain that answers someone else's request is refused.
        var other = Path.Combine(dir, "other");
        await Gw(other, "other.test", "ca", "request", "--out", F("other.csr"));
        var wrong = await Gw(other, "other.test", "ca", "install", F("chain.pem"));
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("not for this courier's key", wrong.StdErr);

        var add = await GwWithInput(Corp, "corp.test", "a-long-password\n", "user", "add", "alice@corp.test", "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);
        Assert.Contains("issued an S/MIME certificate for alice@corp.test", add.StdOut);
        Assert.Equal(0, (await Gw(Corp, "corp.test", "cert", "export", "user:alice@corp.test", "--out", F("alice.pem"))).ExitCode);
        var pem = await File.ReadAllTextAsync(F("alice.pem"));
        Assert.DoesNotContain("PRIVATE KEY", pem);
        var certs = pem.Split("-----END CERTIFICATE-----", StringSplitOptions.RemoveEmptyEntries).Where(p => p.Contains("BEGIN")).Select(p => p.Trim() + "\n-----END CERTIFICATE-----\n").ToList();
        Assert.Equal(3, certs.Count);
        await File.WriteAllTextAsync(F("root.pem"), certs[2]);
        await File.WriteAllTextAsync(F("leaf.pem"), certs[0]);
        await File.WriteAllTextAsync(F("corp-ca.pem"), certs[1]);

        var verify = await ExternalTool.RunAsync("openssl", new[] { "verify", "-purpose", "smimesign", "-CAfile", F("root.pem"), "-untrusted", F("corp-ca.pem"), F("leaf.pem") });
        Assert.True(verify.ExitCode == 0, verify.All);
        var fgPem = await File.ReadAllTextAsync(F("fg.pem"));
        await File.WriteAllTextAsync(F("fg-leaf.pem"), fgPem[..(fgPem.IndexOf("-----END CERTIFICATE-----", StringComparison.Ordinal) + 26)]);
        var fgVerify = await ExternalTool.RunAsync("openssl", new[] { "verify", "-purpose", "smimesign", "-CAfile", F("root.pem"), "-untrusted", F("corp-ca.pem"), F("fg-leaf.pem") });
        Assert.True(fgVerify.ExitCode == 0, fgVerify.All);

        var serial = (await Gw(Corp, "corp.test", "cert", "list")).StdOut.Split('\n').Single(l => l.Contains("user:alice@corp.test")).Split('\t')[2];
        var revoke = await Gw(Corp, "corp.test", "cert", "revoke", serial, "--crl-out", F("corp.crl.pem"));
        Assert.True(revoke.ExitCode == 0, revoke.All);
        Assert.Contains("lists 1 certificate", revoke.StdOut);
        var revoked = await ExternalTool.RunAsync("openssl", new[] { "verify", "-crl_check", "-CRLfile", F("corp.crl.pem"), "-CAfile", F("root.pem"), "-untrusted", F("corp-ca.pem"), F("leaf.pem") });
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.All);
    }

    [Fact]
    public async Task A_private_courier_may_not_sign_couriers_below_it()
    {
        var dir = TempDirectory.Create("ca-private");
        string Root = Path.Combine(dir, "root"), Corp = Path.Combine(dir, "corp"), Sub = Path.Combine(dir, "sub");
        await Gw(Root, "root.test", "ca", "init", "--root");
        await Gw(Corp, "corp.test", "ca", "request", "--out", Path.Combine(dir, "corp.csr"));
        await Gw(Root, "root.test", "ca", "sign", Path.Combine(dir, "corp.csr"), "--role", "private", "--domain", "corp.test", "--out", Path.Combine(dir, "chain.pem"));
        await Gw(Corp, "corp.test", "ca", "install", Path.Combine(dir, "chain.pem"));
        await Gw(Sub, "sub.corp.test", "ca", "request", "--out", Path.Combine(dir, "sub.csr"));
        var refused = await Gw(Corp, "corp.test", "ca", "sign", Path.Combine(dir, "sub.csr"), "--role", "private", "--domain", "sub.corp.test", "--out", Path.Combine(dir, "x.pem"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("path length of 0", refused.StdErr);

        // Users' key type follows Gateway:Crypto:UserKeyAlgorithm.
        var env = new Dictionary<string, string> { ["GATEWAY_DATA_DIR"] = Corp, ["Gateway__Hostname"] = "corp.test", ["Gateway__Domains__0"] = "corp.test", ["Gateway__Crypto__UserKeyAlgorithm"] = "Rsa3072" };
        var add = await ExternalTool.RunAsync("dotnet", new[] { GatewayProcess.GatewayDll, "user", "add", "old-client@corp.test", "--password-stdin" }, "a-long-password\n", 120, env);
        Assert.True(add.ExitCode == 0, add.All);
        await Gw(Corp, "corp.test", "cert", "export", "user:old-client@corp.test", "--out", Path.Combine(dir, "rsa.pem"));
        var text = await ExternalTool.RunAsync("openssl", new[] { "x509", "-in", Path.Combine(dir, "rsa.pem"), "-noout", "-text" });
        Assert.Contains("Public-Key: (3072 bit)", text.StdOut);
        Assert.Contains("rsaEncryption", text.StdOut);
    }
}

[Collection(ProcessEnvironmentCollection.Name)]
public class MasterKeyStartupTests
{
    [Fact]
    public async Task Gateway_run_stops_with_a_clear_line_on_a_wrong_or_exposed_master_key()
    {
        var data = TempDirectory.Create("mk-start");
        var ports = Ports.Free(2);
        var config = GatewayProcess.WriteConfig(data, ports[0], ports[1]);
        var env = new Dictionary<string, string> { ["GATEWAY_DATA_DIR"] = data };
        var init = await ExternalTool.RunAsync("dotnet", new[] { GatewayProcess.GatewayDll, "ca", "init", "--root", "--config", config }, null, 60, env);
        Assert.True(init.ExitCode == 0, init.All);

        env["GATEWAY_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var wrong = await ExternalTool.RunAsync("dotnet", new[] { GatewayProcess.GatewayDll, "run", "--config", config }, null, 60, env);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("does not open", wrong.StdErr);
        Assert.Contains("fix:", wrong.StdErr);

        env.Remove("GATEWAY_MASTER_KEY");
        var keyFile = Path.Combine(data, "keys", "master.key");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var exposed = await ExternalTool.RunAsync("dotnet", new[] { GatewayProcess.GatewayDll, "run", "--config", config }, null, 60, env);
        Assert.Equal(2, exposed.ExitCode);
        Assert.Contains("chmod 600", exposed.StdErr);
    }
}
