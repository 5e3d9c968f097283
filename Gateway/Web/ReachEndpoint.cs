using System.Text.Json;
using Gateway.Courier;
using Gateway.Crypto;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Web;

/// <summary>
/// <c>POST /courier/reach</c> on the Foreground's host: which of the given addresses (JSON: nonce, addresses; at most
/// <see cref="MaxAddresses"/>) the courier network serves, decided by the Foreground's router; the answer is a
/// <see cref="ReachAnswer"/> signed by the Foreground. The question needs no signature: the answer says no more than
/// a message to the address would show.
/// </summary>
public static class ReachEndpoint
{
    public const string Path = "/courier/reach";
    public const int MaxAddresses = 100;

    public sealed record Question(string Nonce, List<string> Addresses);

    /// <summary>As the Agent writes it (camelCase, System.Net.Http.Json).</summary>
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Map(WebApplication app) => app.MapPost(Path, async (HttpContext http, IServiceProvider services) =>
    {
        if (http.Request.ContentLength is > 64 * 1024) return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
        Question? question;
        try { question = await JsonSerializer.DeserializeAsync<Question>(http.Request.Body, Json, http.RequestAborted); }
        catch (JsonException) { return Results.BadRequest("not a reach question\n"); }
        if (question is null || question.Nonce is not { Length: >= 16 and <= 64 } || question.Addresses is null || question.Addresses.Count > MaxAddresses)
            return Results.BadRequest("not a reach question\n");
        var relay = services.GetRequiredKeyedService<ElementRelay>(CourierElement.Foreground);
        var served = new List<string>();
        var outside = new List<string>();
        foreach (var address in question.Addresses)
        {
            try { (relay.Router.Decide(address) is CourierRoute.Outside ? outside : served).Add(address); }
            catch (ArgumentException) { return Results.BadRequest($"'{address}' is not an address\n"); }
        }
        var answer = new ReachAnswer { Nonce = question.Nonce, Served = served, Outside = outside };
        var keys = ScopedKeyRing.Foreground(services.GetRequiredService<KeyStore>());
        return Results.Bytes(answer.Sign(keys, services.GetRequiredService<CertificateDirectory>()), "application/pkcs7-mime");
    });
}
