using LiteDB;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>A public certificate known to this courier, with where it came from and whether it is trusted.</summary>
public sealed class KnownCertificate
{
    /// <summary>SHA-256 of the DER encoding, hex.</summary>
    public string Id { get; set; } = "";
    public byte[] Der { get; set; } = Array.Empty<byte>();
    /// <summary>The rfc822Name addresses in the certificate, lower-cased, for recipient look-up.</summary>
    public List<string> Addresses { get; set; } = new();
    public bool IsAuthority { get; set; }
    /// <summary>A trust anchor (a Root courier's certificate).</summary>
    public bool IsAnchor { get; set; }
    /// <summary>Usable for encryption to outside correspondents only if it chains to an anchor or an admin approved it.</summary>
    public bool Approved { get; set; }
    /// <summary>"hierarchy", "harvested" (from a signed message) or "admin".</summary>
    public string Source { get; set; } = "";
    public DateTime AddedUtc { get; set; }
}

/// <summary>
/// Public certificates and CRLs in LiteDB: the network's trust anchors, courier CA certificates, certificates of
/// correspondents harvested from signed mail, and revocation lists. Private keys never come here (see <see cref="KeyStore"/>).
/// </summary>
public sealed class CertificateDirectory : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<KnownCertificate> _certificates;
    readonly ILiteCollection<BsonDocument> _crls;
    readonly ILiteCollection<BsonDocument> _revocations;

    public CertificateDirectory(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _certificates = _db.GetCollection<KnownCertificate>("certificates");
        _crls = _db.GetCollection("crls");
        _revocations = _db.GetCollection("revocations");
        _certificates.EnsureIndex(c => c.Addresses);
    }

    public KnownCertificate Add(X509Certificate certificate, string source, bool anchor = false, bool approved = false)
    {
        var der = certificate.GetEncoded();
        var id = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(der));
        var existing = _certificates.FindById(id);
        if (existing is not null)
        {
            existing.IsAnchor |= anchor;
            existing.Approved |= approved;
            _certificates.Update(existing);
            return existing;
        }
        var known = new KnownCertificate
        {
            Id = id,
            Der = der,
            Addresses = Addresses(certificate),
            IsAuthority = certificate.GetBasicConstraints() >= 0,
            IsAnchor = anchor,
            Approved = approved || anchor,
            Source = source,
            AddedUtc = DateTime.UtcNow,
        };
        _certificates.Insert(known);
        return known;
    }

    public IReadOnlyList<KnownCertificate> Entries() => _certificates.FindAll().OrderBy(c => c.AddedUtc).ToList();

    /// <summary>An admin's approval: the certificate may now be used to encrypt to its addresses.</summary>
    public bool Approve(string idPrefix)
    {
        var matches = _certificates.FindAll().Where(c => c.Id.StartsWith(idPrefix.ToUpperInvariant(), StringComparison.Ordinal)).ToList();
        if (matches.Count != 1) return false;
        matches[0].Approved = true;
        return _certificates.Update(matches[0]);
    }

    public IEnumerable<X509Certificate> All() => _certificates.FindAll().Select(c => new X509Certificate(c.Der));
    public IEnumerable<X509Certificate> Anchors() => _certificates.Find(c => c.IsAnchor).Select(c => new X509Certificate(c.Der));
    public IEnumerable<X509Certificate> Authorities() => _certificates.Find(c => c.IsAuthority && !c.IsAnchor).Select(c => new X509Certificate(c.Der));

    public IEnumerable<(X509Certificate Certificate, bool Approved)> ForAddress(string address)
    {
        var key = address.ToLowerInvariant();
        return _certificates.Find(BsonExpression.Create("Addresses[*] ANY = @0", new BsonValue(key))).Select(c => (new X509Certificate(c.Der), c.Approved));
    }

    /// <summary>Keeps the newest CRL of each issuer.</summary>
    public void AddCrl(X509Crl crl)
    {
        var issuer = crl.IssuerDN.ToString();
        var existing = _crls.FindById(issuer);
        if (existing is not null && new X509Crl(existing["der"].AsBinary).ThisUpdate >= crl.ThisUpdate) return;
        _crls.Upsert(new BsonDocument { ["_id"] = issuer, ["der"] = crl.GetEncoded() });
    }

    /// <summary>Records that this courier revoked a certificate it issued (published in its next CRL).</summary>
    public void Revoke(string issuer, BigInteger serial) =>
        _revocations.Upsert(new BsonDocument { ["_id"] = issuer + "#" + serial, ["issuer"] = issuer, ["serial"] = serial.ToString(), ["at"] = DateTime.UtcNow });

    public IEnumerable<(BigInteger Serial, DateTime RevokedUtc)> Revocations(string issuer) =>
        _revocations.Find(Query.EQ("issuer", issuer)).Select(d => (new BigInteger(d["serial"].AsString), d["at"].AsDateTime.ToUniversalTime()));

    public IEnumerable<X509Crl> Crls() => _crls.FindAll().Select(d => new X509Crl(d["der"].AsBinary));

    static List<string> Addresses(X509Certificate certificate)
    {
        var names = certificate.GetSubjectAlternativeNameExtension()?.GetNames() ?? Array.Empty<GeneralName>();
        return names.Where(n => n.TagNo == GeneralName.Rfc822Name).Select(n => n.Name.ToString()!.ToLowerInvariant()).Distinct().ToList();
    }

    public void Dispose() => _db.Dispose();
}
