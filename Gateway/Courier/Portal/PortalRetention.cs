using Gateway.Storage;
using Gateway.Storage.Mail;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier.Portal;

/// <summary>
/// Keeps what the portal holds no longer than a link can open it: a guest's message older than the links' lifetime
/// (<c>Courier:Portal:LinkDays</c>) plus the longest a notification may wait in the queue is removed with its sealed
/// file. A guest who registered is a user: their mailbox is theirs and stays. The guest record and its empty mailbox
/// stay too (a few bytes): forgetting a guest while a new message for them is being split would lose that message.
/// Runs at start and then hourly.
/// </summary>
public sealed class PortalRetention(PortalGuests guests, IUserStore users, MailStore mailboxes, TimeSpan keep, ILogger<PortalRetention> logger,
    TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>One pass; returns how many messages were removed.</summary>
    public int Sweep(DateTimeOffset now)
    {
        var cutoff = (now - keep).UtcDateTime;
        var removed = 0;
        foreach (var guest in guests.List())
        {
            if (users.Find(guest.Id) is not null) continue; // registered: a user now, whose mail is their own
            foreach (var mailbox in mailboxes.Mailboxes(guest.Id))
            {
                var old = mailboxes.Messages(mailbox.Id).Where(m => m.InternalDateUtc.ToUniversalTime() < cutoff).Select(m => m.Uid).ToHashSet();
                if (old.Count == 0) continue;
                mailboxes.StoreFlags(mailbox.Id, old, FlagOperation.Add, new[] { "\\Deleted" });
                removed += mailboxes.Expunge(mailbox.Id, old).Count;
            }
        }
        if (removed > 0) logger.LogInformation("Portal: removed {Count} held message(s) no link can open any more", removed);
        return removed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { Sweep(_time.GetUtcNow()); }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogError("Portal: the retention sweep failed: {Reason}; tried again in an hour", ex.Message);
            }
            try { await Task.Delay(TimeSpan.FromHours(1), _time, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
