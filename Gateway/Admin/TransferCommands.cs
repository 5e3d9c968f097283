using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Storage;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway transfer accept|start|status</c>: Registration Transfer with both operators' consent. The new courier
/// accepts first (<c>accept ADDRESS --from COURIER</c>); the old one then starts it (<c>start ADDRESS --to COURIER</c>);
/// the running gateways do the rest (see <see cref="TransferDesk"/>). Safe to run while the gateway runs.
/// </summary>
public static class TransferCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var transfer = new Command("transfer", "Registration Transfer: move a user to another courier, with both operators' consent.");
        var address = new Argument<string>("address") { Description = "The user's address." };
        var from = new Option<string>("--from") { Description = "The courier the user comes from (its courier id).", Required = true };
        var to = new Option<string>("--to") { Description = "The courier the user goes to (its courier id; it must have accepted).", Required = true };
        var wait = new Option<bool>("--wait") { Description = "Stay and show the progress until the transfer is completed or refused." };
        var optionalAddress = new Argument<string?>("address") { Description = "Only this user's transfers.", Arity = ArgumentArity.ZeroOrOne };

        var accept = new Command("accept", "On the new courier: pre-authorise the transfer of ADDRESS from COURIER (a transfer not accepted here is refused).") { address, from };
        accept.SetAction(parse => Run(parse, loadOptions, (options, store, data) =>
        {
            var addr = parse.GetValue(address)!.ToLowerInvariant();
            var courier = parse.GetValue(from)!.ToLowerInvariant();
            using (var users = new LiteDbUserStore(data.UserDatabasePath))
                if (users.Find(addr) is not null) return Fail($"{addr} is a user here already; nothing to accept.");
            if (store.Open(addr, TransferDirection.Incoming) is { } open) return Fail($"a transfer of {addr} from {open.Peer} is accepted already ({open.State}).");
            var record = store.Create(addr, TransferDirection.Incoming, courier, TransferState.Authorised, $"accepted from {courier} by the operator");
            Console.WriteLine($"accepted: {addr} may be transferred here from {courier} (transfer {record.Id}); the old courier's operator now runs 'gateway transfer start {addr} --to <this courier>'");
            return 0;
        }));

        var start = new Command("start", "On the old courier: start the transfer of ADDRESS to COURIER (which must have accepted it).") { address, to, wait };
        start.SetAction(parse => Run(parse, loadOptions, (options, store, data) =>
        {
            var addr = parse.GetValue(address)!.ToLowerInvariant();
            var courier = parse.GetValue(to)!.ToLowerInvariant();
            using (var users = new LiteDbUserStore(data.UserDatabasePath))
                if (users.Find(addr) is null) return Fail($"no user {addr} here; fix: check 'gateway user list'.");
            using (var peers = new PeerTable(PeerTable.PathIn(data, CourierElement.Foreground)))
                if (peers.Find(courier) is null) return Fail($"{courier} is not a courier the Foreground knows; fix: check 'gateway peer list' (couriers are learnt by Introduction).");
            if (store.Open(addr, TransferDirection.Outgoing) is { } open) return Fail($"a transfer of {addr} to {open.Peer} is under way already ({open.State}).");
            var record = store.Create(addr, TransferDirection.Outgoing, courier, TransferState.Started, $"started to {courier} by the operator");
            Console.WriteLine($"started: transfer {record.Id} of {addr} to {courier}; the gateway sends the Transfer Subscription at its next look");
            return parse.GetValue(wait) ? Watch(store, record.Id) : 0;
        }));

        var status = new Command("status", "Show transfers (both directions) with each step and its time.") { optionalAddress };
        status.SetAction(parse => Run(parse, loadOptions, (_, store, _) =>
        {
            var only = parse.GetValue(optionalAddress)?.ToLowerInvariant();
            var shown = store.All().Where(t => only is null || t.Address == only).ToList();
            foreach (var t in shown)
            {
                Console.WriteLine($"{t.Address}\t{(t.Direction == TransferDirection.Outgoing ? "to" : "from")} {t.Peer}\t{t.State}\t(transfer {t.Id})");
                foreach (var step in t.Steps) Console.WriteLine($"  {step.Utc:yyyy-MM-dd HH:mm:ss}Z  {step.Step}");
                if (t.State == TransferState.Moving) Console.WriteLine($"  moving: {t.Moved - t.Moving.Count} of {t.Moved} message(s) left the queue");
                if (t.LastError is { } error) Console.WriteLine($"  last problem: {error}");
            }
            Console.Error.WriteLine($"{shown.Count} transfer(s)");
            return 0;
        }));

        transfer.Add(accept);
        transfer.Add(start);
        transfer.Add(status);
        return transfer;
    }

    /// <summary>Shows the transfer's steps as they happen, and the mailbox move's progress, until it ends.</summary>
    static int Watch(TransferStore store, string id)
    {
        var seen = 1;
        var progress = -1;
        var deadline = DateTime.UtcNow.AddHours(1);
        while (DateTime.UtcNow < deadline)
        {
            var t = store.Find(id)!;
            foreach (var step in t.Steps.Skip(seen)) Console.WriteLine($"  {step.Utc:HH:mm:ss}Z  {step.Step}");
            seen = t.Steps.Count;
            if (t.State == TransferState.Moving && t.Moved > 0 && t.Moved - t.Moving.Count != progress)
            {
                progress = t.Moved - t.Moving.Count;
                CaCommands.Progress($"moving the mailbox: {progress} of {t.Moved} message(s) sent on");
            }
            if (t.State is TransferState.Completed)
            {
                if (t.Moved > 0 && progress != t.Moved) CaCommands.Progress($"moving the mailbox: {t.Moved} of {t.Moved} message(s) sent on");
                Console.WriteLine("completed");
                return 0;
            }
            if (t.State is TransferState.Refused) { Console.Error.WriteLine("gateway: the transfer was refused: " + t.LastError); return 1; }
            Thread.Sleep(500);
        }
        Console.Error.WriteLine("gateway: still not finished after an hour; 'gateway transfer status' shows where it stands");
        return 1;
    }

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Func<GatewayOptions, TransferStore, DataDirectory, int> action)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        if (!options.Runs(GatewayOptions.AgentRole) || !options.Runs(GatewayOptions.ForegroundRole))
            return Fail("Registration Transfer runs where the Agent and the Foreground are (Gateway:Roles).");
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        using var store = new TransferStore(TransferStore.PathIn(data));
        return action(options, store, data);
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("gateway: " + message);
        return 1;
    }
}
