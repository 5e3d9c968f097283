using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;

namespace Gateway.Delivery;

/// <summary>
/// Whether a server certificate seen on an outbound connection (SMTP with Tls = Verify or under an MTA-STS policy, an
/// MTA-STS policy fetch) is trusted: valid for the host name and chaining to the system's roots or to the authorities
/// in Delivery:TrustedCertificatesPath (a private PKI).
/// </summary>
public sealed class OutboundTrust
{
    readonly X509Certificate2Collection _extra = new();

    public OutboundTrust(DeliveryOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.TrustedCertificatesPath)) _extra.ImportFromPemFile(options.TrustedCertificatesPath);
    }

    public bool Validates(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None) return true;
        // A wrong name, or no certificate, is never made good by another root.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null || _extra.Count == 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_extra);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
