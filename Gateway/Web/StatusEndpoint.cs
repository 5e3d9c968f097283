using Gateway.Courier;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// <c>POST /courier/status</c> on a Background-only host: the sender's status page on the Agent's host asks here
/// (<see cref="StatusRequest"/>, signed by the user). 200 with the answer sealed to the user; 403 the request is refused.
/// </summary>
public static class StatusEndpoint
{
    public const string Path = "/courier/status";

    public static void Map(WebApplication app) => app.MapPost(Path, async (HttpContext http, StatusDesk desk) =>
    {
        if (await RequestBody.ReadAsync(http) is not { } body) return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
        var (answer, refusal) = await desk.HandleAsync(body, http.RequestAborted);
        return answer is not null
            ? Results.Bytes(answer, "application/pkcs7-mime")
            : Results.Text(refusal + "\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status403Forbidden);
    });
}
