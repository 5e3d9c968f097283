using Gateway.Platform;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Web;

/// <summary>
/// <c>GET /health</c>: 200 "ok" when the gateway can take mail, else 503 naming why, for load balancers and
/// orchestrators. Checked at each request: the queue can be written (a probe file is created, flushed and removed
/// where incoming messages are spooled), and its file system has room for a message of the largest size accepted.
/// A failing check is what the SMTP listeners answer with 452 meanwhile; the gateway recovers by itself when it clears.
/// </summary>
public static class HealthEndpoint
{
    public const string Path = "/health";

    public static void Map(WebApplication app, Configuration.GatewayOptions options)
    {
        var data = new DataDirectory(options.DataDirectory);
        var incoming = System.IO.Path.Combine(data.QueueDirectory, "incoming");
        var logger = app.Services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger("Gateway.Health");
        app.MapGet(Path, () =>
        {
            var problems = new List<string>();
            try
            {
                var probe = System.IO.Path.Combine(incoming, ".health-" + Guid.NewGuid().ToString("N"));
                using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
                {
                    file.WriteByte(0);
                    file.Flush(flushToDisk: true);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The reason names paths: it goes to the log, not to whoever asks.
                Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger, "Health: the queue cannot be written: {Reason}", ex.Message);
                problems.Add("the queue cannot be written (the log says why)");
            }
            try
            {
                var free = new DriveInfo(System.IO.Path.GetFullPath(incoming)).AvailableFreeSpace;
                if (free < options.Limits.MaxMessageSize)
                    problems.Add($"the queue's file system has {free / 1024} KiB free, less than the largest message accepted ({options.Limits.MaxMessageSize / 1024} KiB)");
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException) { }
            return problems.Count == 0
                ? Results.Text("ok\n")
                : Results.Text("unhealthy: " + string.Join("; ", problems) + "\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
    }
}
