using Gateway.Crypto;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>This courier's public face: the element certificates and addresses others sign to and verify against.</summary>
public sealed class CourierIdentity(KeyStore keys, CertificateDirectory directory)
{
    sealed record Cached(X509Certificate Certificate, string? Address);

    // The key store serves the certificate from memory (the same object until the keys change); what is kept here is
    // only the address read from it, asked for at every RCPT and every message (is it Inter-Courier mail?).
    readonly Cached?[] _cache = new Cached?[2];

    (X509Certificate? Certificate, string? Address) Read(CourierElement element)
    {
        var index = element == CourierElement.Foreground ? 0 : 1;
        var certificate = keys.GetCertificate(CourierAuthority.IntroductionKeyId(element));
        if (certificate is null) return (null, null);
        if (Volatile.Read(ref _cache[index]) is { } cached && ReferenceEquals(cached.Certificate, certificate)) return (certificate, cached.Address);
        var fresh = new Cached(certificate, Certificates.EmailOf(certificate));
        Volatile.Write(ref _cache[index], fresh);
        return (certificate, fresh.Address);
    }

    public X509Certificate? ElementCertificate(CourierElement element) => Read(element).Certificate;

    /// <summary>The element's address (<c>foreground@courier</c> / <c>background@courier</c>), from its certificate.</summary>
    public string? ElementAddress(CourierElement element) => Read(element).Address;

    public bool IsReady => ElementCertificate(CourierElement.Foreground) is not null && ElementCertificate(CourierElement.Background) is not null;

    /// <summary>
    /// A user's certificate to encrypt to, still valid and chaining to our network. For a user whose key this courier
    /// holds, only the certificate stored with that key counts (anything else in the directory would encrypt to a key
    /// nobody here has); for others, the newest learnt one.
    /// </summary>
    public X509Certificate? UserCertificate(string address, CourierSecureMimeContext validator)
    {
        bool Usable(X509Certificate c) => c.IsValidNow && validator.ValidateCertificate(c).IsValid;
        if (keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address.ToLowerInvariant())) is { } own)
            return Usable(own) ? own : null;
        return directory.ForAddress(address).Select(c => c.Certificate).ToList().Where(Usable).OrderByDescending(c => c.NotAfter).FirstOrDefault();
    }
}

public static class Certificates
{
    /// <summary>The first rfc822Name of the subject alternative names, lower-cased.</summary>
    public static string? EmailOf(X509Certificate certificate)
    {
        var names = certificate.GetSubjectAlternativeNames();
        if (names is null) return null;
        foreach (var name in names)
            if (name.Count >= 2 && name[0] is int tag && tag == Org.BouncyCastle.Asn1.X509.GeneralName.Rfc822Name)
                return name[1]?.ToString()?.ToLowerInvariant();
        return null;
    }
}
