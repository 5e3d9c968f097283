using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Platform;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway message list|show|revoke</c>: the protected messages local users have sent, as the Background records
/// them. Safe while the gateway runs (the Background's store is opened in shared mode); a revocation takes effect at
/// the next attempt to open the message.
/// </summary>
public static class MessageCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var message = new Command("message", "Protected messages sent by local users: list them, show who opened them, revoke them.");
        var id = new Argument<string>("id") { Description = "The courier's message id (as 'gateway message list' shows it) or the message's Message-ID header." };

        var sender = new Option<string?>("--sender") { Description = "Only messages sent by this address." };
        var limit = new Option<int>("--limit") { Description = "At most this many messages, newest first.", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List sent protected messages, newest first, with a count of recipients who opened each.") { sender, limit };
        list.SetAction(parse => Run(parse, loadOptions, store =>
        {
            var from = parse.GetValue(sender);
            var sent = from is null ? store.AllSent(parse.GetValue(limit)) : store.SentBy(from, parse.GetValue(limit));
            foreach (var m in sent)
            {
                var status = SentMessageStatus.Of(store, m);
                var opened = status.Recipients.Count(r => r.State == RecipientState.Opened);
                Console.WriteLine($"{m.Id}\t{m.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm}Z\t{m.Sender}\t{opened}/{m.Recipients.Count} opened{(m.Revoked ? "\trevoked" : "")}");
            }
            Console.Error.WriteLine($"{sent.Count} message(s)");
            return 0;
        }));

        var show = new Command("show", "Show one sent message: restrictions and each recipient's state (delivered, opened at, refused).") { id };
        show.SetAction(parse => Run(parse, loadOptions, store =>
        {
            var wanted = parse.GetValue(id)!;
            if (SentMessageStatus.Find(store, wanted) is not { } m) return Fail($"no sent message {wanted}; fix: check 'gateway message list'.");
            var status = SentMessageStatus.Of(store, m);
            Console.WriteLine($"message     {m.Id}");
            if (m.InternetMessageId is not null) Console.WriteLine($"message-id  {m.InternetMessageId}");
            Console.WriteLine($"sender      {m.Sender}");
            Console.WriteLine($"sent        {m.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
            Console.WriteLine($"restrictions {m.Restrictions}");
            if (m.Revoked) Console.WriteLine($"revoked     {m.RevokedUtc?.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
            foreach (var r in status.Recipients) Console.WriteLine($"  {r.Recipient}\t{r.State.ToString().ToLowerInvariant()}\t{r.Detail}");
            return 0;
        }));

        var revoke = new Command("revoke", "Revoke a sent message: from now on no recipient can open it; attempts are refused and recorded.") { id };
        revoke.SetAction(parse => Run(parse, loadOptions, store =>
        {
            var wanted = parse.GetValue(id)!;
            if (SentMessageStatus.Find(store, wanted) is not { } m) return Fail($"no sent message {wanted}; fix: check 'gateway message list'.");
            if (m.Revoked) { Console.WriteLine($"{m.Id} was revoked already at {m.RevokedUtc?.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC"); return 0; }
            store.Revoke(m.Id, sender: null, DateTime.UtcNow);
            Console.WriteLine($"revoked {m.Id} (sent by {m.Sender} to {m.Recipients.Count} recipient(s))");
            return 0;
        }));

        message.Add(list);
        message.Add(show);
        message.Add(revoke);
        return message;
    }

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Func<BackgroundStore, int> action)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        if (!options.Runs(GatewayOptions.BackgroundRole))
        {
            Console.Error.WriteLine("gateway: the Background runs on another host (Gateway:Roles); run this there.");
            return 1;
        }
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        using var store = new BackgroundStore(BackgroundStore.PathIn(data));
        return action(store);
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("gateway: " + message);
        return 1;
    }
}
