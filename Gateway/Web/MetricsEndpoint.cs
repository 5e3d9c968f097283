using System.Net;
using Gateway.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// <c>GET /metrics</c>: the Prometheus text exposition of <see cref="GatewayInstruments"/> and the queue gauges, to
/// clients in Web:MetricsAllowedNetworks only (default: this host); anyone else gets 403, as if it were not there.
/// </summary>
public static class MetricsEndpoint
{
    public const string Path = "/metrics";

    public static void Map(WebApplication app, IReadOnlyList<string> allowedNetworks)
    {
        var allowed = allowedNetworks.Select(IPNetwork.Parse).ToList();
        if (allowed.Count == 0) return;
        app.MapGet(Path, (HttpContext context, PrometheusExposition exposition) =>
        {
            var client = context.Connection.RemoteIpAddress;
            if (client is null) return Results.StatusCode(StatusCodes.Status403Forbidden);
            if (client.IsIPv4MappedToIPv6) client = client.MapToIPv4();
            if (!allowed.Any(n => n.Contains(client))) return Results.StatusCode(StatusCodes.Status403Forbidden);
            return Results.Text(exposition.Render(), "text/plain; version=0.0.4; charset=utf-8");
        });
    }
}
