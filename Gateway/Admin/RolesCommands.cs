using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Storage;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway roles export background|foreground --out DIR</c>: splits a courier over hosts. Run on the courier's data
/// directory while the gateway is stopped; DIR becomes the data directory of that element's own host. The Background
/// moves out first; moving the Foreground out as well leaves the Agent alone here (three hosts).
/// </summary>
public static class RolesCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var roles = new Command("roles", "Split this courier's roles over hosts (Gateway:Roles).");
        var role = new Argument<string>("role") { Description = "The role to move out: background (first), then foreground." };
        role.AcceptOnlyFromAmong("background", "foreground");
        var outOption = new Option<string>("--out") { Description = "A new, empty data directory for that element's host.", Required = true };
        var export = new Command("export",
            "Move an element to a data directory of its own: its key, peer table, queue and held parts (the Background's " +
            "ARM store, the Foreground's Invitations), and the certificates and user list it needs (no passwords, no other " +
            "key). The courier keeps only the element's certificate. Move the Background first; moving the Foreground " +
            "too leaves the Agent alone on this host. Run with the gateway stopped; then set Roles on the hosts (see README).") { role, outOption };
        export.SetAction(parse => CourierStores.Run(loadOptions(parse), s => Export(s, Path.GetFullPath(parse.GetValue(outOption)!),
            parse.GetValue(role) == "foreground" ? CourierElement.Foreground : CourierElement.Background)));
        roles.Add(export);
        return roles;
    }

    static int Export(CourierStores s, string target, CourierElement element)
    {
        var other = element == CourierElement.Foreground ? CourierElement.Background : CourierElement.Foreground;
        var (id, otherId) = (CourierAuthority.IntroductionKeyId(element), CourierAuthority.IntroductionKeyId(other));
        if (!s.Keys.HasPrivateKey(id) || s.Keys.GetCertificate(id) is not { } certificate)
        {
            Console.Error.WriteLine($"gateway: this data directory holds no {element} key (not a courier yet, or the {element} was moved out before).");
            return 1;
        }
        if (element == CourierElement.Foreground && s.Keys.HasPrivateKey(otherId))
        {
            Console.Error.WriteLine("gateway: the Background is still here; move it out first ('gateway roles export background --out DIR'), then the Foreground.");
            return 1;
        }
        if (System.IO.Directory.Exists(target) && System.IO.Directory.EnumerateFileSystemEntries(target).Any())
        {
            Console.Error.WriteLine($"gateway: {target} is not empty; give a new directory for the {element}'s host.");
            return 1;
        }
        var source = new DataDirectory(s.Options.DataDirectory);
        if (Gateway.Queue.QueueControl.IsGatewayRunning(source))
        {
            Console.Error.WriteLine("gateway: a gateway is running on this data directory; stop it first (the stores it holds cannot be moved under it).");
            return 1;
        }
        var data = new DataDirectory(target);
        data.EnsureCreated(new GatewayOptions { Roles = { element == CourierElement.Foreground ? GatewayOptions.ForegroundRole : GatewayOptions.BackgroundRole } });
        var stored = s.Keys.List().ToDictionary(k => k.Id);

        Console.WriteLine($"... the {element}'s key, and the certificates of the courier CA and the {other}");
        using (var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
        {
            keys.Put(id, stored[id].Algorithm, s.Keys.GetPrivateKey(id), certificate);
            if (s.Keys.GetCertificate(otherId) is { } otherCertificate) keys.PutCertificateOnly(otherId, stored[otherId].Algorithm, otherCertificate);
            if (s.Authority.Certificate is { } ca) keys.PutCertificateOnly(CourierAuthority.CaKeyId, stored[CourierAuthority.CaKeyId].Algorithm, ca);
        }

        using var users = new LiteDbUserStore(source.UserDatabasePath);
        var list = users.List();
        Console.WriteLine($"... the certificate directory (anchors, courier CAs, peers' certificates, CRLs) and the certificates of {list.Count} user(s)");
        using (var directory = new CertificateDirectory(data.CertificateDirectoryPath))
        {
            foreach (var entry in s.Directory.Entries())
                directory.Add(new Org.BouncyCastle.X509.X509Certificate(entry.Der), entry.Source, entry.IsAnchor, entry.Approved);
            foreach (var crl in s.Directory.Crls()) directory.AddCrl(crl);
            // The element re-wraps parts to users (the Foreground content, the Background ARMs): their certificates.
            foreach (var user in list)
                if (s.Keys.GetCertificate(CourierSecureMimeContext.UserKeyId(user.Address.ToLowerInvariant())) is { } userCertificate)
                    directory.Add(userCertificate, "account");
        }

        Console.WriteLine($"... the list of {list.Count} user(s), without passwords");
        using var copied = new LiteDbUserStore(data.UserDatabasePath);
        foreach (var user in list)
            copied.Add(user.Address, PasswordHasher.HashOfUnknownPassword());

        var (from, to) = element == CourierElement.Foreground
            ? (source.ForegroundDirectory, data.ForegroundDirectory)
            : (source.BackgroundDirectory, data.BackgroundDirectory);
        if (System.IO.Directory.Exists(from))
        {
            Console.WriteLine(element == CourierElement.Foreground
                ? "... the Foreground's peer table, queue, held parts and Invitations (moved)"
                : "... the Background's peer table, queue, held ARMs and ARM store (moved)");
            CopyTree(from, to);
            System.IO.Directory.Delete(from, recursive: true);
        }
        if (element == CourierElement.Foreground)
        {
            // The Distribute Accounts not yet sent to the Background's host go with the Foreground, which sends them from now on.
            var link = Path.Combine(source.AgentDirectory, "background-link");
            foreach (var file in System.IO.Directory.Exists(link) ? System.IO.Directory.GetFiles(link, DistributeAccount.Prefix + "*") : Array.Empty<string>())
            {
                System.IO.Directory.CreateDirectory(Path.Combine(data.ForegroundDirectory, "background-link"));
                File.Move(file, Path.Combine(data.ForegroundDirectory, "background-link", Path.GetFileName(file)));
            }
        }

        // Last: this host keeps the element's certificate (the Agent seals parts to it), not its key.
        s.Keys.PutCertificateOnly(id, stored[id].Algorithm, certificate);
        Console.WriteLine(element == CourierElement.Foreground
            ? $"The Foreground now lives in {target}. On this host set Gateway:Roles to [\"agent\"], Courier:Endpoint (the Foreground's " +
              "delivery listener) and Courier:ForegroundUrl; on the Foreground's host run with GATEWAY_DATA_DIR=" + target +
              " and Gateway:Roles [\"foreground\"], Courier:AgentEndpoint and Courier:AgentUrl (this host), Courier:BackgroundEndpoint, a route for each of your domains to this host, and no submission or IMAP listener."
            : $"The Background now lives in {target}. On this host set Gateway:Roles to [\"agent\", \"foreground\"], " +
              "Courier:BackgroundEndpoint and Courier:BackgroundUrl; on the Background's host run with GATEWAY_DATA_DIR=" + target +
              " and Gateway:Roles [\"background\"], a route for each of your domains to this host, and no submission or IMAP listener.");
        return 0;
    }

    static void CopyTree(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var directory in System.IO.Directory.GetDirectories(from)) CopyTree(directory, Path.Combine(to, Path.GetFileName(directory)));
    }
}
