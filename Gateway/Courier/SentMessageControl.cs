using System.Text;
using System.Text.Json;
using Gateway.Platform;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>What <c>gateway message list|show|revoke</c> asks of the Background's store.</summary>
public sealed record SentMessageRequest(string Verb, string? Id = null, string? Sender = null, int Limit = 50)
{
    public const string List = "list";
    public const string Show = "show";
    public const string Revoke = "revoke";
}

/// <summary>What the verb prints: its exit code, its standard output and its standard error.</summary>
public sealed record SentMessageAnswer(int ExitCode, string Output, string Error);

/// <summary>
/// Answers <c>gateway message</c> requests from the store of the process that has it: the verb's own when no gateway
/// runs, else the running gateway's (which takes requests from <see cref="BackgroundStore.ControlDirectoryOf"/> every
/// half second). A revocation is durable when it is answered and takes effect at the next attempt to open the message.
/// </summary>
public sealed class SentMessageControl(BackgroundStore store, string controlDirectory, ILogger<SentMessageControl> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        new ControlDirectory(controlDirectory).ServeAsync(bytes =>
        {
            SentMessageAnswer answer;
            try
            {
                answer = JsonSerializer.Deserialize<SentMessageRequest>(bytes ?? []) is { } request
                    ? Answer(store, request) : Unreadable;
            }
            catch (JsonException)
            {
                answer = Unreadable;
            }
            if (answer.ExitCode == 0) logger.LogInformation("Background answered a 'gateway message' request");
            return JsonSerializer.SerializeToUtf8Bytes(answer);
        }, (name, ex) => logger.LogError("Background could not answer the 'gateway message' request {Name}: {Reason}", name, ex.Message), stoppingToken);

    static readonly SentMessageAnswer Unreadable = new(2, "", "gateway: the request could not be read\n");

    /// <summary>Runs one request on <paramref name="store"/>.</summary>
    public static SentMessageAnswer Answer(BackgroundStore store, SentMessageRequest request)
    {
        var output = new StringBuilder();
        switch (request.Verb)
        {
            case SentMessageRequest.List:
            {
                var sent = request.Sender is null ? store.AllSent(request.Limit) : store.SentBy(request.Sender, request.Limit);
                foreach (var m in sent)
                {
                    var status = SentMessageStatus.Of(store, m);
                    var opened = status.Recipients.Count(r => r.State == RecipientState.Opened);
                    output.Append($"{m.Id}\t{m.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm}Z\t{m.Sender}\t{opened}/{m.Recipients.Count} opened{(m.Revoked ? "\trevoked" : "")}\n");
                }
                return new SentMessageAnswer(0, output.ToString(), $"{sent.Count} message(s)\n");
            }
            case SentMessageRequest.Show:
            {
                if (Find(store, request.Id) is not { } m) return Unknown(request.Id);
                var status = SentMessageStatus.Of(store, m);
                output.Append($"message     {m.Id}\n");
                if (m.InternetMessageId is not null) output.Append($"message-id  {m.InternetMessageId}\n");
                output.Append($"sender      {m.Sender}\n");
                output.Append($"sent        {m.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC\n");
                output.Append($"restrictions {m.Restrictions}\n");
                if (m.Revoked) output.Append($"revoked     {m.RevokedUtc?.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC\n");
                foreach (var r in status.Recipients) output.Append($"  {r.Recipient}\t{r.State.ToString().ToLowerInvariant()}\t{r.Detail}\n");
                return new SentMessageAnswer(0, output.ToString(), "");
            }
            case SentMessageRequest.Revoke:
            {
                if (Find(store, request.Id) is not { } m) return Unknown(request.Id);
                if (m.Revoked) return new SentMessageAnswer(0, $"{m.Id} was revoked already at {m.RevokedUtc?.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC\n", "");
                store.Revoke(m.Id, sender: null, DateTime.UtcNow);
                return new SentMessageAnswer(0, $"revoked {m.Id} (sent by {m.Sender} to {m.Recipients.Count} recipient(s))\n", "");
            }
            default:
                return new SentMessageAnswer(2, "", $"gateway: '{request.Verb}' is not a message request\n");
        }
    }

    static SentRecord? Find(BackgroundStore store, string? id) => id is null ? null : SentMessageStatus.Find(store, id);

    static SentMessageAnswer Unknown(string? id) => new(1, "", $"gateway: no sent message {id}; fix: check 'gateway message list'.\n");
}
