using Gateway.Crypto;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// The Background's side of the status page on the Agent's host (<see cref="StatusRequest"/>): a request signed by a
/// user of this courier, fresh and not replayed (<see cref="SignedRequestGuard"/>), is answered from the Background's
/// records, sealed to that user.
/// </summary>
public sealed class StatusDesk(IKeyRing backgroundKeys, CertificateDirectory directory, SignedRequestGuard guard, ISentMessages sent, ILogger<StatusDesk> logger)
{
    public const int MaxMessages = 500;

    /// <summary>The sealed answer, or why the request is refused.</summary>
    public async Task<(byte[]? Answer, string? Refusal)> HandleAsync(byte[] signedRequest, CancellationToken cancellationToken)
    {
        try
        {
            using var context = new CourierSecureMimeContext(backgroundKeys, directory);
            var (request, signer) = StatusRequest.Open(context, signedRequest);
            guard.Check(signer, request.User, request.CreatedUtc, request.Nonce);
            var user = request.User.ToLowerInvariant();
            var revoked = request.Revoke is { Length: > 0 and <= 200 } id && await sent.RevokeAsync(id, user, cancellationToken);
            var messages = request.Revoke is null ? (await sent.SentByAsync(user, Math.Clamp(request.Max, 1, MaxMessages), cancellationToken)).ToList() : new List<SentMessageStatus>();
            return (new StatusAnswer(request.Nonce, messages, revoked).Seal(backgroundKeys, directory, signer), null);
        }
        catch (PartRejectedException ex)
        {
            logger.LogWarning("Background refused a status request: {Reason}", ex.Message);
            return (null, ex.Message);
        }
    }
}
