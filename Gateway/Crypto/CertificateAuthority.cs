using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Gateway.Crypto;

/// <summary>The courier element a courier introduction certificate belongs to.</summary>
public enum CourierElement { Foreground, Background }

/// <summary>
/// A courier acting as certificate authority (RFC 5280 profile): for the couriers below it (subordinate CA
/// certificates carrying their role as a policy, and for a Private courier name constraints to its domains),
/// for its own introduction certificates (one per element, fg and bg), for its users' S/MIME certificates,
/// and for its certificate revocation list.
/// </summary>
public sealed class CertificateAuthority(X509Certificate certificate, AsymmetricKeyParameter privateKey, string? crlUrl = null)
{
    static readonly SecureRandom Random = new();
    static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    public X509Certificate Certificate { get; } = certificate;

    /// <summary>A new network's self-signed Root courier certificate.</summary>
    public static X509Certificate CreateRoot(AsymmetricCipherKeyPair keys, string courierName, TimeSpan validity, string? crlUrl = null)
    {
        var name = CaName(courierName);
        var generator = NewGenerator(name, name, keys.Public, validity);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(true));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(keys.Public));
        generator.AddExtension(X509Extensions.CertificatePolicies, false, new CertificatePolicies(new PolicyInformation(CourierPolicies.For(CourierRole.Root))));
        if (crlUrl is not null) AddCrlDistributionPoint(generator, crlUrl);
        return generator.Generate(new Asn1SignatureFactory(KeyPairs.SignatureAlgorithm(keys.Private), keys.Private, Random));
    }

    /// <summary>The PKCS#10 request a subordinate courier sends to its superior.</summary>
    public static Pkcs10CertificationRequest CreateRequest(AsymmetricCipherKeyPair keys, string courierName) =>
        new(KeyPairs.SignatureAlgorithm(keys.Private), CaName(courierName), keys.Public, null, keys.Private);

    /// <summary>
    /// Signs a subordinate courier's request. A Private courier may only issue for its own domains: its
    /// certificate carries RFC 5280 name constraints on rfc822Name and dNSName, and a path length of 0.
    /// </summary>
    public X509Certificate SignSubordinate(Pkcs10CertificationRequest request, CourierRole role, IReadOnlyList<string> domains, TimeSpan validity)
    {
        if (role == CourierRole.Root) throw new ArgumentException("a Root courier is self-signed, not issued", nameof(role));
        if (!request.Verify()) throw new ArgumentException("the certificate request's signature does not verify", nameof(request));
        if (role == CourierRole.Private && domains.Count == 0) throw new ArgumentException("a Private courier needs at least one domain", nameof(domains));
        var info = request.GetCertificationRequestInfo();
        var publicKey = request.GetPublicKey();
        var generator = NewGenerator(Certificate.SubjectDN, info.Subject, publicKey, validity);
        generator.AddExtension(X509Extensions.BasicConstraints, true, role == CourierRole.Private ? new BasicConstraints(0) : new BasicConstraints(true));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        AddIdentifiers(generator, publicKey);
        generator.AddExtension(X509Extensions.CertificatePolicies, false, new CertificatePolicies(new PolicyInformation(CourierPolicies.For(role))));
        if (role == CourierRole.Private)
        {
            var permitted = new List<GeneralSubtree>();
            foreach (var domain in domains.Select(d => d.Trim().TrimEnd('.').ToLowerInvariant()).Distinct())
            {
                permitted.Add(new GeneralSubtree(new GeneralName(GeneralName.Rfc822Name, domain)));        // mailboxes at the domain
                permitted.Add(new GeneralSubtree(new GeneralName(GeneralName.Rfc822Name, "." + domain)));  // and at its subdomains
                permitted.Add(new GeneralSubtree(new GeneralName(GeneralName.DnsName, domain)));           // host names in it
            }
            generator.AddExtension(X509Extensions.NameConstraints, true, new NameConstraints((IList<GeneralSubtree>)permitted, (IList<GeneralSubtree>?)null));
        }
        if (crlUrl is not null) AddCrlDistributionPoint(generator, crlUrl);
        return Sign(generator);
    }

    /// <summary>A courier element's introduction certificate, used for all of that element's traffic with other couriers.</summary>
    public X509Certificate IssueIntroduction(AsymmetricKeyParameter publicKey, string courierDomain, CourierElement element, TimeSpan validity)
    {
        var label = element == CourierElement.Foreground ? "foreground" : "background";
        var address = $"{label}@{courierDomain}";
        var generator = NewGenerator(Certificate.SubjectDN, new X509Name($"CN={courierDomain} {label} introduction,O=Gateway"), publicKey, validity);
        AddEndEntity(generator, publicKey, new GeneralNames(new[]
        {
            new GeneralName(GeneralName.Rfc822Name, address),
            new GeneralName(GeneralName.DnsName, courierDomain),
        }));
        return Sign(generator);
    }

    /// <summary>A local user's S/MIME certificate (RFC 8550 profile: emailProtection, rfc822Name in the SAN).</summary>
    public X509Certificate IssueUser(AsymmetricKeyParameter publicKey, string address, TimeSpan validity)
    {
        var generator = NewGenerator(Certificate.SubjectDN, new X509Name(new[] { X509Name.CN }, new[] { address }), publicKey, validity);
        AddEndEntity(generator, publicKey, new GeneralNames(new GeneralName(GeneralName.Rfc822Name, address)));
        return Sign(generator);
    }

    /// <summary>The CRL listing this CA's revoked certificates (RFC 5280 5), numbered so relying parties keep the newest.</summary>
    /// <summary>A CRL whose entries all carry no particular reason.</summary>
    public X509Crl CreateCrl(IEnumerable<(BigInteger Serial, DateTime RevokedUtc)> revoked, BigInteger crlNumber, DateTime thisUpdateUtc, DateTime nextUpdateUtc) =>
        CreateCrl(revoked.Select(r => (r.Serial, r.RevokedUtc, false)), crlNumber, thisUpdateUtc, nextUpdateUtc);

    /// <summary>A CRL of <paramref name="revoked"/>; a superseded entry (a certificate retired by a Key Replacement)
    /// carries reason code 4 (RFC 5280 5.3.1), the others none.</summary>
    public X509Crl CreateCrl(IEnumerable<(BigInteger Serial, DateTime RevokedUtc, bool Superseded)> revoked, BigInteger crlNumber, DateTime thisUpdateUtc, DateTime nextUpdateUtc)
    {
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(Certificate.SubjectDN);
        generator.SetThisUpdate(thisUpdateUtc);
        generator.SetNextUpdate(nextUpdateUtc);
        foreach (var (serial, at, superseded) in revoked) generator.AddCrlEntry(serial, at, superseded ? CrlReason.Superseded : CrlReason.Unspecified);
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(Certificate));
        generator.AddExtension(X509Extensions.CrlNumber, false, new CrlNumber(crlNumber));
        return generator.Generate(new Asn1SignatureFactory(KeyPairs.SignatureAlgorithm(privateKey), privateKey, Random));
    }

    static X509Name CaName(string courierName) => new($"CN={courierName} Courier CA,O=Gateway");

    static X509V3CertificateGenerator NewGenerator(X509Name issuer, X509Name subject, AsymmetricKeyParameter publicKey, TimeSpan validity)
    {
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BigInteger(127, Random).Add(BigInteger.One)); // positive, non-zero, unguessable
        generator.SetIssuerDN(issuer);
        generator.SetSubjectDN(subject);
        var now = DateTime.UtcNow;
        generator.SetNotBefore(now - Backdate);
        generator.SetNotAfter(now + validity);
        generator.SetPublicKey(publicKey);
        return generator;
    }

    void AddIdentifiers(X509V3CertificateGenerator generator, AsymmetricKeyParameter publicKey)
    {
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(Certificate));
    }

    void AddEndEntity(X509V3CertificateGenerator generator, AsymmetricKeyParameter publicKey, GeneralNames subjectAltNames)
    {
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(false));
        // RSA keys encrypt the content key; EC keys agree on it (ECDH, RFC 5753).
        var usage = publicKey is ECPublicKeyParameters ? KeyUsage.DigitalSignature | KeyUsage.KeyAgreement : KeyUsage.DigitalSignature | KeyUsage.KeyEncipherment;
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(usage));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeID.id_kp_emailProtection));
        generator.AddExtension(X509Extensions.SubjectAlternativeName, false, subjectAltNames);
        AddIdentifiers(generator, publicKey);
        if (crlUrl is not null) AddCrlDistributionPoint(generator, crlUrl);
    }

    static void AddCrlDistributionPoint(X509V3CertificateGenerator generator, string url)
    {
        var name = new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, url)));
        generator.AddExtension(X509Extensions.CrlDistributionPoints, false, new CrlDistPoint(new[] { new DistributionPoint(name, null, null) }));
    }

    X509Certificate Sign(X509V3CertificateGenerator generator) =>
        generator.Generate(new Asn1SignatureFactory(KeyPairs.SignatureAlgorithm(privateKey), privateKey, Random));
}
