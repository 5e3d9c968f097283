using Gateway.Crypto;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Key Replacement before expiry, every hour: where the Foreground runs, a Key Replacement is asked for each user whose
/// certificate has fewer than <paramref name="before"/> left (the Foreground then drives it with the user's Agent);
/// where both elements' keys are, the elements get new introduction certificates when theirs run short, and introduce
/// them to their peers. Old keys are kept, so old mail opens.
/// </summary>
/// <param name="users">The Foreground's Key Replacements, or null where the Foreground does not run.</param>
public sealed class KeyRenewal(CourierAuthority authority, KeyStore keys, KeyReplacementDesk? users, TimeSpan before, ILogger<KeyRenewal> logger,
    TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>One look: asks for or makes what is due; returns what (users' addresses, and "courier").</summary>
    public IReadOnlyList<string> RenewDue()
    {
        var renewed = new List<string>();
        if (before <= TimeSpan.Zero) return renewed;
        var limit = _time.GetUtcNow().UtcDateTime + before;
        if (users is not null) renewed.AddRange(users.RequestDue(limit));
        var foreground = CourierAuthority.IntroductionKeyId(CourierElement.Foreground);
        var background = CourierAuthority.IntroductionKeyId(CourierElement.Background);
        if (authority.Certificate is not null && keys.HasPrivateKey(foreground) && keys.HasPrivateKey(background)
            && new[] { foreground, background }.Select(keys.GetCertificate).Any(c => c is not null && c.NotAfter <= limit))
        {
            foreach (var (element, old, now) in authority.RekeyIntroductions())
                logger.LogInformation("Key Replacement: the {Element}'s introduction certificate {Old} runs out; new certificate {New}", element, old, now);
            renewed.Add("courier");
        }
        return renewed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
        do
        {
            try { RenewDue(); }
            catch (Exception ex) when (ex is CourierAuthorityException or KeyStoreException or IOException or LiteDB.LiteException)
            {
                logger.LogError("Key Replacement before expiry failed: {Reason}; tried again in an hour", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
