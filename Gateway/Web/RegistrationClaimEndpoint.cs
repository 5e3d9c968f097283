using Gateway.Courier;
using Gateway.Crypto;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Web;

/// <summary>
/// <c>POST /courier/registration</c> on the Foreground's host, for the registration page on the Agent's host
/// (<see cref="RegistrationClaim"/>): checks or claims an Invitation's link. 200 with the answer signed by the
/// Foreground (a link that does not work is an answer too, with the reason); 400 a question that cannot be read.
/// </summary>
public static class RegistrationClaimEndpoint
{
    public const string Path = "/courier/registration";

    public static void Map(WebApplication app) => app.MapPost(Path, async (HttpContext http, IServiceProvider services, InvitationDesk desk, ILogger<InvitationDesk> logger) =>
    {
        if (await RequestBody.ReadAsync(http) is not { } body) return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
        var keys = ScopedKeyRing.Foreground(services.GetRequiredService<KeyStore>());
        var directory = services.GetRequiredService<CertificateDirectory>();
        RegistrationClaim.Question question;
        try
        {
            using var context = new CourierSecureMimeContext(keys, directory);
            question = RegistrationClaim.Open(context, body);
        }
        catch (PartRejectedException ex)
        {
            logger.LogWarning("Foreground refused a registration question: {Reason}", ex.Message);
            return Results.Text(ex.Message + "\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status400BadRequest);
        }
        RegistrationClaim.Answer answer;
        try
        {
            var record = question.Claim ? desk.Claim(question.Token) : desk.Check(question.Token);
            answer = new(question.Nonce, record.Id, record.Address, record.ExpiresUtc, null);
        }
        catch (RegistrationException ex)
        {
            answer = new(question.Nonce, null, null, default, ex.Message);
        }
        return Results.Bytes(SignedJson.Sign(answer, RegistrationClaim.AnswerMediaType, keys, directory, CourierElement.Foreground), "application/pkcs7-mime");
    });
}
