using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;

namespace Gateway.Web;

/// <summary>
/// The status page's way to the Background on another host (<see cref="StatusEndpoint"/>): each look or revocation is a
/// fresh <see cref="StatusRequest"/> signed by the user's key; the answer is opened with that key and must be signed
/// by our Background. A Background out of reach makes the page fail (500) rather than show nothing.
/// </summary>
public sealed class RemoteSentMessages(Uri backgroundUrl, IKeyRing agentKeys, CertificateDirectory directory, CourierIdentity identity,
    TimeProvider? time = null) : ISentMessages, IDisposable
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly HttpClient _http = CourierHttpClient.Create(TimeSpan.FromSeconds(15));

    public async Task<IReadOnlyList<SentMessageStatus>> SentByAsync(string user, int max, CancellationToken cancellationToken = default) =>
        (await AskAsync(user, null, max, cancellationToken)).Messages;

    public async Task<bool> RevokeAsync(string messageId, string user, CancellationToken cancellationToken = default) =>
        (await AskAsync(user, messageId, 0, cancellationToken)).Revoked;

    async Task<StatusAnswer> AskAsync(string user, string? revoke, int max, CancellationToken cancellationToken)
    {
        var request = new StatusRequest
        {
            User = user.ToLowerInvariant(), Revoke = revoke, Max = max, Nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), CreatedUtc = _time.GetUtcNow(),
        };
        var (status, body, _) = await _http.PostMimeAsync(new Uri(backgroundUrl, StatusEndpoint.Path), request.Sign(agentKeys, directory), cancellationToken);
        if ((int)status is < 200 or > 299)
            throw new PartRejectedException($"the Background at {backgroundUrl} refused the status request: {(int)status} {System.Text.Encoding.UTF8.GetString(body).Trim()}");
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var background = identity.ElementAddress(CourierElement.Background) ?? throw new PartRejectedException("the Background's certificate is not known here");
        return StatusAnswer.Open(context, body, background, request.Nonce);
    }

    public void Dispose() => _http.Dispose();
}
