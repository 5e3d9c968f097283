using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// With an element on another host, the host that has the courier's accounts tells it of every user it does not know
/// to have told (at start, then at each pass): users added with <c>gateway user add</c> as well as registered ones.
/// The Foreground tells the Background's host; the Agent's own host tells the Foreground's (which then tells the
/// Background). Who was told is kept in <paramref name="toldPath"/>, so a restart does not tell everyone again; an
/// element takes the same account twice without harm.
/// </summary>
/// <param name="tell">Builds and queues one Distribute Account for the address (durably, for the link to that host).</param>
/// <param name="ready">Whether the receiving element's certificate is known yet.</param>
/// <param name="direction">For logs, e.g. "Foreground -> Background's host".</param>
public sealed class AccountDistributor(IUserStore users, Func<bool> ready, Action<string> tell, string direction, string toldPath, TimeSpan interval,
    ILogger<AccountDistributor> logger, Action<string>? tellRemoved = null) : BackgroundService
{
    readonly HashSet<string> _told = File.Exists(toldPath)
        // Lists written by earlier versions name "address#certificate serial": the address is what counts.
        ? new((System.Text.Json.JsonSerializer.Deserialize<List<string>>(File.ReadAllBytes(toldPath)) ?? new()).Select(t => t.Split('#')[0]), StringComparer.OrdinalIgnoreCase)
        : new(StringComparer.OrdinalIgnoreCase);

    /// <summary>One pass: a Distribute Account for each user not told yet; returns how many were sent.</summary>
    public int DistributeNew()
    {
        if (!ready()) return 0;
        var sent = 0;
        var list = users.List();
        foreach (var user in list)
        {
            var told = user.Address.ToLowerInvariant();
            if (_told.Contains(told)) continue;
            tell(user.Address);
            _told.Add(told);
            sent++;
        }
        // Accounts told before and removed since ('gateway user remove', a transfer): the element drops them too.
        var present = list.Select(u => u.Address.ToLowerInvariant()).ToHashSet();
        foreach (var gone in _told.Where(a => !present.Contains(a)).ToList())
        {
            if (tellRemoved is null) break;
            tellRemoved(gone);
            _told.Remove(gone);
            sent++;
        }
        if (sent > 0)
        {
            // Recorded after the accounts are queued (durably) for the link: a crash in between tells some twice.
            Gateway.Platform.DurableFile.WriteAllBytesAtomic(toldPath, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_told.Order(StringComparer.Ordinal).ToList()));
            logger.LogInformation("Distributed {Count} account(s) ({Direction})", sent, direction);
        }
        return sent;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        do
        {
            try { DistributeNew(); }
            catch (Exception ex) when (ex is PartRejectedException or KeyStoreException or IOException)
            {
                logger.LogWarning("Could not distribute accounts ({Direction}): {Reason}", direction, ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
