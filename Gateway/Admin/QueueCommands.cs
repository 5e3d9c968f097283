using System.CommandLine;
using Gateway.Configuration;
using Gateway.Platform;
using Gateway.Queue;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway queue list|show|retry|delete</c>: the outbound queue. Listing and showing read the envelopes on disk;
/// retry and delete go through the running gateway's delivery worker when it runs (<see cref="QueueControl"/>), else
/// change the files directly. Message content is never printed: the queue may hold mail before the Agent protected it.
/// </summary>
public static class QueueCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var queueCommand = new Command("queue", "The outbound queue: list and show queued messages, retry them now, delete one.");
        var id = new Argument<string>("id") { Description = "The queue id (as 'gateway queue list' shows it)." };

        var list = new Command("list", "List queued messages, oldest first: id, arrival, size, sender, and each recipient not yet delivered with its last status.");
        list.SetAction(parse => Run(parse, loadOptions, (queue, _) =>
        {
            var messages = queue.List();
            foreach (var m in messages)
            {
                var pending = m.Recipients.Where(r => r.State == RecipientState.Pending).ToList();
                Console.WriteLine($"{m.Id}\t{m.ArrivedUtc.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z\t{m.Size} B\t<{m.Sender ?? ""}>\t{pending.Count}/{m.Recipients.Count} pending");
                foreach (var r in pending)
                    Console.WriteLine($"  {r.Address}\tattempts {r.Attempts}\tnext {r.NextAttemptUtc.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z" +
                                      (r.Status is null ? "" : $"\t{r.Status} {r.Diagnostic}"));
            }
            Console.Error.WriteLine($"{messages.Count} message(s) queued, {messages.Sum(m => m.Recipients.Count(r => r.State == RecipientState.Pending))} recipient(s) pending");
            return 0;
        }));

        var show = new Command("show", "Show one queued message's envelope: sender, listener, client, and every recipient's state, attempts and last status.") { id };
        show.SetAction(parse => Run(parse, loadOptions, (queue, _) =>
        {
            var wanted = parse.GetValue(id)!;
            if (queue.Load(wanted) is not { } m) return Fail($"no message {wanted} in the queue; fix: check 'gateway queue list'.");
            Console.WriteLine($"id          {m.Id}");
            Console.WriteLine($"arrived     {m.ArrivedUtc.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
            Console.WriteLine($"sender      <{m.Sender ?? ""}>{(m.AuthenticatedUser is null ? "" : $" (authenticated as {m.AuthenticatedUser})")}");
            Console.WriteLine($"size        {m.Size} octets ({m.Body}{(m.SmtpUtf8 ? ", SMTPUTF8" : "")})");
            Console.WriteLine($"received    on {m.Listener ?? "-"} from {m.ClientAddress ?? "-"} ({m.ClientHelo ?? "-"})");
            if (m.EnvelopeId is not null) Console.WriteLine($"envid       {m.EnvelopeId}");
            foreach (var r in m.Recipients)
            {
                Console.WriteLine($"  {r.Address}\t{r.State.ToString().ToLowerInvariant()}\tattempts {r.Attempts}" +
                                  (r.State == RecipientState.Pending ? $"\tnext {r.NextAttemptUtc.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z" : ""));
                if (r.Status is not null) Console.WriteLine($"    last: {r.Status} {r.Diagnostic}{(r.RemoteMta is null ? "" : $" (from {r.RemoteMta})")}");
            }
            return 0;
        }));

        var all = new Option<bool>("--all") { Description = "Every queued message." };
        var optionalId = new Argument<string?>("id") { Description = "The queue id; or --all.", Arity = ArgumentArity.ZeroOrOne };
        var retry = new Command("retry", "Make the pending recipients of a message (or of every message, --all) due now, whatever their back-off.") { optionalId, all };
        retry.SetAction(parse => Run(parse, loadOptions, (queue, data) =>
        {
            var which = parse.GetValue(optionalId);
            if (which is null == !parse.GetValue(all)) return Fail("name one queue id, or --all.");
            return Request(data, queue, new QueueRequest(QueueRequest.Retry, which));
        }));

        var delete = new Command("delete", "Take a message out of the queue. No delivery report is sent to its sender; what was delivered stays delivered.") { id };
        delete.SetAction(parse => Run(parse, loadOptions, (queue, data) => Request(data, queue, new QueueRequest(QueueRequest.Delete, parse.GetValue(id)))));

        queueCommand.Add(list);
        queueCommand.Add(show);
        queueCommand.Add(retry);
        queueCommand.Add(delete);
        return queueCommand;
    }

    /// <summary>Asks the running gateway, or with none running changes the files itself.</summary>
    static int Request(DataDirectory data, MessageQueue queue, QueueRequest request)
    {
        string answer;
        if (QueueControl.IsGatewayRunning(data))
        {
            if (QueueControl.Ask(data, request, TimeSpan.FromSeconds(15)) is not { } given)
                return Fail("the running gateway did not answer within 15 s; nothing was changed.");
            answer = given;
        }
        else answer = ApplyOffline(queue, request);
        Console.WriteLine(answer);
        return answer.StartsWith("no message", StringComparison.Ordinal) || answer.Contains("try again", StringComparison.Ordinal) ? 1 : 0;
    }

    static string ApplyOffline(MessageQueue queue, QueueRequest request)
    {
        if (request.Verb == QueueRequest.Delete)
        {
            if (queue.Load(request.Id!) is null) return $"no message {request.Id} in the queue";
            queue.Remove(request.Id!);
            return $"deleted {request.Id} (the gateway is not running)";
        }
        var messages = request.Id is null ? queue.List() : queue.Load(request.Id) is { } one ? new[] { one } : Array.Empty<QueuedMessage>();
        if (request.Id is not null && messages.Count == 0) return $"no message {request.Id} in the queue";
        foreach (var m in messages)
        {
            foreach (var r in m.Recipients.Where(r => r.State == RecipientState.Pending)) r.NextAttemptUtc = DateTimeOffset.UtcNow;
            queue.Save(m);
        }
        return $"{messages.Count} message(s) due now (the gateway is not running: they are tried when it starts)";
    }

    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Func<MessageQueue, DataDirectory, int> action)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        return action(new MessageQueue(data, new Sealing.SpoolSeal(Crypto.MasterKey.Load(data)), NullLogger<MessageQueue>.Instance), data);
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("gateway: " + message);
        return 1;
    }
}
