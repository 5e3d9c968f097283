using System.CommandLine;
using Gateway.Configuration;
using Gateway.Platform;
using Gateway.Routing;
using Gateway.Smtp;
using Gateway.Storage;

namespace Gateway.Admin;

/// <summary><c>gateway user add|list|passwd|remove</c>: manage local users. Safe to run while the gateway runs.</summary>
public static class UserCommands
{
    public const int MinimumPasswordLength = 8;

    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var user = new Command("user", "Manage local users (the addresses that log in with SMTP AUTH and receive mail here).");

        var address = new Argument<string>("address") { Description = "The user's mail address, e.g. alice@example.org." };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input instead of prompting." };

        var add = new Command("add", "Add a user; prompts for the password (or reads it with --password-stdin).") { address, passwordStdin };
        add.SetAction(parse => Run(parse, loadOptions, (options, store) =>
        {
            var addr = parse.GetValue(address)!;
            if (!SmtpMailbox.TryParse(addr, out var mailbox))
                return Fail($"'{addr}' is not a valid mail address; fix: give local-part@domain.");
            if (store.Find(mailbox.Address) is not null)
                return Fail($"user {mailbox.Address} exists already; fix: use 'gateway user passwd {mailbox.Address}' to change the password.");
            var password = ReadPassword(parse.GetValue(passwordStdin));
            if (password is null) return 1;
            if (!new RouteTable(options).IsServed(mailbox.Domain))
                Console.Error.WriteLine($"warning: {mailbox.Domain} is not in Gateway:Domains, so mail for {mailbox.Address} will not be accepted on the delivery port.");
            store.Add(mailbox.Address, PasswordHasher.Hash(password));
            Console.WriteLine($"added {mailbox.Address}");
            return IssueCertificate(options, mailbox.Address);
        }));

        var list = new Command("list", "List users with their creation and password-change dates.");
        list.SetAction(parse => Run(parse, loadOptions, (_, store) =>
        {
            var users = store.List();
            foreach (var u in users)
                Console.WriteLine($"{u.Address}\tcreated {u.CreatedUtc:yyyy-MM-dd HH:mm}Z\tpassword changed {u.PasswordChangedUtc:yyyy-MM-dd HH:mm}Z");
            Console.Error.WriteLine($"{users.Count} user(s)");
            return 0;
        }));

        var passwd = new Command("passwd", "Change a user's password.") { address, passwordStdin };
        passwd.SetAction(parse => Run(parse, loadOptions, (_, store) =>
        {
            var addr = parse.GetValue(address)!;
            if (store.Find(addr) is null) return Fail($"no user {addr}; fix: check 'gateway user list'.");
            var password = ReadPassword(parse.GetValue(passwordStdin));
            if (password is null) return 1;
            store.SetPasswordHash(addr, PasswordHasher.Hash(password));
            Console.WriteLine($"password changed for {addr}");
            return 0;
        }));

        var remove = new Command("remove", "Remove a user. Their stored mail is kept on disk.") { address };
        remove.SetAction(parse => Run(parse, loadOptions, (_, store) =>
        {
            var addr = parse.GetValue(address)!;
            if (!store.Remove(addr)) return Fail($"no user {addr}; fix: check 'gateway user list'.");
            Console.WriteLine($"removed {addr}");
            return 0;
        }));

