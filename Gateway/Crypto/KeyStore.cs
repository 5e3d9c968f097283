using System.Security.Cryptography;
using System.Text;
using LiteDB;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>The key store cannot be used: wrong master key, or a damaged record.</summary>
public sealed class KeyStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One stored key: the sealed PKCS#8 private key and the certificate that goes with it.</summary>
public sealed class StoredKey
{
    /// <summary>The key's name, e.g. <c>courier-ca</c>, <c>introduction-fg</c>, <c>user:alice@example.org</c>.</summary>
    public string Id { get; set; } = "";
    public KeyAlgorithm Algorithm { get; set; }
    /// <summary>PKCS#8, sealed with AES-256-GCM under the key store key, bound to <see cref="Id"/>.</summary>
    public byte[] SealedPrivateKey { get; set; } = Array.Empty<byte>();
    public byte[]? CertificateDer { get; set; }
    public DateTime CreatedUtc { get; set; }
}

/// <summary>
/// Private keys at rest in LiteDB, each sealed with AES-256-GCM under a key derived from the master key.
/// A sealed verifier written with the first key tells a wrong master key apart from a damaged store at start-up.
/// Nothing is ever stored in the clear: the private key leaves this class only as a BouncyCastle key object.
/// </summary>
public sealed class KeyStore : IKeyRing, IDisposable
{
    const string VerifierId = "verifier";
    static readonly byte[] VerifierPlaintext = Encoding.ASCII.GetBytes("gateway key store v1");

    readonly LiteDatabase _db;
    readonly ILiteCollection<StoredKey> _keys;
    readonly ILiteCollection<BsonDocument> _meta;
    readonly byte[] _key;

    public string Path { get; }

    public KeyStore(string path, MasterKey masterKey)
    {
        Path = path;
        _key = masterKey.Derive("keystore");
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _keys = _db.GetCollection<StoredKey>("keys");
        _meta = _db.GetCollection("meta");
        _cache = new(_meta);
        var verifier = _meta.FindById(VerifierId);
        if (verifier is null)
        {
            _meta.Insert(new BsonDocument { ["_id"] = VerifierId, ["sealed"] = SealedSecret.Seal(_key, VerifierPlaintext, Encoding.ASCII.GetBytes(VerifierId)) });
            return;
        }
        try
        {
            SealedSecret.Open(_key, verifier["sealed"].AsBinary, Encoding.ASCII.GetBytes(VerifierId));
        }
        catch (CryptographicException)
        {
            _db.Dispose();
            throw new KeyStoreException($"the master key from {masterKey.Source} does not open the key store {path}; fix: restore the master key this store was created with (GATEWAY_MASTER_KEY or keys/master.key).");
        }
    }

    public bool Contains(string id) => Cached(id) is not null;

    /// <summary>A key as read from the store, with its certificate and private key parsed at most once.</summary>
    sealed class CachedKey(KeyStore owner, StoredKey stored)
    {
        public StoredKey Stored { get; } = stored;
        readonly Lazy<X509Certificate?> _certificate = new(() => stored.CertificateDer is { } der ? new X509Certificate(der) : null);
        readonly Lazy<AsymmetricKeyParameter> _privateKey = new(() => owner.OpenPrivateKey(stored));
        public X509Certificate? Certificate => _certificate.Value;
        public AsymmetricKeyParameter PrivateKey => _privateKey.Value;
    }

    // Reads are served from memory (the store is opened in shared mode: a file open per operation, and every part
    // the courier handles looks up several keys); see SharedStoreCache.
    readonly Gateway.Storage.SharedStoreCache<CachedKey> _cache;

    CachedKey? Cached(string id) =>
        _cache.Get(id, key => _keys.FindById(key) is { } stored ? new CachedKey(this, stored) : null);

    public IReadOnlyList<StoredKey> List() => _keys.FindAll().OrderBy(k => k.Id, StringComparer.Ordinal).ToList();

    StoreSnapshot<IReadOnlyList<(string Id, X509Certificate Certificate)>>? _certificates;

    /// <summary>Every key's certificate, parsed (from a copy refreshed when the store changes).</summary>
    public IReadOnlyList<(string Id, X509Certificate Certificate)> Certificates() =>
        (_certificates ??= new(() => _cache.Mark(),
            () => _keys.FindAll().Where(k => k.CertificateDer is not null).Select(k => (k.Id, new X509Certificate(k.CertificateDer!))).ToList(),
            TimeSpan.FromSeconds(1))).Get();

    void Changed()
    {
        _cache.Changed();
        _certificates?.Invalidate();
    }

