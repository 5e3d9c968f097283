using Gateway.Queue;
using Gateway.Smtp;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The way from a Background on a host of its own to the users' Agent: a message for the Agent (already signed by the
/// Foreground and sealed to the user) is queued as mail to the user's address, from the null sender like a DSN so it
/// can never cause a loop; the courier's route for the user's domain takes it to the Agent's host, whose delivery
/// listener checks it before 250 and hands it to the Agent rather than the mailbox (<see cref="KeyReplacementIntake"/>).
/// </summary>
public sealed class AgentMailDrop(MessageQueue queue) : IElementDrop
{
    public void Drop(string name, Stream message)
    {
        var start = message.Position;
        var to = HeaderList.Load(message)[HeaderId.To] is { } header && InternetAddressList.TryParse(header, out var list)
                 && list.Mailboxes.FirstOrDefault() is { } mailbox && SmtpMailbox.TryParse(mailbox.Address, out var recipient)
            ? recipient
            : throw new PartRejectedException($"the message {name} for the Agent names no user");
        message.Position = start;
        queue.EnqueueAsync(message, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", CancellationToken.None).GetAwaiter().GetResult();
    }
}
