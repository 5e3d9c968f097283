using System.CommandLine;
using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Storage;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway rekey user ADDRESS</c> and <c>gateway rekey courier</c>: Key Replacement. A new key and certificate take
/// the old one's place; the old key is kept (encrypted at rest, like every key) so mail encrypted to it still opens.
/// Safe to run while the gateway runs: it picks up the new keys, tells elements on other hosts (Distribute Account,
/// Background Key Replacement) and, after a courier rekey, introduces the elements' new certificates to every peer.
/// </summary>
public static class RekeyCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var rekey = new Command("rekey", "Key Replacement: new keys for a user or for the courier's elements; old keys are kept so old mail still opens.");

        var address = new Argument<string>("address") { Description = "The local user whose key is replaced." };
        var user = new Command("user", "Replace a user's S/MIME key and certificate (run where the Agent and the CA are).") { address };
        user.SetAction(parse =>
        {
            var options = loadOptions(parse);
            if (options is null) return 2;
            var addr = parse.GetValue(address)!.ToLowerInvariant();
            using (var users = new LiteDbUserStore(new DataDirectory(options.DataDirectory).UserDatabasePath))
                if (users.Find(addr) is null)
                {
                    Console.Error.WriteLine($"gateway: no user {addr}; fix: check 'gateway user list'.");
                    return 1;
                }
            return CourierStores.Run(options, s =>
            {
                if (s.Authority.Certificate is null)
                {
                    Console.Error.WriteLine("gateway: this courier has no CA certificate (not set up, or the CA is on the Agent's host); fix: run where 'gateway ca' was set up.");
                    return 1;
                }
                var old = s.Keys.GetCertificate(CourierSecureMimeContext.UserKeyId(addr));
                if (options.Crypto.UserKeyAlgorithm == KeyAlgorithm.Rsa3072) CaCommands.Progress("generating an RSA-3072 key");
                var issued = s.Authority.IssueUser(addr, options.Crypto.UserKeyAlgorithm);
                Console.WriteLine($"{addr}: new key and certificate (serial {issued.SerialNumber.ToString(16)}, valid until {issued.NotAfter:yyyy-MM-dd})" +
                                  (old is null ? "" : $"; the old one (serial {old.SerialNumber.ToString(16)}) is kept, so earlier mail still opens"));
                return 0;
            });
        });

        var courier = new Command("courier",
            "Replace the keys and introduction certificates of the courier's Foreground and Background (run where both are). " +
            "The old keys are kept; the running elements introduce their new certificates to every peer they know.");
        courier.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            foreach (var (element, old, now) in s.Authority.RekeyIntroductions())
                Console.WriteLine($"{element}: new introduction certificate (serial {now}); the old one (serial {old}) is kept");
            Console.WriteLine("The running gateway introduces the new certificates to its peers at its next look (Courier:PendingCheckSeconds).");
            return 0;
        }));

        rekey.Add(user);
        rekey.Add(courier);
        return rekey;
    }
}