    /// <summary>Stores (or replaces) a key pair and its certificate.</summary>
    public void Put(string id, KeyAlgorithm algorithm, AsymmetricKeyParameter privateKey, X509Certificate? certificate)
    {
        var pkcs8 = PrivateKeyInfoFactory.CreatePrivateKeyInfo(privateKey).GetEncoded();
        try
        {
            _keys.Upsert(new StoredKey
            {
                Id = id,
                Algorithm = algorithm,
                SealedPrivateKey = SealedSecret.Seal(_key, pkcs8, Encoding.UTF8.GetBytes(id)),
                CertificateDer = certificate?.GetEncoded(),
                CreatedUtc = DateTime.UtcNow,
            });
            Changed();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>
    /// Records only the certificate under <paramref name="id"/>: the key lives on another host (a courier split over
    /// hosts keeps each element's key where that element runs, and the others' certificates).
    /// </summary>
    public void PutCertificateOnly(string id, KeyAlgorithm algorithm, X509Certificate certificate)
    {
        _keys.Upsert(new StoredKey { Id = id, Algorithm = algorithm, SealedPrivateKey = Array.Empty<byte>(), CertificateDer = certificate.GetEncoded(), CreatedUtc = DateTime.UtcNow });
        Changed();
    }

    /// <summary>Whether the private key of <paramref name="id"/> is here (not only its certificate).</summary>
    public bool HasPrivateKey(string id) => Cached(id)?.Stored is { SealedPrivateKey.Length: > 0 };

    public void SetCertificate(string id, X509Certificate certificate)
    {
        var stored = _keys.FindById(id) ?? throw new KeyStoreException($"no key {id} in {Path}");
        stored.CertificateDer = certificate.GetEncoded();
        _keys.Update(stored);
        Changed();
    }

    public X509Certificate? GetCertificate(string id) => Cached(id)?.Certificate;

    public AsymmetricKeyParameter GetPrivateKey(string id) =>
        (Cached(id) ?? throw new KeyStoreException($"no key {id} in {Path}")).PrivateKey;

    AsymmetricKeyParameter OpenPrivateKey(StoredKey stored)
    {
        var id = stored.Id;
        if (stored.SealedPrivateKey.Length == 0) throw new KeyStoreException($"only the certificate of {id} is in {Path}: its key is on the host that runs it");
        byte[] pkcs8;
        try { pkcs8 = SealedSecret.Open(_key, stored.SealedPrivateKey, Encoding.UTF8.GetBytes(id)); }
        catch (CryptographicException ex) { throw new KeyStoreException($"key {id} in {Path} cannot be opened (damaged, or moved from another record)", ex); }
        try { return PrivateKeyFactory.CreateKey(pkcs8); }
        finally { CryptographicOperations.ZeroMemory(pkcs8); }
    }

    /// <summary>
    /// Key Replacement: keeps the key and certificate of <paramref name="id"/> under <c>ID#SERIAL</c> (sealed again
    /// under that name), so that what was encrypted to it still opens after a new key takes <paramref name="id"/>.
    /// Returns the archive's id, or null when there is no private key to keep.
    /// </summary>
    public string? Archive(string id)
    {
        var stored = _keys.FindById(id);
        if (stored is not { SealedPrivateKey.Length: > 0, CertificateDer: { } der }) return null;
        var archived = ArchivedId(id, new X509Certificate(der));
        if (!Contains(archived)) Put(archived, stored.Algorithm, GetPrivateKey(id), new X509Certificate(der));
        return archived;
    }

    /// <summary>Where <see cref="Archive"/> keeps the key of <paramref name="id"/> with that certificate.</summary>
    public static string ArchivedId(string id, X509Certificate certificate) => id + ArchiveSeparator + certificate.SerialNumber.ToString(16);

    public const char ArchiveSeparator = '#';

    /// <summary>Whether <paramref name="candidate"/> is <paramref name="id"/> itself or one of its archived keys.</summary>
    public static bool IsKeyOf(string candidate, string id) =>
        candidate == id || (candidate.Length > id.Length + 1 && candidate.StartsWith(id, StringComparison.Ordinal) && candidate[id.Length] == ArchiveSeparator);

    /// <summary>The algorithm the key of <paramref name="id"/> uses.</summary>
    public KeyAlgorithm AlgorithmOf(string id) => (Cached(id)?.Stored ?? throw new KeyStoreException($"no key {id} in {Path}")).Algorithm;

    public bool Remove(string id)
    {
        var removed = _keys.Delete(id);
        Changed();
        return removed;
    }

    public void Dispose() => _db.Dispose();
}
