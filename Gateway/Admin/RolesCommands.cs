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
        export.SetAction(parse => CourierStores.Run(loadOptions(parse), s => parse.GetValue(role) == "foreground"
            ? ExportForeground(s, Path.GetFullPath(parse.GetValue(outOption)!))
            : Export(s, Path.GetFullPath(parse.GetValue(outOption)!))));
        roles.Add(export);
        return roles;
    }

    static int Export(CourierStores s, string target)
    {
        var bgId = CourierAuthority.IntroductionKeyId(CourierElement.Background);
        var fgId = CourierAuthority.IntroductionKeyId(CourierElement.Foreground);
        if (!s.Keys.HasPrivateKey(bgId) || s.Keys.GetCertificate(bgId) is not { } bgCertificate)
        {
            Console.Error.WriteLine("gateway: this data directory holds no Background key (not a courier yet, or the Background was moved out before).");
            return 1;
        }
        if (System.IO.Directory.Exists(target) && System.IO.Directory.EnumerateFileSystemEntries(target).Any())
        {
            Console.Error.WriteLine($"gateway: {target} is not empty; give a new directory for the Background's host.");
            return 1;
        }
        var source = new DataDirectory(s.Options.DataDirectory);
        var data = new DataDirectory(target);
        data.EnsureCreated(new GatewayOptions { Roles = { GatewayOptions.BackgroundRole } });
        var stored = s.Keys.List().ToDictionary(k => k.Id);

        Console.WriteLine("... the Background's key, and the certificates of the courier CA and the Foreground");
        using (var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
        {
            keys.Put(bgId, stored[bgId].Algorithm, s.Keys.GetPrivateKey(bgId), bgCertificate);
            if (s.Keys.GetCertificate(fgId) is { } fg) keys.PutCertificateOnly(fgId, stored[fgId].Algorithm, fg);
            if (s.Authority.Certificate is { } ca) keys.PutCertificateOnly(CourierAuthority.CaKeyId, stored[CourierAuthority.CaKeyId].Algorithm, ca);
        }

        Console.WriteLine("... the certificate directory (anchors, courier CAs, users' and peers' certificates, CRLs)");
        using (var directory = new CertificateDirectory(data.CertificateDirectoryPath))
        {
            foreach (var entry in s.Directory.Entries())
                directory.Add(new Org.BouncyCastle.X509.X509Certificate(entry.Der), entry.Source, entry.IsAnchor, entry.Approved);
            foreach (var crl in s.Directory.Crls()) directory.AddCrl(crl);
        }

        using var users = new LiteDbUserStore(source.UserDatabasePath);
        var list = users.List();
        Console.WriteLine($"... the list of {list.Count} user(s), without passwords");
        using var copied = new LiteDbUserStore(data.UserDatabasePath);
        foreach (var user in list)
            copied.Add(user.Address, PasswordHasher.HashOfUnknownPassword());

        if (System.IO.Directory.Exists(source.BackgroundDirectory))
        {
            Console.WriteLine("... the Background's peer table, queue, held ARMs and ARM store (moved)");
            CopyTree(source.BackgroundDirectory, data.BackgroundDirectory);
            System.IO.Directory.Delete(source.BackgroundDirectory, recursive: true);
        }

        // Last: the courier keeps the Background's certificate (the Agent encrypts ARMs to it), not its key.
        s.Keys.PutCertificateOnly(bgId, stored[bgId].Algorithm, bgCertificate);
        Console.WriteLine($"The Background now lives in {target}. On this host set Gateway:Roles to [\"agent\", \"foreground\"], " +
                          "Courier:BackgroundEndpoint and Courier:BackgroundUrl; on the Background's host run with GATEWAY_DATA_DIR=" + target +
                          " and Gateway:Roles [\"background\"], a route for each of your domains to this host, and no submission or IMAP listener.");
        return 0;
    }

    /// <summary>The Foreground to its own host (the Background left before): its key and directory, the certificates
    /// (users' too: it re-wraps content to them), the user list without passwords.</summary>
    static int ExportForeground(CourierStores s, string target)
    {
        var bgId = CourierAuthority.IntroductionKeyId(CourierElement.Background);
        var fgId = CourierAuthority.IntroductionKeyId(CourierElement.Foreground);
        if (!s.Keys.HasPrivateKey(fgId) || s.Keys.GetCertificate(fgId) is not { } fgCertificate)
        {
            Console.Error.WriteLine("gateway: this data directory holds no Foreground key (not a courier yet, or the Foreground was moved out before).");
            return 1;
        }
        if (s.Keys.HasPrivateKey(bgId))
        {
            Console.Error.WriteLine("gateway: the Background is still here; move it out first ('gateway roles export background --out DIR'), then the Foreground.");
            return 1;
        }
        if (System.IO.Directory.Exists(target) && System.IO.Directory.EnumerateFileSystemEntries(target).Any())
        {
            Console.Error.WriteLine($"gateway: {target} is not empty; give a new directory for the Foreground's host.");
            return 1;
        }
        var source = new DataDirectory(s.Options.DataDirectory);
        var data = new DataDirectory(target);
        data.EnsureCreated(new GatewayOptions { Roles = { GatewayOptions.ForegroundRole } });
        var stored = s.Keys.List().ToDictionary(k => k.Id);

        Console.WriteLine("... the Foreground's key, and the certificates of the courier CA and the Background");
        using (var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
        {
            keys.Put(fgId, stored[fgId].Algorithm, s.Keys.GetPrivateKey(fgId), fgCertificate);
            if (s.Keys.GetCertificate(bgId) is { } bg) keys.PutCertificateOnly(bgId, stored[bgId].Algorithm, bg);
            if (s.Authority.Certificate is { } ca) keys.PutCertificateOnly(CourierAuthority.CaKeyId, stored[CourierAuthority.CaKeyId].Algorithm, ca);
        }

        using var users = new LiteDbUserStore(source.UserDatabasePath);
        var list = users.List();
        Console.WriteLine($"... the certificate directory, with the certificates of {list.Count} user(s)");
        using (var directory = new CertificateDirectory(data.CertificateDirectoryPath))
        {
            foreach (var entry in s.Directory.Entries())
                directory.Add(new Org.BouncyCastle.X509.X509Certificate(entry.Der), entry.Source, entry.IsAnchor, entry.Approved);
            foreach (var crl in s.Directory.Crls()) directory.AddCrl(crl);
            foreach (var user in list)
                if (s.Keys.GetCertificate(CourierSecureMimeContext.UserKeyId(user.Address.ToLowerInvariant())) is { } certificate)
                    directory.Add(certificate, "account");
        }

        Console.WriteLine($"... the list of {list.Count} user(s), without passwords");
        using var copied = new LiteDbUserStore(data.UserDatabasePath);
        foreach (var user in list)
            copied.Add(user.Address, PasswordHasher.HashOfUnknownPassword());

        if (System.IO.Directory.Exists(source.ForegroundDirectory))
        {
            Console.WriteLine("... the Foreground's peer table, queue, held parts, Invitations and link to the Background (moved)");
            CopyTree(source.ForegroundDirectory, data.ForegroundDirectory);
            System.IO.Directory.Delete(source.ForegroundDirectory, recursive: true);
        }
        // The Distribute Accounts not yet sent to the Background's host go with the Foreground, which sends them from now on.
        var link = Path.Combine(source.AgentDirectory, "background-link");
        foreach (var file in System.IO.Directory.Exists(link) ? System.IO.Directory.GetFiles(link, DistributeAccount.Prefix + "*") : Array.Empty<string>())
        {
            System.IO.Directory.CreateDirectory(Path.Combine(data.ForegroundDirectory, "background-link"));
            File.Move(file, Path.Combine(data.ForegroundDirectory, "background-link", Path.GetFileName(file)));
        }

        s.Keys.PutCertificateOnly(fgId, stored[fgId].Algorithm, fgCertificate);
        Console.WriteLine($"The Foreground now lives in {target}. On this host set Gateway:Roles to [\"agent\"], Courier:Endpoint (the Foreground's " +
                          "delivery listener) and Courier:ForegroundUrl; on the Foreground's host run with GATEWAY_DATA_DIR=" + target +
                          " and Gateway:Roles [\"foreground\"], Courier:AgentEndpoint and Courier:AgentUrl (this host), Courier:BackgroundEndpoint, a route for each of your domains to this host, and no submission or IMAP listener.");
        return 0;
    }

    static void CopyTree(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var directory in System.IO.Directory.GetDirectories(from)) CopyTree(directory, Path.Combine(to, Path.GetFileName(directory)));
    }
}
