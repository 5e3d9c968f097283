using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;
using Microsoft.Extensions.Logging;

namespace Gateway.Web;

/// <summary>
/// The Agent's way to the Background on another host: each read of a protected message sends a fresh
/// <see cref="KeyReleaseRequest"/>, signed by the recipient's key, to the Background's
/// <see cref="KeyReleaseEndpoint"/>. The HTTPS server certificate is not checked (a courier's web listener may use a
/// self-signed one): the request proves who asks, and the sealed ARM that comes back is signed by the Background and
/// encrypted to the recipient, which the reading Agent checks. A Background out of reach reads as "not arrived yet",
/// so mail programs keep the message and try again.
/// </summary>
public sealed class RemoteKeyRelease(Uri backgroundUrl, IKeyRing agentKeys, CertificateDirectory directory, ILogger<RemoteKeyRelease> logger,
    TimeProvider? time = null) : IKeyRelease, IDisposable
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly HttpClient _http = CourierHttpClient.Create(TimeSpan.FromSeconds(15));

    public async Task<KeyRelease> ReleaseAsync(string messageId, string recipient, ReleasePurpose purpose, CancellationToken cancellationToken = default)
    {
        var request = new KeyReleaseRequest
        {
            MessageId = messageId, Recipient = recipient.ToLowerInvariant(), Purpose = purpose,
            Nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), CreatedUtc = _time.GetUtcNow(),
        };
        try
        {
            var (status, body, headers) = await _http.PostMimeAsync(new Uri(backgroundUrl, KeyReleaseEndpoint.Path), request.Sign(agentKeys, directory), cancellationToken);
            var reason = headers.TryGetValues(KeyReleaseEndpoint.ReasonHeader, out var values) ? values.FirstOrDefault() : null;
            switch ((int)status)
            {
                case 200: return new KeyRelease.Released(body);
                case 404: return new KeyRelease.NotArrived();
                case 409: return new KeyRelease.Refused(reason ?? "the Background refused it");
                default:
                    logger.LogError("Agent: the Background at {Url} refused the key request for {MessageId} to {Recipient}: {Status} {Reason}",
                        backgroundUrl, messageId, recipient, (int)status, reason);
                    return new KeyRelease.NotArrived();
            }
        }
        catch (Exception ex) when (CourierHttpClient.Unreachable(ex, cancellationToken))
        {
            logger.LogWarning("Agent: the Background at {Url} cannot be reached for {MessageId}: {Reason}", backgroundUrl, messageId, ex.Message);
            return new KeyRelease.NotArrived();
        }
    }

    public void Dispose() => _http.Dispose();
}