        var outOption = new Option<string>("--out") { Description = "The file for the current key (created mode 0600; must not exist); each replaced key goes beside it as FILE.SERIAL.", Required = true };
        var passphraseStdin = new Option<bool>("--passphrase-stdin") { Description = "Read the passphrase that protects the exported keys from the first line of standard input instead of prompting." };
        var exportKey = new Command("export-key",
            "Write the user's private key, and each key a Key Replacement retired, encrypted under a passphrase as PKCS#8 PEM: " +
            "with them 'openssl cms -decrypt' opens the user's stored mail without the gateway (see README, \"Mail at rest\").")
            { address, outOption, passphraseStdin };
        exportKey.SetAction(parse =>
        {
            var options = loadOptions(parse);
            if (options is null) return 2;
            var addr = parse.GetValue(address)!.ToLowerInvariant();
            var output = parse.GetValue(outOption)!;
            return CourierStores.Run(options, s =>
            {
                var id = Crypto.CourierSecureMimeContext.UserKeyId(addr);
                var files = s.Keys.List().Select(k => k.Id).Where(k => Crypto.KeyStore.IsKeyOf(k, id))
                    .Select(k => (Id: k, File: k == id ? output : output + "." + k[(id.Length + 1)..])).ToList();
                if (files.Count == 0) return Fail($"no key for {addr} here; fix: check 'gateway user list' (a user gets a key once the courier has a CA).");
                if (files.FirstOrDefault(f => File.Exists(f.File)) is { File: { } existing })
                    return Fail($"{existing} exists; fix: choose a new --out (a key is never written over another file).");
                var passphrase = ReadPassword(parse.GetValue(passphraseStdin));
                if (passphrase is null) return 1;
                foreach (var (keyId, file) in files)
                {
                    // PBES2: PBKDF2-SHA256 and AES-256-CBC, which openssl reads with -passin.
                    var privateKey = s.Keys.GetPrivateKey(keyId);
                    var pkcs8 = Org.BouncyCastle.Pkcs.PrivateKeyInfoFactory.CreatePrivateKeyInfo(privateKey).GetDerEncoded();
                    using System.Security.Cryptography.AsymmetricAlgorithm key = privateKey is Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters
                        ? System.Security.Cryptography.RSA.Create() : System.Security.Cryptography.ECDsa.Create();
                    key.ImportPkcs8PrivateKey(pkcs8, out _);
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(pkcs8);
                    var pem = key.ExportEncryptedPkcs8PrivateKeyPem(passphrase.AsSpan(), new System.Security.Cryptography.PbeParameters(
                        System.Security.Cryptography.PbeEncryptionAlgorithm.Aes256Cbc, System.Security.Cryptography.HashAlgorithmName.SHA256, 200_000));
                    using var stream = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                    stream.Write(System.Text.Encoding.ASCII.GetBytes(pem + "\n"));
                    Console.WriteLine($"wrote {(keyId == id ? "the current key" : "a replaced key")} of {addr} to {file}");
                }
                Console.Error.WriteLine("the files are encrypted with the passphrase; keep them safe all the same");
                return 0;
            });
        });

        user.Add(add);
        user.Add(list);
        user.Add(passwd);
        user.Add(remove);
        user.Add(exportKey);
        return user;
    }

    /// <summary>Once the courier has a CA, every new user gets an S/MIME certificate from it.</summary>
    static int IssueCertificate(GatewayOptions options, string address) => CourierStores.Run(options, s =>
    {
        if (s.Authority.Certificate is null)
        {
            Console.Error.WriteLine("note: this courier has no CA certificate yet, so no S/MIME certificate was issued; it will be once 'gateway ca' is set up.");
            return 0;
        }
        if (options.Crypto.UserKeyAlgorithm == Crypto.KeyAlgorithm.Rsa3072) CaCommands.Progress("generating an RSA-3072 key");
        var cert = s.Authority.IssueUser(address, options.Crypto.UserKeyAlgorithm);
        Console.WriteLine($"issued an S/MIME certificate for {address} (serial {cert.SerialNumber.ToString(16)}, valid until {cert.NotAfter:yyyy-MM-dd})");
        return 0;
    });

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Func<GatewayOptions, IUserStore, int> action)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        using var store = new LiteDbUserStore(data.UserDatabasePath);
        return action(options, store);
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("gateway: " + message);
        return 1;
    }

    static string? ReadPassword(bool fromStdin)
    {
        string? password;
        if (fromStdin)
        {
            password = Console.In.ReadLine();
        }
        else if (Console.IsInputRedirected)
        {
            Fail("no terminal to prompt for a password; fix: pass --password-stdin and pipe the password in.");
            return null;
        }
        else
        {
            password = Prompt("Password: ");
            if (Prompt("Repeat password: ") != password) { Fail("the passwords differ; nothing was changed."); return null; }
        }
        if (string.IsNullOrEmpty(password) || password.Length < MinimumPasswordLength)
        {
            Fail($"the password must have at least {MinimumPasswordLength} characters; nothing was changed.");
            return null;
        }
        return password;
    }

    static string Prompt(string label)
    {
        Console.Error.Write(label);
        var chars = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace) { if (chars.Length > 0) chars.Length--; continue; }
            chars.Append(key.KeyChar);
        }
        Console.Error.WriteLine();
        return chars.ToString();
    }
}
