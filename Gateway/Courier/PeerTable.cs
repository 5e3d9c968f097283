using Gateway.Crypto;
using LiteDB;

namespace Gateway.Courier;

/// <summary>How an element came to know a peer courier.</summary>
public enum PeerSource { Introduction, Deferral, InvitationReject, Admin }

/// <summary>
/// One peer courier as one element (Foreground or Background) knows it: its id, role, the domains it serves, where
/// that peer's element of the same kind listens, and the introduction certificate its traffic is signed with and
/// encrypted to. Each element keeps its own table; the two are never synchronised.
/// </summary>
public sealed class PeerRecord
{
    /// <summary>The courier id: the name in its courier CA certificate (e.g. <c>corp.example</c>).</summary>
    public string Id { get; set; } = "";
    public CourierRole Role { get; set; }
    /// <summary>Domains the peer serves (a Private courier's name constraints; a Public courier may list none).</summary>
    public List<string> Domains { get; set; } = new();
    /// <summary>Single addresses known to be served there (learnt from an Invitation Reject).</summary>
    public List<string> Addresses { get; set; } = new();
    /// <summary><c>host:port</c> of the peer's element of the same kind (its Foreground for a Foreground's table).</summary>
    public string Endpoint { get; set; } = "";
    /// <summary>The peer element's introduction certificate (DER).</summary>
    public byte[] IntroductionCertificate { get; set; } = Array.Empty<byte>();
    /// <summary>The peer is a courier below this one in the hierarchy (its CA was issued by ours).</summary>
    public bool Below { get; set; }
    /// <summary>The peer is this courier's superior (it signed our CA): parts nobody else serves are deferred to it.</summary>
    public bool Above { get; set; }
    /// <summary>When this element last sent the peer an Introduction of its own (null: never).</summary>
    public DateTime? IntroducedUtc { get; set; }
    /// <summary>When the newest Introduction this element took from the peer was made (its header's time): an older one
    /// never puts back an endpoint (null: none taken yet).</summary>
    public DateTime? LastIntroductionUtc { get; set; }
    public PeerSource LearntFrom { get; set; }
    public DateTime LearntUtc { get; set; }
    public DateTime UpdatedUtc { get; set; }
}

