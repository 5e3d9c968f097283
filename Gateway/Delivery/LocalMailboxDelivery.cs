using System.Text;
using Gateway.Platform;
using Gateway.Queue;
using Gateway.Storage;

namespace Gateway.Delivery;

/// <summary>
/// Final delivery to a local user's mailbox, a Maildir-style folder (<c>tmp/</c> then rename into <c>new/</c>,
/// fsync'd). Adds Return-Path: (RFC 5321 4.4) and Delivered-To:.
/// </summary>
public sealed class LocalMailboxDelivery(DataDirectory data, IUserStore users, MessageQueue queue)
{
    public string MailboxPath(string address) => Path.Combine(data.MailboxDirectory, SafeName(address.ToLowerInvariant()));

    public async Task<RecipientOutcome> DeliverAsync(QueuedMessage message, QueuedRecipient recipient, CancellationToken cancellationToken)
    {
        if (users.Find(recipient.Address) is null)
            return RecipientOutcome.Permanent(recipient.Address, "5.1.1", $"local user <{recipient.Address}> does not exist");

        var root = MailboxPath(recipient.Address);
        var tmp = Path.Combine(root, "tmp");
        var fresh = Path.Combine(root, "new");
        DurableFile.CreatePrivateDirectory(tmp);
        DurableFile.CreatePrivateDirectory(fresh);
        Directory.CreateDirectory(Path.Combine(root, "cur"));

        var name = $"{message.Id}.{Convert.ToHexString(Guid.NewGuid().ToByteArray()[..4]).ToLowerInvariant()}.eml";
        var tmpPath = Path.Combine(tmp, name);
        var header = $"Return-Path: <{message.Sender}>\r\nDelivered-To: {recipient.Address}\r\n";
        await using (var output = new FileStream(tmpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        {
            await output.WriteAsync(Encoding.UTF8.GetBytes(header), cancellationToken);
            await using (var content = queue.OpenContent(message))
                await content.CopyToAsync(output, cancellationToken);
            await output.FlushAsync(cancellationToken);
            output.Flush(flushToDisk: true);
        }
        File.Move(tmpPath, Path.Combine(fresh, name));
        DurableFile.SyncDirectory(fresh);
        return new RecipientOutcome(recipient.Address, OutcomeKind.Delivered, "2.0.0", "delivered to the local mailbox");
    }

    static string SafeName(string address)
    {
        var sb = new StringBuilder();
        foreach (var c in address)
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '@' or '.' or '-' or '_' or '+' ? c : $"%{(int)c:X2}");
        return sb.ToString();
    }
}
