using Gateway.Crypto;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// The Background's side of a key request from an Agent on another host (<see cref="KeyReleaseRequest"/>): accepted
/// only when signed by the recipient's certificate from this courier's own CA, fresh and never seen before
/// (<see cref="SignedRequestGuard"/>); then the Background decides as it does in one process.
/// </summary>
public sealed class KeyReleaseDesk(IKeyRing backgroundKeys, CertificateDirectory directory, SignedRequestGuard guard, IKeyRelease background,
    ILogger<KeyReleaseDesk> logger)
{
    /// <summary>The answer to a signed request, or why it is refused (the request itself was not acceptable).</summary>
    public sealed record Answer(KeyRelease? Release, string? Refusal);

    public async Task<Answer> HandleAsync(byte[] signedRequest, CancellationToken cancellationToken)
    {
        try
        {
            using var context = new CourierSecureMimeContext(backgroundKeys, directory);
            var (request, signer) = KeyReleaseRequest.Open(context, signedRequest);
            guard.Check(signer, request.Recipient, request.CreatedUtc, request.Nonce);
            return new Answer(await background.ReleaseAsync(request.MessageId, request.Recipient, request.Purpose, cancellationToken), null);
        }
        catch (PartRejectedException ex)
        {
            logger.LogWarning("Background refused a key request: {Reason}", ex.Message);
            return new Answer(null, ex.Message);
        }
    }
}
