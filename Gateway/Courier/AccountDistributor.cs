using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// With the Background on its own host, the Foreground sends it a Distribute Account for every user it does not
/// know to have told it about (at start, then at each pass): users added with <c>gateway user add</c> as well as
/// registered ones. Who was told is kept in <paramref name="toldPath"/>, so a restart does not tell everyone again;
/// the Background takes the same account twice without harm.
/// </summary>
public sealed class AccountDistributor(IUserStore users, IKeyRing foregroundKeys, KeyStore keys, CertificateDirectory directory, CourierIdentity identity,
    IElementDrop background, string toldPath, TimeSpan interval, ILogger<AccountDistributor> logger) : BackgroundService
{
    readonly HashSet<string> _told = File.Exists(toldPath)
        ? new(System.Text.Json.JsonSerializer.Deserialize<List<string>>(File.ReadAllBytes(toldPath)) ?? new(), StringComparer.OrdinalIgnoreCase)
        : new(StringComparer.OrdinalIgnoreCase);

    /// <summary>One pass: a Distribute Account for each user not told yet; returns how many were sent.</summary>
    public int DistributeNew()
    {
        if (identity.ElementCertificate(CourierElement.Background) is null) return 0;
        var sent = 0;
        foreach (var user in users.List().Where(u => !_told.Contains(u.Address)))
        {
            DistributeAccount.Send(foregroundKeys, keys, directory, identity, background, user.Address);
            _told.Add(user.Address);
            sent++;
        }
        if (sent > 0)
        {
            // Recorded after the accounts are queued (durably) for the link: a crash in between tells some twice.
            Gateway.Platform.DurableFile.WriteAllBytesAtomic(toldPath, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_told.Order(StringComparer.Ordinal).ToList()));
            logger.LogInformation("Foreground distributed {Count} account(s) to the Background's host", sent);
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
                logger.LogWarning("Foreground could not distribute accounts to the Background's host: {Reason}", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