/// <summary>
/// An element's peer table (<c>ELEMENT/peers.db</c>, LiteDB in shared mode so that <c>gateway peer</c> works on a
/// running gateway). Lookups are by courier id, by served domain and by served address, all lower-cased.
/// </summary>
public sealed class PeerTable : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<PeerRecord> _peers;
    readonly ILiteCollection<BsonDocument> _meta;
    // Routing asks who serves an address and a domain for every recipient of every part; shared mode would open the
    // file each time. Answers are served from memory, cleared by every writer (see SharedStoreCache).
    readonly Gateway.Storage.SharedStoreCache<PeerRecord> _serving;

    public PeerTable(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _peers = _db.GetCollection<PeerRecord>("peers");
        _peers.EnsureIndex(p => p.Domains);
        _peers.EnsureIndex(p => p.Addresses);
        _meta = _db.GetCollection("meta");
        _serving = new Gateway.Storage.SharedStoreCache<PeerRecord>(_meta);
    }

    /// <summary>The serial number of this element's introduction certificate that its peers were last told of (null: none yet).</summary>
    public string? AnnouncedCertificate
    {
        get => _meta.FindById("announced-certificate")?["serial"].AsString;
        set => _meta.Upsert(new BsonDocument { ["_id"] = "announced-certificate", ["serial"] = value });
    }

    public static string PathIn(Gateway.Platform.DataDirectory data, CourierElement element) =>
        Path.Combine(element == CourierElement.Foreground ? data.ForegroundDirectory : data.BackgroundDirectory, "peers.db");

    /// <summary>Records a peer, or updates what is known of it (domains and addresses are merged; the first learning is kept).</summary>
    public PeerRecord Record(PeerRecord peer, DateTime nowUtc)
    {
        var id = peer.Id.ToLowerInvariant();
        var existing = _peers.FindById(id);
        var record = new PeerRecord
        {
            Id = id,
            Role = peer.Role,
            Domains = (existing?.Domains ?? new()).Concat(peer.Domains).Select(d => d.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal).ToList(),
            Addresses = (existing?.Addresses ?? new()).Concat(peer.Addresses).Select(a => a.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal).ToList(),
            Endpoint = peer.Endpoint.Length > 0 ? peer.Endpoint : existing?.Endpoint ?? "",
            IntroductionCertificate = peer.IntroductionCertificate.Length > 0 ? peer.IntroductionCertificate : existing?.IntroductionCertificate ?? Array.Empty<byte>(),
            Below = peer.Below || existing?.Below == true,
            Above = peer.Above || existing?.Above == true,
            IntroducedUtc = peer.IntroducedUtc ?? existing?.IntroducedUtc,
            LastIntroductionUtc = new[] { peer.LastIntroductionUtc, existing?.LastIntroductionUtc }.Max(),
            LearntFrom = existing?.LearntFrom ?? peer.LearntFrom,
            LearntUtc = existing?.LearntUtc ?? nowUtc,
            UpdatedUtc = nowUtc,
        };
        _peers.Upsert(record);
        _serving.Changed();
        return record;
    }

    public PeerRecord? Find(string id) => _peers.FindById(id.ToLowerInvariant());

    public IReadOnlyList<PeerRecord> All() => _peers.FindAll().OrderBy(p => p.Id, StringComparer.Ordinal).ToList();

    /// <summary>The superior courier (the one whose CA signed ours), if it has been recorded.</summary>
    public PeerRecord? Superior() => _peers.FindOne(p => p.Above);

    /// <summary>Notes that this element has introduced itself to the peer.</summary>
    public void MarkIntroduced(string id, DateTime nowUtc)
    {
        if (_peers.FindById(id.ToLowerInvariant()) is not { } peer) return;
        peer.IntroducedUtc = nowUtc;
        _peers.Update(peer);
        _serving.Changed();
    }

    public bool Forget(string id)
    {
        var forgotten = _peers.Delete(id.ToLowerInvariant());
        if (forgotten) _serving.Changed();
        return forgotten;
    }

    /// <summary>Notes that a known peer serves <paramref name="address"/> (a user transferred there); false if the peer is unknown.</summary>
    public bool AddAddress(string id, string address, DateTime nowUtc)
    {
        if (_peers.FindById(id.ToLowerInvariant()) is not { } peer) return false;
        if (!peer.Addresses.Contains(address.ToLowerInvariant())) peer.Addresses = peer.Addresses.Append(address.ToLowerInvariant()).Order(StringComparer.Ordinal).ToList();
        peer.UpdatedUtc = nowUtc;
        _peers.Update(peer);
        _serving.Changed();
        return true;
    }

    /// <summary>The peer an address is known to be served by (Invitation Reject), if any.</summary>
    public PeerRecord? ServingAddress(string address)
    {
        var key = address.ToLowerInvariant();
        return _serving.Get("address:" + key, _ =>
            _peers.Find(BsonExpression.Create("Addresses[*] ANY = @0", new BsonValue(key))).OrderBy(p => p.Id, StringComparer.Ordinal).FirstOrDefault());
    }

    /// <summary>The peer serving a domain (exact match), if any; a courier below us first, then by id.</summary>
    public PeerRecord? ServingDomain(string domain)
    {
        var key = domain.ToLowerInvariant();
        return _serving.Get("domain:" + key, _ =>
            _peers.Find(BsonExpression.Create("Domains[*] ANY = @0", new BsonValue(key)))
                .OrderByDescending(p => p.Below).ThenBy(p => p.Id, StringComparer.Ordinal).FirstOrDefault());
    }

    public void Dispose() => _db.Dispose();
}
