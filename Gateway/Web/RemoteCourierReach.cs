using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;

namespace Gateway.Web;

/// <summary>
/// The Agent's question to the Foreground on another host (<see cref="ReachEndpoint"/>): does the courier network serve
/// this address? Answers are kept for <see cref="CacheTime"/>. When the Foreground cannot be asked, or its answer does
/// not check out, this throws: the message waits in the queue (4.3.0) rather than going outside unprotected.
/// </summary>
public sealed class RemoteCourierReach(Uri foregroundUrl, IKeyRing agentKeys, CertificateDirectory directory, CourierIdentity identity,
    TimeProvider? time = null) : IDisposable
{
    public static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(30);
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly HttpClient _http = CourierHttpClient.Create(TimeSpan.FromSeconds(15));
    readonly ConcurrentDictionary<string, (bool Served, DateTimeOffset At)> _answers = new(StringComparer.OrdinalIgnoreCase);

    public bool Serves(string address)
    {
        var now = _time.GetUtcNow();
        if (_answers.TryGetValue(address, out var known) && now - known.At < CacheTime) return known.Served;
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var foreground = identity.ElementAddress(CourierElement.Foreground) ?? throw new PartRejectedException("the Foreground's certificate is not known here");
        byte[] signed;
        try
        {
            using var response = _http.Send(new HttpRequestMessage(HttpMethod.Post, new Uri(foregroundUrl, ReachEndpoint.Path))
            {
                Content = JsonContent.Create(new ReachEndpoint.Question(nonce, new List<string> { address })),
            });
            if (!response.IsSuccessStatusCode) throw new PartRejectedException($"the Foreground at {foregroundUrl} answered {(int)response.StatusCode}");
            using var body = new MemoryStream();
            response.Content.ReadAsStream().CopyTo(body);
            signed = body.ToArray();
        }
        catch (Exception ex) when (CourierHttpClient.Unreachable(ex))
        {
            throw new PartRejectedException($"the Foreground at {foregroundUrl} cannot be asked where <{address}> is served: {ex.Message}", ex) { Transient = true };
        }
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var answer = ReachAnswer.Open(context, signed, foreground, nonce);
        var served = answer.Served.Contains(address, StringComparer.OrdinalIgnoreCase);
        if (!served && !answer.Outside.Contains(address, StringComparer.OrdinalIgnoreCase))
            throw new PartRejectedException($"the Foreground's answer does not name <{address}>");
        _answers[address] = (served, now);
        return served;
    }

    public void Dispose() => _http.Dispose();
}
