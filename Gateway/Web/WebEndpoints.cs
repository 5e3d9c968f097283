using Gateway.Crypto;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>What the HTTPS listener serves: the courier's CRL (RFC 5280 distribution point), a health probe and
/// client autoconfiguration (<see cref="AutoconfigEndpoints"/>), the sender's status page (<see cref="StatusPage"/>), the
/// registration page (<see cref="RegistrationPage"/>), the Background's key release for an Agent on another host
/// (<see cref="KeyReleaseEndpoint"/>) and its records for the status page there (<see cref="StatusEndpoint"/>), and the Foreground's answers to an Agent on another host (<see cref="ReachEndpoint"/>,
/// <see cref="RegistrationClaimEndpoint"/>).</summary>
public static class WebEndpoints
{
    /// <summary>Maps what the roles this process runs serve (the CA and the user pages with the Agent and Foreground,
    /// the status page and key release with the Background).</summary>
    public static void Map(WebApplication app, Configuration.GatewayOptions options)
    {
        HealthEndpoint.Map(app, options);
        MetricsEndpoint.Map(app, options.Web.MetricsNetworks);
        if (options.Runs(Configuration.GatewayOptions.AgentRole))
        {
            app.MapGet("/crl/courier.crl", (CourierAuthority authority) =>
                authority.Certificate is null
                    ? Results.NotFound("this courier has no CA certificate yet\n")
                    : Results.Bytes(authority.CurrentCrl().GetEncoded(), "application/pkix-crl"));
            AutoconfigEndpoints.Map(app);
            StatusPage.Map(app); // users log in where the Agent runs; the records are the Background's
        }
        // The registration page is where accounts are made (with the Agent); a Foreground on its own host answers the
        // Agent's host's questions: where an address is served, and whether an Invitation's link works.
        if (options.Runs(Configuration.GatewayOptions.AgentRole)) RegistrationPage.Map(app);
        // The pickup portal for outside recipients, where the content, the ARM and the reader are all in this process.
        if (options.PortalAvailable) Pickup.PickupPage.Map(app);
        if (options.Runs(Configuration.GatewayOptions.ForegroundRole) && !options.Runs(Configuration.GatewayOptions.AgentRole))
        {
            ReachEndpoint.Map(app);
            RegistrationClaimEndpoint.Map(app);
        }
        if (options.Runs(Configuration.GatewayOptions.BackgroundRole))
        {
            KeyReleaseEndpoint.Map(app);
            StatusEndpoint.Map(app);
        }
    }
}
