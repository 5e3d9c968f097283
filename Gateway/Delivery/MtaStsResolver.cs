using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Platform;
using Microsoft.Extensions.Logging;

namespace Gateway.Delivery;

/// <summary>
/// Finds a recipient domain's MTA-STS policy (RFC 8461): the <c>_mta-sts</c> TXT record announces it and names its
/// id; the policy itself comes from <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> over a verified TLS
/// connection, no redirects, at most 64 KB. Policies are cached (in memory and in <c>mta-sts.json</c> in the data
/// directory, so a restart keeps them) until their max_age runs out, and fetched again when the TXT id changes; while
/// a fetch fails or the TXT record is missing, a cached policy that has not run out still applies, so that an attacker
/// who blocks DNS or HTTPS cannot downgrade a domain that asked for TLS.
/// </summary>
public sealed class MtaStsResolver
{
    const int MaxPolicyBytes = 64 * 1024;
    readonly DeliveryOptions _options;
    readonly MxResolver _dns;
    readonly OutboundTrust _trust;
    readonly ILogger<MtaStsResolver> _logger;
    readonly TimeProvider _time;
    readonly string _cachePath;
    readonly ConcurrentDictionary<string, MtaStsPolicy> _cache;
    readonly HttpClient _http;

    public MtaStsResolver(DeliveryOptions options, MxResolver dns, OutboundTrust trust, DataDirectory data, ILogger<MtaStsResolver> logger, TimeProvider? time = null)
    {
        (_options, _dns, _trust, _logger, _time) = (options, dns, trust, logger, time ?? TimeProvider.System);
        _cachePath = Path.Combine(data.Root, "mta-sts.json");
        _cache = new(Load(_cachePath), StringComparer.OrdinalIgnoreCase);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // RFC 8461 3.3: redirects are not followed
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            // The policy host is looked up with the gateway's own resolver (Delivery:DnsServers), as the MX hosts are.
            ConnectCallback = async (context, cancellationToken) =>
            {
                var addresses = await _dns.ResolveAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
                if (addresses.Count == 0) throw new HttpRequestException($"{context.DnsEndPoint.Host} has no address");
                var socket = new Socket(addresses[0].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(addresses[0], context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => _trust.Validates(certificate, errors) },
        };
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    static Dictionary<string, MtaStsPolicy> Load(string path)
    {
        try { return File.Exists(path) ? JsonSerializer.Deserialize<Dictionary<string, MtaStsPolicy>>(File.ReadAllBytes(path)) ?? new() : new(); }
        catch (Exception ex) when (ex is JsonException or IOException) { return new(); }
    }

    void Save() => DurableFile.WriteAllBytesAtomic(_cachePath, JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, MtaStsPolicy>(_cache)));

    /// <summary>The domain's policy in force, or null when it has none (or MTA-STS is off).</summary>
    public async Task<MtaStsPolicy?> PolicyAsync(string domain, CancellationToken cancellationToken)
    {
        if (!_options.MtaSts || domain.StartsWith('[')) return null;
        domain = domain.ToLowerInvariant();
        var now = _time.GetUtcNow();
        var cached = _cache.TryGetValue(domain, out var c) && c.IsFresh(now) ? c : null;
        var records = await _dns.ResolveTxtAsync("_mta-sts." + domain, cancellationToken);
        var ids = (records ?? Array.Empty<string>()).Select(MtaStsPolicy.IdOfRecord).OfType<string>().ToList();
        if (ids.Count != 1) return cached; // none, several, or DNS failed: what we know still holds
        if (cached is not null && cached.Id == ids[0]) return cached;
        var fetched = await FetchAsync(domain, ids[0], now, cancellationToken);
        if (fetched is null) return cached;
        _cache[domain] = fetched;
        try { Save(); }
        catch (IOException ex) { _logger.LogWarning("MTA-STS: could not save the policy cache: {Reason}", ex.Message); }
        _logger.LogInformation("MTA-STS: {Domain} has policy {Id}: {Mode}, MX {Mx}, for {Hours:0.#} h", domain, fetched.Id, fetched.Mode,
            string.Join(" ", fetched.Mx), fetched.MaxAge.TotalHours);
        return fetched;
    }

    async Task<MtaStsPolicy?> FetchAsync(string domain, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var url = $"https://mta-sts.{domain}:{_options.MtaStsPolicyPort}/.well-known/mta-sts.txt";
        try
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                _logger.LogWarning("MTA-STS: {Url} answered {Status}; no new policy for {Domain}", url, (int)response.StatusCode, domain);
                return null;
            }
            if (response.Content.Headers.ContentType?.MediaType != "text/plain")
            {
                _logger.LogWarning("MTA-STS: {Url} is not text/plain; no new policy for {Domain}", url, domain);
                return null;
            }
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxPolicyBytes + 1];
            var length = 0;
            int read;
            while (length <= MaxPolicyBytes && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0) length += read;
            if (length > MaxPolicyBytes)
            {
                _logger.LogWarning("MTA-STS: the policy at {Url} is longer than 64 KB; ignored", url);
                return null;
            }
            var policy = MtaStsPolicy.Parse(Encoding.UTF8.GetString(buffer, 0, length), id, now);
            if (policy is null) _logger.LogWarning("MTA-STS: the policy at {Url} does not parse; ignored", url);
            return policy;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            _logger.LogWarning("MTA-STS: could not fetch {Url}: {Reason}", url, ex.Message);
            return null;
        }
    }
}
