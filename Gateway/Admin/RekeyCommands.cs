using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Platform;
using Gateway.Storage;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway rekey user ADDRESS</c>, <c>gateway rekey status</c> and <c>gateway rekey courier</c>: Key Replacement.
/// A user's Key Replacement is asked of the Foreground, which drives it with the user's Agent (see
/// <see cref="KeyReplacementDesk"/>); the courier's is done here, where both elements' keys and the CA are. Old keys
/// are kept (encrypted at rest, like every key) so mail encrypted to them still opens. Safe to run while the gateway runs.
/// </summary>
public static class RekeyCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var rekey = new Command("rekey", "Key Replacement: new keys for a user or for the courier's elements; old keys are kept so old mail still opens.");

        var address = new Argument<string>("address") { Description = "The local user whose key is replaced." };
        var wait = new Option<bool>("--wait") { Description = "Stay and show each step until the Key Replacement is complete." };
        var user = new Command("user",
            "Replace a user's S/MIME key and certificate (run where the Foreground is). The running Foreground sends the Notice to Rekey " +
            "through the Background to the user's Agent, which makes the new key; Exchange Keys, Rekeying Complete and Background Key Replacement follow.")
            { address, wait };
        user.SetAction(parse => Run(parse, loadOptions, (store, data) =>
        {
            var addr = parse.GetValue(address)!.ToLowerInvariant();
            using (var users = new LiteDbUserStore(data.UserDatabasePath))
                if (users.Find(addr) is null) return Fail($"no user {addr}; fix: check 'gateway user list'.");
            var open = store.Open(addr);
            var record = open ?? store.Request(addr, "operator", "asked for by the operator");
            Console.WriteLine(open is null
                ? $"requested: Key Replacement {record.Id} of {addr}; the gateway sends the Notice to Rekey at its next look (Courier:PendingCheckSeconds)"
                : $"a Key Replacement of {addr} is under way already: {record.Id} ({record.State})");
            return parse.GetValue(wait) ? Watch(store, record.Id) : 0;
        }));

        var optionalAddress = new Argument<string?>("address") { Description = "Only this user's Key Replacements.", Arity = ArgumentArity.ZeroOrOne };
        var status = new Command("status", "Show users' Key Replacements with each step and its time.") { optionalAddress };
        status.SetAction(parse => Run(parse, loadOptions, (store, _) =>
        {
            var only = parse.GetValue(optionalAddress)?.ToLowerInvariant();
            var shown = store.All().Where(r => only is null || r.Address == only).ToList();
            foreach (var r in shown)
            {
                Console.WriteLine($"{r.Address}\t{r.State}\t{r.Reason}\tcertificate {r.OldSerial ?? "-"} -> {r.NewSerial ?? "-"}\t(Key Replacement {r.Id})");
                foreach (var step in r.Steps) Console.WriteLine($"  {step.Utc:yyyy-MM-dd HH:mm:ss}Z  {step.Step}");
                if (r.LastError is { } error) Console.WriteLine($"  last problem: {error}");
            }
            Console.Error.WriteLine($"{shown.Count} Key Replacement(s)");
            return 0;
        }));

        var courier = new Command("courier",
            "Replace the keys and introduction certificates of the courier's Foreground and Background (run where both are). " +
            "The old keys are kept (mail encrypted to them still opens); the running elements introduce their new certificates to every peer they know, " +
            "and the old certificates are revoked once no message signed with them waits to leave.");
        courier.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            foreach (var (element, old, now) in s.Authority.RekeyIntroductions())
                Console.WriteLine($"{element}: new introduction certificate (serial {now}); the old key is kept, its certificate (serial {old}) retired");
            Console.WriteLine("The running gateway introduces the new certificates to its peers at its next look (Courier:PendingCheckSeconds), " +
                              "and revokes the retired ones once no message signed with them waits in an outbox.");
            return 0;
        }));

        rekey.Add(user);
        rekey.Add(status);
        rekey.Add(courier);
        return rekey;
    }

    /// <summary>Shows the Key Replacement's steps as they happen until it is complete.</summary>
    static int Watch(KeyReplacementStore store, string id)
    {
        var seen = 1;
        var deadline = DateTime.UtcNow.AddMinutes(30);
        string? problem = null;
        while (DateTime.UtcNow < deadline)
        {
            var r = store.Find(id)!;
            foreach (var step in r.Steps.Skip(seen)) Console.WriteLine($"  {step.Utc:HH:mm:ss}Z  {step.Step}");
            seen = r.Steps.Count;
            if (r.LastError is { } error && error != problem) Console.WriteLine($"  waiting: {problem = error}");
            if (r.State == KeyReplacementState.Completed)
            {
                Console.WriteLine($"completed: {r.Address}'s certificate {r.OldSerial} replaced by {r.NewSerial}; the old key is kept, so earlier mail still opens");
                return 0;
            }
            Thread.Sleep(500);
        }
        Console.Error.WriteLine("gateway: not complete after 30 minutes (is the gateway running, and are the Background and the Agent reachable?); 'gateway rekey status' shows where it stands");
        return 1;
    }

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Func<KeyReplacementStore, DataDirectory, int> action)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        if (!options.Runs(GatewayOptions.ForegroundRole))
            return Fail("a user's Key Replacement is driven by the Foreground; run this where it is (Gateway:Roles with \"foreground\").");
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        using var store = new KeyReplacementStore(KeyReplacementStore.PathIn(data));
        return action(store, data);
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("gateway: " + message);
        return 1;
    }
}
