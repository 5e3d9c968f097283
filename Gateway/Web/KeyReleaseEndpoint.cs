using Gateway.Courier;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// <c>POST /courier/key-release</c>: where an Agent on another host asks this courier's Background for a recipient's
/// ARM (<see cref="KeyReleaseRequest"/>, signed by the recipient's key). 200 with the sealed ARM (signed by the
/// Background, encrypted to the recipient); 404 not arrived yet; 409 refused by the sender's restrictions (the reason
/// in the body); 403 the request itself is refused (signature, not our user, too old, replayed); 413 too large.
/// </summary>
public static class KeyReleaseEndpoint
{
    public const string Path = "/courier/key-release";
    public const string RequestMediaType = "application/pkcs7-mime";
    public const string ReasonHeader = "X-Gateway-Refusal";

    public static void Map(WebApplication app) => app.MapPost(Path, async (HttpContext http, KeyReleaseDesk desk) =>
    {
        if (await RequestBody.ReadAsync(http) is not { } body) return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
        var answer = await desk.HandleAsync(body, http.RequestAborted);
        return answer switch
        {
            { Refusal: { } why } => Refuse(http, StatusCodes.Status403Forbidden, why),
            { Release: KeyRelease.Released released } => Results.Bytes(released.SealedArm, "application/octet-stream"),
            { Release: KeyRelease.Refused refused } => Refuse(http, StatusCodes.Status409Conflict, refused.Reason),
            _ => Results.NotFound(),
        };
    });

    static IResult Refuse(HttpContext http, int status, string reason)
    {
        // The reason in a header too (single line), so that a client needs not parse a body to show it.
        http.Response.Headers[ReasonHeader] = reason.Replace('\r', ' ').Replace('\n', ' ');
        return Results.Text(reason + "\n", "text/plain; charset=utf-8", statusCode: status);
    }
}
