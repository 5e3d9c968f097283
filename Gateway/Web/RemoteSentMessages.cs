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

    public IReadOnlyList<SentMessageStatus> SentBy(string user, int max) => Ask(user, null, max).Messages;

    public bool Revoke(string messageId, string user) => Ask(user, messageId, 0).Revoked;

    StatusAnswer Ask(string user, string? revoke, int max)
    {
        var request = new StatusRequest
        {
            User = user.ToLowerInvariant(), Revoke = revoke, Max = max, Nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), CreatedUtc = _time.GetUtcNow(),
        };
        var content = new ByteArrayContent(request.Sign(agentKeys, directory));
        content.Headers.ContentType = new("application/pkcs7-mime");
        using var response = _http.Send(new HttpRequestMessage(HttpMethod.Post, new Uri(backgroundUrl, StatusEndpoint.Path)) { Content = content });
        using var body = new MemoryStream();
        response.Content.ReadAsStream().CopyTo(body);
        if (!response.IsSuccessStatusCode)
            throw new PartRejectedException($"the Background at {backgroundUrl} refused the status request: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(body.ToArray()).Trim()}");
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var background = identity.ElementAddress(CourierElement.Background) ?? throw new PartRejectedException("the Background's certificate is not known here");
        return StatusAnswer.Open(context, body.ToArray(), background, request.Nonce);
    }

    public void Dispose() => _http.Dispose();
}
