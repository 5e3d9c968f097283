using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Key Replacement before expiry, where the CA is (with the Agent): every hour, a user whose certificate has fewer
/// than <paramref name="before"/> left gets a new key and certificate, and so do the elements when their introduction
/// certificates run short and both their keys are here. Old keys are kept (old mail opens); the elements then
/// introduce their new certificates to their peers, and element hosts are told the users' new certificates.
/// </summary>
public sealed class KeyRenewal(CourierAuthority authority, KeyStore keys, IUserStore users, KeyAlgorithm userKeys, TimeSpan before, ILogger<KeyRenewal> logger,
    TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>One look: replaces what is due; returns what was replaced (addresses, and "courier").</summary>
    public IReadOnlyList<string> RenewDue()
    {
        var renewed = new List<string>();
        if (authority.Certificate is null || before <= TimeSpan.Zero) return renewed;
        var limit = _time.GetUtcNow().UtcDateTime + before;
        foreach (var user in users.List())
        {
            var id = CourierSecureMimeContext.UserKeyId(user.Address);
            if (!keys.HasPrivateKey(id) || keys.GetCertificate(id) is not { } current || current.NotAfter > limit) continue;
            var issued = authority.IssueUser(user.Address, userKeys);
            logger.LogInformation("Key Replacement: {Address}'s certificate {Old} ends {End:u}; new certificate {New}, the old key kept",
                user.Address, current.SerialNumber.ToString(16), current.NotAfter, issued.SerialNumber.ToString(16));
            renewed.Add(user.Address);
        }
        var foreground = CourierAuthority.IntroductionKeyId(CourierElement.Foreground);
        var background = CourierAuthority.IntroductionKeyId(CourierElement.Background);
        if (keys.HasPrivateKey(foreground) && keys.HasPrivateKey(background)
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
            catch (Exception ex) when (ex is CourierAuthorityException or KeyStoreException or IOException)
            {
                logger.LogError("Key Replacement before expiry failed: {Reason}; tried again in an hour", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
