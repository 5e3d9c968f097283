using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>Brings the CRLs a certificate path needs into the certificate directory.</summary>
public interface ICrlSource
{
    /// <summary>For each certificate on the path, makes sure its issuer's CRL is at hand and not older than allowed.</summary>
    void Refresh(IReadOnlyList<X509Certificate> path);
}

/// <summary>
/// Fetches other couriers' CRLs from the distribution point (RFC 5280 4.2.1.13) written in the certificates they
/// issued, over HTTPS: when the directory has none for that issuer, or the copy is older than the configured age
/// (so a revocation at a peer is seen within that time). A CRL is kept only if its issuer's signature verifies;
/// the HTTPS server certificate is not checked (couriers use their own). Our own CRL is never fetched (the
/// courier makes it). Failed fetches are tried again at most every 10 seconds per URL; validation then fails closed.
/// </summary>
public sealed class PeerCrlFetcher(CertificateDirectory directory, Func<string?> ownCrlUrl, TimeSpan maxAge, ILogger<PeerCrlFetcher> logger) : ICrlSource, IDisposable
{
    static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(10);
    readonly ConcurrentDictionary<string, DateTime> _fetched = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, DateTime> _failed = new(StringComparer.Ordinal);
    readonly HttpClient _http = CourierHttpClient.Create(TimeSpan.FromSeconds(10));

    public void Refresh(IReadOnlyList<X509Certificate> path)
    {
        for (var i = 0; i < path.Count; i++)
        {
            var certificate = path[i];
            if (IssuerChain.IsSelfIssued(certificate)) continue;
            var issuer = i + 1 < path.Count ? path[i + 1] : null;
            if (issuer is null) continue;
            foreach (var url in DistributionPoints(certificate))
            {
                if (url == ownCrlUrl()) continue;
                var now = DateTime.UtcNow;
                var held = directory.Crls().Any(c => c.IssuerDN.Equivalent(certificate.IssuerDN));
                if (held && _fetched.TryGetValue(url, out var at) && now - at < maxAge) continue;
                if (_failed.TryGetValue(url, out var failedAt) && now - failedAt < RetryAfterFailure) continue;
                Fetch(url, issuer);
            }
        }
    }

    void Fetch(string url, X509Certificate issuer)
    {
        try
        {
            using var response = _http.Send(new HttpRequestMessage(HttpMethod.Get, url));
            response.EnsureSuccessStatusCode();
            using var stream = response.Content.ReadAsStream();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var crl = new X509CrlParser().ReadCrl(buffer.ToArray()) ?? throw new InvalidDataException("no CRL in the answer");
            if (!crl.IssuerDN.Equivalent(issuer.SubjectDN)) throw new InvalidDataException($"the CRL is issued by {crl.IssuerDN}, not {issuer.SubjectDN}");
            crl.Verify(issuer.GetPublicKey());
            directory.AddCrl(crl);
            _fetched[url] = DateTime.UtcNow;
            _failed.TryRemove(url, out _);
            logger.LogInformation("Fetched the CRL of {Issuer} from {Url} ({Count} revoked, next update {Next:u})", issuer.SubjectDN, url,
                crl.GetRevokedCertificates()?.Count ?? 0, crl.NextUpdate);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or InvalidDataException
                                       or Org.BouncyCastle.Security.Certificates.CrlException or Org.BouncyCastle.Security.InvalidKeyException
                                       or Org.BouncyCastle.Security.SignatureException or ArgumentException or InvalidOperationException)
        {
            _failed[url] = DateTime.UtcNow;
            logger.LogWarning("Could not fetch the CRL of {Issuer} from {Url}: {Reason}; certificates it covers do not validate until it is at hand", issuer.SubjectDN, url, ex.Message);
        }
    }

    /// <summary>The HTTP(S) URIs of a certificate's CRL distribution points.</summary>
    public static IEnumerable<string> DistributionPoints(X509Certificate certificate)
    {
        var value = certificate.GetExtensionValue(X509Extensions.CrlDistributionPoints);
        if (value is null) yield break;
        var points = CrlDistPoint.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(value.GetOctets())).GetDistributionPoints();
        foreach (var point in points)
            if (point.DistributionPointName?.Name is GeneralNames names)
                foreach (var name in names.GetNames())
                    if (name.TagNo == GeneralName.UniformResourceIdentifier && name.Name.ToString() is { } uri && uri.StartsWith("http", StringComparison.OrdinalIgnoreCase))
                        yield return uri;
    }

    public void Dispose() => _http.Dispose();
}
