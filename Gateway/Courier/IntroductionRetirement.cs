using Gateway.Crypto;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// Revokes the introduction certificates a courier Key Replacement retired. Not at once: Inter-Courier messages already
/// waiting in an element's outbox were signed with the old key, and a peer that had our new CRL would refuse them. A
/// retired certificate is revoked when its element's outbox holds nothing made before the rekey and no Introduction
/// still waits to leave (every peer has been told of the new certificate), or at the latest after
/// <paramref name="maxWait"/> (the outbox's own give-up age). Once revoked, an Introduction recorded before the rekey
/// and sent again fails at every peer that checks our CRL, besides being older than what the peer holds.
/// </summary>
/// <param name="outboxOf">The element's outbox when that element runs in this process, else null (then nothing of it can
/// wait here, and its certificate is revoked at the next look).</param>
public sealed class IntroductionRetirement(CourierAuthority authority, CertificateDirectory directory, Func<CourierElement, PeerOutbox?> outboxOf,
    TimeSpan maxWait, ILogger<IntroductionRetirement> logger, TimeProvider? time = null) : BackgroundService
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>One look; returns the serials revoked now.</summary>
    public IReadOnlyList<string> RevokeDue()
    {
        var revoked = new List<string>();
        // Nearly always nothing is retired: the one look at the directory is all a pass costs then.
        var retired = directory.Retired();
        if (retired.Count == 0 || authority.Certificate is not { } ca) return revoked;
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var (issuer, serial, element, retiredUtc) in retired)
        {
            if (issuer != ca.SubjectDN.ToString()) continue;
            var waiting = outboxOf(element)?.All().Where(e => e.CreatedUtc < retiredUtc || e.Kind == InterCourierKind.Introduction).ToList() ?? new();
            if (waiting.Count > 0 && now - retiredUtc < maxWait) continue;
            authority.Revoke(serial, superseded: true);
            directory.Unretire(issuer, serial);
            revoked.Add(serial.ToString(16));
            logger.LogInformation("Revoked the {Element}'s retired introduction certificate {Serial} (Key Replacement of {Retired:u}){Left}", element,
                serial.ToString(16), retiredUtc, waiting.Count > 0 ? $"; {waiting.Count} message(s) signed with it still wait after {maxWait.TotalHours:0} h" : "");
        }
        return revoked;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        do
        {
            try { RevokeDue(); }
            catch (Exception ex) when (ex is CourierAuthorityException or IOException or LiteDB.LiteException)
            {
                logger.LogError("Could not revoke retired introduction certificates: {Reason}; tried again shortly", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
