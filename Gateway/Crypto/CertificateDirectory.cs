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
    readonly ILiteCollection<BsonDocument> _retired;
    readonly ILiteCollection<BsonDocument> _meta;

    public CertificateDirectory(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _certificates = _db.GetCollection<KnownCertificate>("certificates");
        _crls = _db.GetCollection("crls");
        _revocations = _db.GetCollection("revocations");
        _retired = _db.GetCollection("retired");
        _meta = _db.GetCollection("meta");
        _certificates.EnsureIndex(c => c.Addresses);
    }

    sealed record Parsed(IReadOnlyList<(KnownCertificate Entry, X509Certificate Certificate)> Certificates, IReadOnlyList<X509Crl> Crls);

    const string GenerationId = "generation";
    StoreSnapshot<Parsed>? _parsed;

    /// <summary>Everything known, parsed, from a copy refreshed when the directory changes (here or, within a second, in another process).</summary>
    Parsed Snapshot() => (_parsed ??= new(() => _meta.FindById(GenerationId)?["mark"].AsString,
        () => new Parsed(_certificates.FindAll().Select(c => (c, new X509Certificate(c.Der))).ToList(), _crls.FindAll().Select(d => new X509Crl(d["der"].AsBinary)).ToList()),
        TimeSpan.FromSeconds(1))).Get();

    void Changed()
    {
        _meta.Upsert(new BsonDocument { ["_id"] = GenerationId, ["mark"] = Guid.NewGuid().ToString("N") });
        _parsed?.Invalidate();
    }

    /// <summary>Serialises look-up-then-write in this process: the Foreground and the Background often learn the same
    /// certificate at the same moment (both parts of one message arrive together).</summary>
    readonly Lock _writeGate = new();

    public KnownCertificate Add(X509Certificate certificate, string source, bool anchor = false, bool approved = false)
    {
        lock (_writeGate) return AddLocked(certificate, source, anchor, approved);
    }

    KnownCertificate AddLocked(X509Certificate certificate, string source, bool anchor, bool approved)
    {
        var der = certificate.GetEncoded();
        var id = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(der));
        var existing = _certificates.FindById(id);
        if (existing is not null)
        {
            if ((anchor && !existing.IsAnchor) || (approved && !existing.Approved))
            {
                // Known already (every signed mail from a correspondent is harvested again): write only what changed.
                existing.IsAnchor |= anchor;
                existing.Approved |= approved;
                _certificates.Update(existing);
                Changed();
            }
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
        try
        {
            _certificates.Insert(known);
        }
        catch (LiteException ex) when (ex.ErrorCode == LiteException.INDEX_DUPLICATE_KEY)
        {
            // Another process (an admin verb) added it between our look-up and our insert: the same certificate.
            var added = _certificates.FindById(id);
            if (added is null) throw;
            return added;
        }
        Changed();
        return known;
    }

    public IReadOnlyList<KnownCertificate> Entries() => _certificates.FindAll().OrderBy(c => c.AddedUtc).ToList();

    /// <summary>An admin's approval: the certificate may now be used to encrypt to its addresses.</summary>
    public bool Approve(string idPrefix)
    {
        var matches = _certificates.FindAll().Where(c => c.Id.StartsWith(idPrefix.ToUpperInvariant(), StringComparison.Ordinal)).ToList();
        if (matches.Count != 1) return false;
        matches[0].Approved = true;
        var updated = _certificates.Update(matches[0]);
        Changed();
        return updated;
    }

    public IEnumerable<X509Certificate> All() => Snapshot().Certificates.Select(c => c.Certificate);
    public IEnumerable<X509Certificate> Anchors() => Snapshot().Certificates.Where(c => c.Entry.IsAnchor).Select(c => c.Certificate);
    public IEnumerable<X509Certificate> Authorities() => Snapshot().Certificates.Where(c => c.Entry.IsAuthority && !c.Entry.IsAnchor).Select(c => c.Certificate);

    public IEnumerable<(X509Certificate Certificate, bool Approved)> ForAddress(string address)
    {
        var key = address.ToLowerInvariant();
        return _certificates.Find(BsonExpression.Create("Addresses[*] ANY = @0", new BsonValue(key))).Select(c => (new X509Certificate(c.Der), c.Approved));
    }

    /// <summary>
    /// Keeps the newest CRL of each issuer: the higher CRL number (RFC 5280 5.2.3) when both carry one, else the later
    /// thisUpdate. Times have one-second resolution, so two CRLs of one second are told apart by their numbers.
    /// </summary>
    public void AddCrl(X509Crl crl)
    {
        lock (_writeGate) AddCrlLocked(crl);
    }

    void AddCrlLocked(X509Crl crl)
    {
        var issuer = crl.IssuerDN.ToString();
        var existing = _crls.FindById(issuer);
        if (existing is not null && !IsNewer(crl, new X509Crl(existing["der"].AsBinary))) return;
        _crls.Upsert(new BsonDocument { ["_id"] = issuer, ["der"] = crl.GetEncoded() });
        Changed();
    }

    static bool IsNewer(X509Crl candidate, X509Crl current)
    {
        static Org.BouncyCastle.Math.BigInteger? NumberOf(X509Crl c) =>
            c.GetExtensionValue(Org.BouncyCastle.Asn1.X509.X509Extensions.CrlNumber) is { } v
                ? Org.BouncyCastle.Asn1.DerInteger.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(v.GetOctets())).PositiveValue
                : null;
        if (NumberOf(candidate) is { } a && NumberOf(current) is { } b) return a.CompareTo(b) > 0;
        return candidate.ThisUpdate > current.ThisUpdate;
    }

    /// <summary>Records that this courier revoked a certificate it issued (published in its next CRL). A
    /// <paramref name="superseded"/> one was retired by a Key Replacement, not compromised (RFC 5280 reason code 4).</summary>
    public void Revoke(string issuer, BigInteger serial, bool superseded = false)
    {
        _revocations.Upsert(new BsonDocument
        {
            ["_id"] = IdOf(issuer, serial), ["issuer"] = issuer, ["serial"] = serial.ToString(), ["at"] = DateTime.UtcNow, ["superseded"] = superseded,
        });
    }

    public IEnumerable<(BigInteger Serial, DateTime RevokedUtc, bool Superseded)> Revocations(string issuer) =>
        _revocations.Find(Query.EQ("issuer", issuer)).Select(d => (new BigInteger(d["serial"].AsString), d["at"].AsDateTime.ToUniversalTime(),
            d.TryGetValue("superseded", out var s) && s.IsBoolean && s.AsBoolean));

    /// <summary>Whether this courier revoked the certificate only because a Key Replacement retired it.</summary>
    public bool IsSuperseded(X509Certificate certificate) =>
        _revocations.FindById(IdOf(certificate.IssuerDN.ToString(), certificate.SerialNumber)) is { } d && d.TryGetValue("superseded", out var s) && s.IsBoolean && s.AsBoolean;

    public IEnumerable<X509Crl> Crls() => Snapshot().Crls;

    /// <summary>Records a certificate of ours that a Key Replacement retired, to be revoked once nothing signed with it
    /// waits to leave (<see cref="Courier.IntroductionRetirement"/>).</summary>
    public void Retire(string issuer, BigInteger serial, CourierElement element, DateTime retiredUtc) =>
        _retired.Upsert(new BsonDocument
        {
            ["_id"] = IdOf(issuer, serial), ["issuer"] = issuer, ["serial"] = serial.ToString(), ["element"] = element.ToString(), ["at"] = retiredUtc,
        });

    /// <summary>The retired certificates not revoked yet.</summary>
    public IReadOnlyList<(string Issuer, BigInteger Serial, CourierElement Element, DateTime RetiredUtc)> Retired() =>
        _retired.FindAll().Select(d => (d["issuer"].AsString, new BigInteger(d["serial"].AsString), Enum.Parse<CourierElement>(d["element"].AsString),
            d["at"].AsDateTime.ToUniversalTime())).ToList();

    /// <summary>Takes a retired certificate off the list (it has been revoked).</summary>
    public void Unretire(string issuer, BigInteger serial) => _retired.Delete(IdOf(issuer, serial));

    /// <summary>How a certificate of one issuer is named in the revocation and retirement records.</summary>
    static string IdOf(string issuer, BigInteger serial) => issuer + "#" + serial;

    /// <summary>Where CRLs of other couriers come from (set by the host; admin verbs work without one).</summary>
    public ICrlSource? CrlSource { get; set; }

    static List<string> Addresses(X509Certificate certificate)
    {
        var names = certificate.GetSubjectAlternativeNameExtension()?.GetNames() ?? Array.Empty<GeneralName>();
        return names.Where(n => n.TagNo == GeneralName.Rfc822Name).Select(n => n.Name.ToString()!.ToLowerInvariant()).Distinct().ToList();
    }

    public void Dispose() => _db.Dispose();
}
