using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.Crypto;

namespace Gateway.Crypto;

/// <summary>An admin operation on the courier CA that cannot be done as asked; the message says why and what to do.</summary>
public sealed class CourierAuthorityException(string message) : Exception(message);

/// <summary>
/// This courier's certificate authority, kept in its key store and certificate directory: creating a Root, or
/// requesting a certificate from a superior and installing the answer; signing subordinate couriers; issuing
/// introduction and user certificates; revoking and publishing the CRL.
/// </summary>
public sealed class CourierAuthority(KeyStore keys, CertificateDirectory directory, string? crlUrl = null)
{
    /// <summary>Where this courier publishes its CRL (HTTPS), written into every certificate it issues.</summary>
    public string? CrlUrl { get; } = crlUrl;

    /// <summary>The CRL location under a courier's public HTTPS URL.</summary>
    public static string? CrlUrlFor(string? publicUrl) => string.IsNullOrWhiteSpace(publicUrl) ? null : publicUrl.TrimEnd('/') + "/crl/courier.crl";

    public const string CaKeyId = "courier-ca";
    static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);
    static readonly TimeSpan UserValidity = TimeSpan.FromDays(730);

    public X509Certificate? Certificate => keys.GetCertificate(CaKeyId);
    public bool HasPendingRequest => keys.Contains(CaKeyId) && Certificate is null;

    public CourierRole? Role => Certificate is { } c ? RoleOf(c) : null;

    public static CourierRole? RoleOf(X509Certificate certificate)
    {
        var value = certificate.GetExtensionValue(X509Extensions.CertificatePolicies);
        if (value is null) return null;
        return CertificatePolicies.GetInstance(value.GetOctets()).GetPolicyInformation()
            .Select(p => CourierPolicies.RoleOf(p.PolicyIdentifier.Id)).FirstOrDefault(r => r is not null);
    }

    CertificateAuthority Authority() =>
        new(Certificate ?? throw new CourierAuthorityException("this courier has no CA certificate yet; fix: 'gateway ca init --root' for a new network, or 'gateway ca request' and 'gateway ca install'."),
            keys.GetPrivateKey(CaKeyId), CrlUrl);

    /// <summary>Starts a new network: this courier becomes its Root.</summary>
    public X509Certificate InitRoot(string courierName, KeyAlgorithm algorithm)
    {
        if (keys.Contains(CaKeyId)) throw new CourierAuthorityException("this courier already has a CA key; nothing was changed ('gateway ca show' tells which).");
        var pair = KeyPairs.Generate(algorithm);
        var certificate = CertificateAuthority.CreateRoot(pair, courierName, CaValidity, CrlUrl);
        keys.Put(CaKeyId, algorithm, pair.Private, certificate);
        directory.Add(certificate, "hierarchy", anchor: true);
        IssueIntroductions(courierName, algorithm);
        return certificate;
    }

    /// <summary>Makes this courier's CA key and the PKCS#10 request its superior signs (PEM).</summary>
    public string CreateRequest(string courierName, KeyAlgorithm algorithm)
    {
        if (Certificate is not null) throw new CourierAuthorityException("this courier already has a CA certificate; nothing was changed.");
        AsymmetricCipherKeyPair pair;
        if (keys.Contains(CaKeyId))
        {
            // A request was made before: make the same request again from the same key.
            var privateKey = keys.GetPrivateKey(CaKeyId);
            pair = new AsymmetricCipherKeyPair(PublicFromPrivate(privateKey), privateKey);
        }
        else
        {
            pair = KeyPairs.Generate(algorithm);
            keys.Put(CaKeyId, algorithm, pair.Private, null);
        }
        return Pem(CertificateAuthority.CreateRequest(pair, courierName));
    }

    /// <summary>
    /// Signs a subordinate courier's request; returns the PEM chain to send back (its certificate first, our root last),
    /// followed by our two introduction certificates, so the new courier can defer to us and introduce itself.
    /// </summary>
    public string SignRequest(string requestPem, CourierRole role, IReadOnlyList<string> domains)
    {
        var request = ReadPem<Pkcs10CertificationRequest>(requestPem, "certificate request");
        var myRole = Role;
        if (myRole == CourierRole.Private) throw new CourierAuthorityException("a Private courier cannot sign couriers below it (its certificate has a path length of 0).");
        var issued = Authority().SignSubordinate(request, role, domains, CaValidity);
        directory.Add(issued, "issued");
        return Pem(new object[] { issued }.Concat(OwnChain()).Concat(Introductions()).ToArray());
    }

    /// <summary>This courier's introduction certificates (Foreground, Background), those that exist.</summary>
    public IEnumerable<X509Certificate> Introductions() =>
        new[] { CourierElement.Foreground, CourierElement.Background }.Select(e => keys.GetCertificate(IntroductionKeyId(e))).OfType<X509Certificate>();

    /// <summary>Our introduction certificates followed by our CA chain up to the Root (what a peer needs to record us).</summary>
    public string ExportIntroduction() =>
        Pem(Introductions().Cast<object>().Concat(OwnChain()).ToArray());

    /// <summary>Installs the chain the superior sent back. It must be for our pending key and must validate to the root it ends with.</summary>
    public X509Certificate InstallChain(string chainPem)
    {
        if (!HasPendingRequest) throw new CourierAuthorityException("there is no pending request to install a certificate for; fix: 'gateway ca request' first.");
        var all = ReadAllPem<X509Certificate>(chainPem);
        // The superior's introduction certificates (end-entity) follow the CA chain; they are not part of it.
        var chain = all.Where((c, i) => i == 0 || c.GetBasicConstraints() >= 0).ToList();
        SuperiorIntroductions = all.Skip(1).Where(c => c.GetBasicConstraints() < 0).ToList();
        if (chain.Count < 2) throw new CourierAuthorityException("the chain must hold our certificate and at least the root; fix: install the whole file 'gateway ca sign' wrote.");
        var ours = chain[0];
        var privateKey = keys.GetPrivateKey(CaKeyId);
        if (!ours.GetPublicKey().Equals(PublicFromPrivate(privateKey)))
            throw new CourierAuthorityException("the first certificate in the chain is not for this courier's key; fix: install the answer to this courier's own request.");
        var root = chain[^1];
        if (!root.IssuerDN.Equivalent(root.SubjectDN)) throw new CourierAuthorityException("the chain does not end with a self-signed root.");
        var validation = ChainValidator.Validate(ours, chain.Skip(1).Take(chain.Count - 2), root, Array.Empty<X509Crl>().Concat(directory.Crls()), null, requireRevocation: false);
        if (!validation.IsValid) throw new CourierAuthorityException("the chain does not validate: " + validation.Reason);
        keys.SetCertificate(CaKeyId, ours);
        directory.Add(root, "hierarchy", anchor: true);
        directory.Add(ours, "hierarchy"); // the elements see only the directory: our own CA is how they reach the Root
        foreach (var intermediate in chain.Skip(1).Take(chain.Count - 2)) directory.Add(intermediate, "hierarchy");
        var courierName = ours.SubjectDN.GetValueList(X509Name.CN).Cast<string>().First().Replace(" Courier CA", "");
        IssueIntroductions(courierName, keys.List().Single(k => k.Id == CaKeyId).Algorithm);
        return ours;
    }

    /// <summary>
    /// Key Replacement for the courier: new keys and introduction certificates for the Foreground and the Background,
    /// the old keys kept (parts peers still encrypt to them open). The elements introduce themselves again to every
    /// peer they know at their next look (<c>ElementRelay.AnnounceNewCertificate</c>), so peers learn the new ones.
    /// The old certificates are retired: revoked as soon as no message signed with them waits to leave, so that an
    /// Introduction recorded before the rekey can never put them back at a peer (<c>IntroductionRetirement</c>).
    /// Both elements' keys must be here. Returns the old and new serial numbers per element.
    /// </summary>
    public IReadOnlyList<(CourierElement Element, string Old, string New)> RekeyIntroductions()
    {
        var ca = Certificate ?? throw new CourierAuthorityException("this courier has no CA certificate yet; nothing to rekey");
        var old = new[] { CourierElement.Foreground, CourierElement.Background }
            .Select(e => (Element: e, Certificate: keys.GetCertificate(IntroductionKeyId(e)))).ToList();
        foreach (var (element, _) in old)
            if (!keys.HasPrivateKey(IntroductionKeyId(element)))
                throw new CourierAuthorityException($"the {element}'s key is not here (it runs on another host); rekey the courier where all its keys are");
        var courierName = ca.SubjectDN.GetValueList(X509Name.CN).Cast<string>().First().Replace(" Courier CA", "");
        IssueIntroductions(courierName, keys.AlgorithmOf(IntroductionKeyId(CourierElement.Foreground)));
        foreach (var (element, certificate) in old)
            if (certificate is not null && certificate.IssuerDN.Equivalent(ca.SubjectDN))
                directory.Retire(ca.SubjectDN.ToString(), certificate.SerialNumber, element, DateTime.UtcNow);
        return old.Select(o => (o.Element, o.Certificate?.SerialNumber.ToString(16) ?? "-", keys.GetCertificate(IntroductionKeyId(o.Element))!.SerialNumber.ToString(16))).ToList();
    }

    /// <summary>After <see cref="InstallChain"/>: the superior's introduction certificates that came with the chain.</summary>
    public IReadOnlyList<X509Certificate> SuperiorIntroductions { get; private set; } = Array.Empty<X509Certificate>();

    public static string IntroductionKeyId(CourierElement element) =>
        element == CourierElement.Foreground ? "introduction-foreground" : "introduction-background";

    /// <summary>
    /// The courier's two introduction certificates, one per element (Foreground, Background), each with its own key:
    /// they are what the elements use for all traffic with other couriers, so fg and bg never share a key.
    /// </summary>
    void IssueIntroductions(string courierDomain, KeyAlgorithm algorithm)
    {
        var authority = Authority();
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
        {
            keys.Archive(IntroductionKeyId(element));
            var pair = KeyPairs.Generate(algorithm);
            var certificate = authority.IssueIntroduction(pair.Public, courierDomain, element, CaValidity);
            keys.Put(IntroductionKeyId(element), algorithm, pair.Private, certificate);
        }
    }

    /// <summary>
    /// Issues a local user's S/MIME certificate (and key), kept in the key store. A key the user had is kept under its
    /// certificate's serial (Key Replacement): mail encrypted to it still opens. Issues for one address never overlap
    /// (<see cref="UserIssueGate"/>): two at once would archive and overwrite each other's key, leaving the directory
    /// with a certificate whose private key is gone.
    /// </summary>
    public X509Certificate IssueUser(string address, KeyAlgorithm algorithm)
    {
        address = address.ToLowerInvariant();
        lock (UserIssueGate)
        {
            keys.Archive(CourierSecureMimeContext.UserKeyId(address));
            var pair = KeyPairs.Generate(algorithm);
            var certificate = Authority().IssueUser(pair.Public, address, UserValidity);
            keys.Put(CourierSecureMimeContext.UserKeyId(address), algorithm, pair.Private, certificate);
            directory.Add(certificate, "issued");
            return certificate;
        }
    }

    /// <summary>Held while a user's certificate is issued (<see cref="IssueUser"/> takes it; it may be entered again by
    /// the same thread), by everyone who checks for a certificate and issues one if there is none.</summary>
    public static readonly Lock UserIssueGate = new();

    /// <summary>
    /// The local user's certificate, issued now if the user has none yet (an account made before this courier had a
    /// CA); null while this courier has no CA to issue it with. Concurrent callers get the one certificate.
    /// </summary>
    public X509Certificate? EnsureUser(string address, KeyAlgorithm algorithm)
    {
        var id = CourierSecureMimeContext.UserKeyId(address.ToLowerInvariant());
        if (keys.GetCertificate(id) is { } existing) return existing;
        if (Certificate is null) return null;
        lock (UserIssueGate) return keys.GetCertificate(id) ?? IssueUser(address, algorithm);
    }

    /// <summary>Revokes a certificate we issued and puts a fresh CRL in our own directory at once; a
    /// <paramref name="superseded"/> one was retired by a Key Replacement (what it signed before stays readable here).</summary>
    public void Revoke(BigInteger serial, bool superseded = false)
    {
        directory.Revoke(Certificate?.SubjectDN.ToString() ?? "", serial, superseded);
        if (Certificate is not null) directory.AddCrl(CurrentCrl());
    }

    /// <summary>A fresh CRL of our revocations, valid for a week.</summary>
    public X509Crl CurrentCrl()
    {
        var issuer = Certificate ?? throw new CourierAuthorityException("no CA certificate; nothing to publish");
        var revoked = directory.Revocations(issuer.SubjectDN.ToString()).ToList();
        var now = DateTime.UtcNow;
        return Authority().CreateCrl(revoked, BigInteger.ValueOf(now.Ticks), now.AddMinutes(-5), now.AddDays(7));
    }

    /// <summary>
    /// Our courier CA and the CAs above it: what a signature leaving this courier carries, so that a courier anywhere
    /// under the same Root can build the path (a Deferral reaches couriers that never met ours). Without
    /// <paramref name="withRoot"/> the self-issued Root is left out (every courier has it), so a standalone or Root
    /// courier carries nothing.
    /// </summary>
    public IReadOnlyList<X509Certificate> OwnChain(bool withRoot = true)
    {
        if (Certificate is not { } ca) return Array.Empty<X509Certificate>();
        var chain = new[] { ca }.Concat(ChainToRoot(ca));
        return (withRoot ? chain : chain.Where(c => !IssuerChain.IsSelfIssued(c))).ToList();
    }

    /// <summary>The CA certificates above <paramref name="certificate"/> up to and including the root.</summary>
    public IEnumerable<X509Certificate> ChainToRoot(X509Certificate certificate)
    {
        var known = directory.All().ToList();
        if (Certificate is { } own) known.Add(own);
        return IssuerChain.Issuers(certificate, known, IssuerChain.IsSelfIssued);
    }

    static AsymmetricKeyParameter PublicFromPrivate(AsymmetricKeyParameter privateKey) => privateKey switch
    {
        Org.BouncyCastle.Crypto.Parameters.ECPrivateKeyParameters ec =>
            new Org.BouncyCastle.Crypto.Parameters.ECPublicKeyParameters(ec.Parameters.G.Multiply(ec.D).Normalize(), ec.Parameters),
        Org.BouncyCastle.Crypto.Parameters.RsaPrivateCrtKeyParameters rsa =>
            new Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent),
        _ => throw new NotSupportedException("unsupported key type"),
    };

    public static string Pem(params object[] objects)
    {
        var text = new StringWriter();
        var writer = new PemWriter(text);
        foreach (var o in objects) writer.WriteObject(o);
        return text.ToString();
    }

    static T ReadPem<T>(string pem, string what) => ReadAllPem<T>(pem).FirstOrDefault()
        ?? throw new CourierAuthorityException($"no {what} found in the PEM input");

    /// <summary>Every object of type <typeparamref name="T"/> in a PEM text, in order (other objects are skipped).</summary>
    public static List<T> ReadAllPem<T>(string pem)
    {
        var reader = new PemReader(new StringReader(pem));
        var result = new List<T>();
        object? o;
        while ((o = reader.ReadObject()) is not null) if (o is T t) result.Add(t);
        return result;
    }
}
