using Gateway.Tests.Support;

namespace Gateway.Tests.Platform;

/// <summary>
/// Nothing under the data directory is readable by another local account: not the password hashes in users.db, not the
/// sealed keys, not the spool or the mailboxes; whatever modes the directory had before the gateway first ran.
/// </summary>
public class DataDirectoryModeTests
{
    const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                      | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    static string WriteConfig(string directory, int deliveryPort)
    {
        var path = Path.Combine(directory, "gateway.json");
        File.WriteAllText(path, $$"""
            {
              "Gateway": {
                "Hostname": "modes.gateway.test",
                "Domains": [ "gateway.test" ],
                "Listeners": [ { "Name": "delivery", "Endpoint": "127.0.0.1:{{deliveryPort}}", "Role": "Delivery", "Tls": "StartTls" } ],
                "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 1, "DnsServers": [ "127.0.0.1:9" ] },
                "Web": { "Endpoint": "" }
              }
            }
            """);
        return path;
    }

    static List<string> OpenEntries(string root) =>
        new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Prepend(new DirectoryInfo(root))
            .Where(e => e.LinkTarget is null)
            .Where(e => (e.UnixFileMode & GroupOrOther) != 0 || (e is DirectoryInfo && e.UnixFileMode != (UnixFileMode)0b111_000_000))
            .Select(e => $"{Convert.ToString((int)e.UnixFileMode, 8)} {e.FullName}")
            .ToList();

    [Fact]
    public async Task A_pre_created_0755_directory_and_what_was_left_in_it_become_owner_only()
    {
        var parent = TempDirectory.Create("modes");
        var data = Path.Combine(parent, "data");
        // What the Dockerfile's `mkdir -p` (and a named volume) made, and what an older version left behind.
        Directory.CreateDirectory(data, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(data, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(Path.Combine(data, "queue"), (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Path.Combine(data, "queue"), (UnixFileMode)0b111_101_101);
        var leftOver = Path.Combine(data, "queue", "left-over.json");
        await File.WriteAllTextAsync(leftOver, "{}");
        File.SetUnixFileMode(leftOver, (UnixFileMode)0b110_100_100);
        var port = Ports.Free(1)[0];
        var config = WriteConfig(parent, port);

        // The admin verb alone already makes the root and its stores private.
        var add = await GatewayProcess.RunCliAsync(data, "mode-test-secret\n", "user", "add", "user@gateway.test", "--password-stdin");
        Assert.True(add.ExitCode == 0, add.All);
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(data));
        Assert.Equal((UnixFileMode)0b110_000_000, File.GetUnixFileMode(Path.Combine(data, "users.db")));

        await using (var gw = GatewayProcess.Start(data, config))
        {
            await gw.WaitForPortAsync(port);
            await using (var c = await SmtpWire.ConnectAsync(port))
            {
                await c.HelloAsync();
                await c.CommandAsync("MAIL FROM:<sender@example.org>");
                await c.CommandAsync("RCPT TO:<user@gateway.test>");
                await c.CommandAsync("DATA");
                var reply = await c.CommandAsync("Subject: modes\r\n\r\nbody\r\n.");
                Assert.Equal(250, reply.Code);
            }
            // Delivered into the mailbox: blobs, the mail database and the queue's files have all been written.
            await gw.WaitForLogAsync("gateway", 30, "finished: 1 delivered");
            Assert.Contains("now owner-only", gw.Output);
        }

        Assert.True(Directory.EnumerateFiles(Path.Combine(data, "mailboxes"), "*", SearchOption.AllDirectories).Any(), "nothing was stored in the mailboxes");
        var open = OpenEntries(data);
        Assert.True(open.Count == 0, "reachable by other users:\n" + string.Join("\n", open));

        // As another account (needs root to switch): the hashes cannot be read.
        if (Environment.UserName == "root" && File.Exists("/usr/bin/setpriv"))
        {
            // The parent is the test's temp directory, which others may traverse: only the data directory's own mode protects.
            File.SetUnixFileMode(parent, (UnixFileMode)0b111_101_101);
            var read = await ExternalTool.RunAsync("/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "cat", Path.Combine(data, "users.db")], null, 10);
            Assert.NotEqual(0, read.ExitCode);
            Assert.Contains("Permission denied", read.StdErr);
        }
    }

    [Fact]
    public async Task A_file_the_gateway_cannot_make_private_stops_the_start_naming_it()
    {
        if (Environment.UserName != "root" || !File.Exists("/usr/bin/setpriv")) return; // needs another account to own the file
        var parent = TempDirectory.Create("modes-refuse");
        File.SetUnixFileMode(parent, (UnixFileMode)0b111_101_101);
        var data = Path.Combine(parent, "data");
        Directory.CreateDirectory(data);
        var foreign = Path.Combine(data, "users.db");
        await File.WriteAllTextAsync(foreign, "");
        File.SetUnixFileMode(foreign, (UnixFileMode)0b110_110_110);
        // The data directory belongs to nobody (the gateway's account here); the file in it still to root.
        await ExternalTool.RunAsync("chown", ["65534:65534", data], null, 10);
        var run = await ExternalTool.RunAsync("/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "dotnet", GatewayProcess.GatewayDll, "user", "list"], null, 60,
            new Dictionary<string, string> { ["GATEWAY_DATA_DIR"] = data, ["DOTNET_CLI_HOME"] = parent, ["HOME"] = parent });
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(foreign, run.StdErr);
        Assert.Contains("fix: chown", run.StdErr);
        Assert.DoesNotContain("   at ", run.StdErr); // one line, no stack trace
    }
}
