using Gateway.Queue;
using Gateway.Smtp;
using Gateway.Storage.Mail;

namespace Gateway.Courier;

/// <summary>
/// The Agent's part of a Registration Transfer on the old courier: every message in the user's mailboxes is opened
/// (a protected one with its key, released as a preview so that no open is counted) and queued again as the user's
/// own submission to themselves; the Agent protects each one afresh and the elements route it to the new courier
/// like any other mail. A message that no longer opens (expired, revoked, opened up) is not moved. The queue holds
/// each one durably until it has left.
/// </summary>
public sealed class MailboxMove(MailStore mailboxes, IProtectedMessageReader reader, MessageQueue queue)
{
    /// <summary>Queues the user's mail for the move; returns the queue ids and how many messages were left behind.</summary>
    public async Task<(IReadOnlyList<string> Queued, int Skipped)> QueueAsync(string address, CancellationToken cancellationToken)
    {
        var user = address.ToLowerInvariant();
        var queued = new List<string>();
        var skipped = 0;
        var to = SmtpMailbox.TryParse(user, out var mailbox) ? mailbox : throw new FormatException("bad address " + user);
        foreach (var folder in mailboxes.Mailboxes(user))
            foreach (var message in mailboxes.Messages(folder.Id))
            {
                Stream original;
                if (message.ProtectedId is not null)
                {
                    var view = await reader.ReadAsync(user, message, countAsOpen: false, openedInSession: false, cancellationToken);
                    if (!view.IsOriginal) { view.Dispose(); skipped++; continue; }
                    original = view.Content; // disposed with the view's content below
                }
                else original = mailboxes.OpenContent(message); // streamed from the sealed blob into the sealed queue
                await using var content = original;
                // The folder and flags go along (\Recent is the session's, not the message's).
                var entry = await queue.EnqueueAsync(content, to, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "",
                    cancellationToken, asUser: user, fileInto: folder.Name,
                    flags: message.Flags.Where(f => !string.Equals(f, "\\Recent", StringComparison.OrdinalIgnoreCase)).ToList());
                queued.Add(entry.Id);
            }
        return (queued, skipped);
    }
}
