using Gateway.Crypto;

namespace Gateway.Courier;

/// <summary>Where a part for one recipient goes next.</summary>
public abstract record CourierRoute
{
    /// <summary>A local user: store it here.</summary>
    public sealed record Deliver : CourierRoute;
    /// <summary>Hand it to a known peer courier (introduced, below us, or named by an Invitation Reject).</summary>
    public sealed record Relay(PeerRecord Peer, string Why) : CourierRoute;
    /// <summary>A Private (or Gateway) courier does not know the recipient: hand it to the superior courier.</summary>
    public sealed record Defer : CourierRoute;
    /// <summary>A Public courier (or the Root) does not know the recipient: hold the part and invite them.</summary>
    public sealed record Invite : CourierRoute;
    /// <summary>Hold the part here (an address of one of our own domains that is no user yet, on a courier that does not invite).</summary>
    public sealed record Hold(string Why) : CourierRoute;
    /// <summary>No courier serves it: mail for the Internet at large (only the Agent can send that; an element holds it).</summary>
    public sealed record Outside : CourierRoute;
}

/// <summary>
/// The routing decision each element makes for itself, from its own peer table, identically in the Foreground and
/// the Background (so the two parts of a message take the same way without the elements talking to each other):
/// <list type="number">
/// <item>an address an Invitation Reject or a Registration Transfer said is served elsewhere: relay there (the most
/// specific knowledge first);</item>
/// <item>a local user: deliver here;</item>
/// <item>a domain served by a known courier (introduced, or a courier below us): relay to it;</item>
/// <item>a domain configured as outside (Courier:OutsideDomains): not for the courier network;</item>
/// <item>one of our own domains, not a user: a courier that invites does; another holds it (no one else serves our domains);</item>
/// <item>a Private or Gateway courier with a superior defers to it; so does a Public courier for a part deferred from
/// below (the hierarchy above may know the recipient's courier; the topmost courier that invites does so), and one
/// behind a Gateway courier (which handles its introductions);</item>
/// <item>a courier that invites (Public by default, the Root when configured) invites;</item>
/// <item>anything else is outside the courier network (a standalone courier's mail to the Internet).</item>
/// </list>
/// </summary>
public sealed class CourierRouter(Func<string, bool> isLocalUser, IReadOnlyCollection<string> ownDomains, Func<CourierRole?> ownRole, PeerTable peers,
    Func<bool>? invites = null, Func<string, bool>? isOutsideDomain = null)
{
    public const int MaxHops = 8;

    /// <summary>This courier's role (from its courier certificate), or null before it has one.</summary>
    public CourierRole? Role => ownRole();

    /// <summary>Whether this courier invites unknown addresses (by default: a Public courier or the Root).</summary>
    public bool Invites => invites?.Invoke() ?? ownRole() is CourierRole.Public or CourierRole.Root;

    public CourierRoute Decide(string recipient, bool deferredFromBelow = false)
    {
        var address = recipient.ToLowerInvariant();
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1) throw new ArgumentException($"'{recipient}' is not an address", nameof(recipient));
        var domain = address[(at + 1)..];

        // An address known to be served by another courier (Invitation Reject, or a user transferred there) goes there,
        // even while a transferred user's account is still being let go here.
        if (peers.ServingAddress(address) is { } servedAt) return new CourierRoute.Relay(servedAt, $"{address} is served by {servedAt.Id}");
        if (isLocalUser(address)) return new CourierRoute.Deliver();
        if (peers.ServingDomain(domain) is { } peer)
            return new CourierRoute.Relay(peer, peer.Below ? $"{domain} is served by {peer.Id}, a courier below this one" : $"{domain} is served by {peer.Id} (introduced)");
        if (isOutsideDomain?.Invoke(domain) == true) return new CourierRoute.Outside();

        var role = ownRole();
        if (ownDomains.Contains(domain, StringComparer.OrdinalIgnoreCase))
            return Invites ? new CourierRoute.Invite() : new CourierRoute.Hold($"{address} is in our domain {domain} but is no user here");
        var superior = peers.Superior();
        // Behind a Gateway courier even a Public courier defers what it does not know: an Invitation would introduce
        // it to the invitee's courier, past the Gateway that handles its introductions.
        if (superior is not null && (role is CourierRole.Private or CourierRole.Gateway || deferredFromBelow || superior.Role == CourierRole.Gateway))
            return new CourierRoute.Defer();
        if (Invites) return new CourierRoute.Invite();
        return new CourierRoute.Outside();
    }
}
