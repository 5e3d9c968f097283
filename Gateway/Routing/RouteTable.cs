using Gateway.Configuration;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Routing;

/// <summary>Where mail for a domain goes next, decided by configuration alone.</summary>
public abstract record NextHop
{
    /// <summary>A served domain without a route: the local mailbox of a local user.</summary>
    public sealed record LocalMailbox : NextHop;
    /// <summary>A configured static route or smarthost (MX is not consulted).</summary>
    public sealed record Static(RouteOptions Route) : NextHop;
    /// <summary>The domain's MX hosts, from DNS.</summary>
    public sealed record Mx(string Domain) : NextHop;
}

/// <summary>
/// Static routing like Postfix transport maps: an exact domain wins over a <c>.parent</c> wildcard, which wins
/// over <c>*</c>. A served domain with no route is delivered locally; anything else goes to its MX.
/// </summary>
public sealed class RouteTable(GatewayOptions options)
{
    readonly HashSet<string> _served = new(options.Domains, StringComparer.OrdinalIgnoreCase);

    public bool IsServed(string domain) => _served.Contains(domain.TrimEnd('.'));

    public RouteOptions? FindRoute(string domain)
    {
        domain = domain.TrimEnd('.').ToLowerInvariant();
        RouteOptions? best = null;
        var bestScore = -1;
        foreach (var route in options.Routes)
        {
            var pattern = route.Domain.Trim().ToLowerInvariant();
            int score;
            if (pattern == domain) score = 10_000;
            else if (pattern.StartsWith('.') && domain.EndsWith(pattern, StringComparison.Ordinal)) score = pattern.Length;
            else if (pattern == "*") score = 0;
            else continue;
            if (score > bestScore) { best = route; bestScore = score; }
        }
        return best;
    }

    public NextHop Resolve(string domain)
    {
        if (IsServed(domain))
        {
            // A served domain routes elsewhere only by an explicit route for it, never by "*".
            var explicitRoute = FindRoute(domain);
            return explicitRoute is not null && explicitRoute.Domain.Trim() != "*" ? new NextHop.Static(explicitRoute) : new NextHop.LocalMailbox();
        }
        var route = FindRoute(domain);
        return route is not null ? new NextHop.Static(route) : new NextHop.Mx(domain);
    }
}
