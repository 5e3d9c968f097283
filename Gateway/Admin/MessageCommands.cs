using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Platform;
using System.Text.Json;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway message list|show|revoke</c>: the protected messages local users have sent, as the Background records
/// them. Safe while the gateway runs: the Background's store belongs to one process at a time, so the verb asks the
/// running gateway (<see cref="SentMessageControl"/>), or with none running opens the store itself. A revocation takes
/// effect at the next attempt to open the message.
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
        list.SetAction(parse => Run(parse, loadOptions, new SentMessageRequest(SentMessageRequest.List, Sender: parse.GetValue(sender), Limit: parse.GetValue(limit))));

        var show = new Command("show", "Show one sent message: restrictions and each recipient's state (delivered, opened at, refused).") { id };
        show.SetAction(parse => Run(parse, loadOptions, new SentMessageRequest(SentMessageRequest.Show, parse.GetValue(id))));

        var revoke = new Command("revoke", "Revoke a sent message: from now on no recipient can open it; attempts are refused and recorded.") { id };
        revoke.SetAction(parse => Run(parse, loadOptions, new SentMessageRequest(SentMessageRequest.Revoke, parse.GetValue(id))));

        message.Add(list);
        message.Add(show);
        message.Add(revoke);
        return message;
    }

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, SentMessageRequest request)
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
        var path = BackgroundStore.PathIn(data);
        SentMessageAnswer answer;
        using (var store = BackgroundStore.TryOpen(path))
        {
            if (store is not null) answer = SentMessageControl.Answer(store, request);
            else if (ControlDirectory.Ask(BackgroundStore.ControlDirectoryOf(path), JsonSerializer.SerializeToUtf8Bytes(request), TimeSpan.FromSeconds(15)) is { } given
                     && JsonSerializer.Deserialize<SentMessageAnswer>(given) is { } parsed)
                answer = parsed;
            else
            {
                Console.Error.WriteLine("gateway: the running gateway did not answer within 15 s; nothing was changed.");
                return 1;
            }
        }
        Console.Write(answer.Output);
        Console.Error.Write(answer.Error);
        return answer.ExitCode;
    }
}
