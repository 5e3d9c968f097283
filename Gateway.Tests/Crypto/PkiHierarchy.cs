using Gateway.Crypto;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Crypto;

/// <summary>A three-level courier network for tests: root -> public -> private (corp.test), with CRLs.</summary>
public sealed class PkiHierarchy
{
    public AsymmetricCipherKeyPair RootKeys { get; }
    public AsymmetricCipherKeyPair PublicKeys { get; }
    public AsymmetricCipherKeyPair PrivateKeys { get; }
    public CertificateAuthority Root { get; }
    public CertificateAuthority Public { get; }
    public CertificateAuthority Private { get; }

    public PkiHierarchy(KeyAlgorithm algorithm = KeyAlgorithm.EcP256)
    {
        RootKeys = KeyPairs.Generate(algorithm);
        PublicKeys = KeyPairs.Generate(algorithm);
        PrivateKeys = KeyPairs.Generate(algorithm);
        var rootCert = CertificateAuthority.CreateRoot(RootKeys, "root.test", TimeSpan.FromDays(3650), "https://root.test/crl");
        Root = new CertificateAuthority(rootCert, RootKeys.Private, "https://root.test/crl");
        var publicCert = Root.SignSubordinate(CertificateAuthority.CreateRequest(PublicKeys, "public.test"), CourierRole.Public, Array.Empty<string>(), TimeSpan.FromDays(1825));
        Public = new CertificateAuthority(publicCert, PublicKeys.Private, "https://public.test/crl");
        var privateCert = Public.SignSubordinate(CertificateAuthority.CreateRequest(PrivateKeys, "corp.test"), CourierRole.Private, new[] { "corp.test" }, TimeSpan.FromDays(1825));
        Private = new CertificateAuthority(privateCert, PrivateKeys.Private, "https://corp.test/crl");
    }

    public IReadOnlyList<X509Certificate> Intermediates => new[] { Public.Certificate, Private.Certificate };

    public List<X509Crl> Crls(params BigInteger[] revokedByPrivate) => new()
    {
        Root.CreateCrl(Array.Empty<(BigInteger, DateTime)>(), BigInteger.One, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddDays(7)),
        Public.CreateCrl(Array.Empty<(BigInteger, DateTime)>(), BigInteger.One, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddDays(7)),
        Private.CreateCrl(revokedByPrivate.Select(s => (s, DateTime.UtcNow.AddMinutes(-1))), BigInteger.One, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddDays(7)),
    };

    public ChainResult Validate(X509Certificate target, List<X509Crl>? crls = null, DateTime? at = null) =>
        ChainValidator.Validate(target, Intermediates, Root.Certificate, crls ?? Crls(), at);
}
