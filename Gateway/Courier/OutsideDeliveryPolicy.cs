using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Queue;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>How one group of outside recipients is to be sent.</summary>
public abstract record OutsideRoute(IReadOnlyList<QueuedRecipient> Recipients)
{
    /// <summary>Encrypted (and signed by the sender) to these certificates, one per recipient.</summary>
    public sealed record Smime(IReadOnlyList<QueuedRecipient> Recipients, IReadOnlyList<X509Certificate> Certificates) : OutsideRoute(Recipients);
    /// <summary>As submitted, over a TLS connection that must succeed.</summary>
    public sealed record Tls(IReadOnlyList<QueuedRecipient> Recipients) : OutsideRoute(Recipients);
    /// <summary>Not sent: kept in the queue (retried, then bounced) with this reason.</summary>
    public sealed record Held(IReadOnlyList<QueuedRecipient> Recipients, string Reason) : OutsideRoute(Recipients);
    /// <summary>Held at this courier for the pickup portal: each recipient is sent a notification of its own.</summary>
    public sealed record Portal(IReadOnlyList<QueuedRecipient> Recipients) : OutsideRoute(Recipients);
}

/// <summary>
/// Decides, per recipient domain (<see cref="CourierOptions.OutsideDomains"/>, else <see cref="CourierOptions.Outside"/>),
/// how a local user's message leaves for recipients no courier serves: S/MIME to an approved certificate (harvested
/// from their signed mail, or approved by the operator), plain over TLS that must succeed, or held and in the end
/// bounced, or kept here for the pickup portal. There is no mode that sends plaintext over an unencrypted connection.
/// </summary>
/// <param name="defaultMode">The mode for domains <see cref="CourierOptions.OutsideDomains"/> does not name
/// (<see cref="GatewayOptions.EffectiveOutside"/>).</param>
public sealed class OutsideDeliveryPolicy(CourierOptions options, OutsideDelivery defaultMode, CertificateDirectory directory, TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public OutsideDelivery ModeFor(string domain) =>
        options.OutsideDomains.TryGetValue(domain, out var mode) ? mode : defaultMode;

    /// <summary>Whether a recipient's mail is kept here for the pickup portal (Portal, or SmimeOrPortal without an
    /// approved certificate).</summary>
    public bool UsesPortal(string address)
    {
        var mode = ModeFor(address[(address.LastIndexOf('@') + 1)..]);
        return mode == OutsideDelivery.Portal || (mode == OutsideDelivery.SmimeOrPortal && CertificateFor(address) is null);
    }

    /// <summary>An approved certificate for the address that is valid now (the newest), or null.</summary>
    public X509Certificate? CertificateFor(string address)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        return directory.ForAddress(address).Where(c => c.Approved && c.Certificate.NotBefore <= now && now <= c.Certificate.NotAfter)
            .Select(c => c.Certificate).OrderByDescending(c => c.NotAfter).FirstOrDefault();
    }

    public IReadOnlyList<OutsideRoute> Plan(IReadOnlyList<QueuedRecipient> recipients)
    {
        var smime = new List<(QueuedRecipient Recipient, X509Certificate Certificate)>();
        var tls = new List<QueuedRecipient>();
        var held = new List<(QueuedRecipient Recipient, string Reason)>();
        var portal = new List<QueuedRecipient>();
        foreach (var r in recipients)
        {
            var mode = ModeFor(r.Domain);
            var certificate = mode is OutsideDelivery.Smime or OutsideDelivery.SmimeOrTls or OutsideDelivery.SmimeOrPortal ? CertificateFor(r.Address) : null;
            switch (mode)
            {
                case OutsideDelivery.Portal:
                case OutsideDelivery.SmimeOrPortal when certificate is null:
                    // Only once the courier holds the parts (the deliverer splits first); until then it waits.
                    if (r.PortalHeld) portal.Add(r);
                    else held.Add((r, "the message is not yet held at this courier for the pickup portal"));
                    break;
                case OutsideDelivery.Hold:
                    held.Add((r, $"held by policy: mail to {r.Domain} is not sent outside this courier (Courier:OutsideDomains or Courier:Outside is Hold)"));
                    break;
                case OutsideDelivery.Smime when certificate is null:
                    held.Add((r, $"held by policy: mail to {r.Domain} must be encrypted with S/MIME and no approved certificate for <{r.Address}> is known; " +
                                 "it is sent once one is harvested from their signed mail or approved with 'gateway cert approve'"));
                    break;
                case OutsideDelivery.Tls:
                    tls.Add(r);
                    break;
                default:
                    if (certificate is not null) smime.Add((r, certificate));
                    else tls.Add(r);
                    break;
            }
        }
        var routes = new List<OutsideRoute>();
        if (smime.Count > 0) routes.Add(new OutsideRoute.Smime(smime.Select(x => x.Recipient).ToList(), smime.Select(x => x.Certificate).ToList()));
        if (tls.Count > 0) routes.Add(new OutsideRoute.Tls(tls));
        if (portal.Count > 0) routes.Add(new OutsideRoute.Portal(portal));
        foreach (var group in held.GroupBy(h => h.Reason)) routes.Add(new OutsideRoute.Held(group.Select(h => h.Recipient).ToList(), group.Key));
        return routes;
    }
}
