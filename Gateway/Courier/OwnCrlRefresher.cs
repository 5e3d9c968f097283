using Gateway.Crypto;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Keeps this courier's own CRL in its certificate directory, so that signatures of its own users and elements
/// validate with revocation checked: at start-up and every 12 hours (each CRL is valid for a week).
/// </summary>
public sealed class OwnCrlRefresher(CourierAuthority authority, CertificateDirectory directory, ILogger<OwnCrlRefresher> logger) : BackgroundService
{
    public void RefreshNow()
    {
        if (authority.Certificate is null) return;
        directory.AddCrl(authority.CurrentCrl());
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(12));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { RefreshNow(); }
                catch (Exception ex) when (ex is CourierAuthorityException or IOException) { logger.LogError("Could not refresh this courier's CRL: {Reason}", ex.Message); }
            }
        }
        catch (OperationCanceledException) { }
    }
}
