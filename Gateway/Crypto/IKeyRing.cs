using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>The private keys (and their certificates) one part of the courier may use.</summary>
public interface IKeyRing
{
    bool Contains(string id);
    IReadOnlyList<StoredKey> List();
    /// <summary>The certificates of the keys in this ring, parsed.</summary>
    IReadOnlyList<(string Id, X509Certificate Certificate)> Certificates();
    X509Certificate? GetCertificate(string id);
    AsymmetricKeyParameter GetPrivateKey(string id);
}

/// <summary>
/// A view of the <see cref="KeyStore"/> limited to some key ids: the Foreground sees only its introduction key,
/// the Background only its own, the Agent only users' keys. A key outside the view does not exist for its holder,
/// so an element cannot decrypt what was encrypted for another even though all live in one process.
/// </summary>
public sealed class ScopedKeyRing(KeyStore store, string name, Func<string, bool> allowed) : IKeyRing
{
    public string Name { get; } = name;

    public bool Contains(string id) => allowed(id) && store.Contains(id);

    public IReadOnlyList<StoredKey> List() => store.List().Where(k => allowed(k.Id)).ToList();

    public IReadOnlyList<(string Id, X509Certificate Certificate)> Certificates() => store.Certificates().Where(c => allowed(c.Id)).ToList();

    public X509Certificate? GetCertificate(string id) => allowed(id) ? store.GetCertificate(id) : null;

    public AsymmetricKeyParameter GetPrivateKey(string id) =>
        allowed(id) ? store.GetPrivateKey(id) : throw new KeyStoreException($"key {id} is not available to the {Name}");

    public static ScopedKeyRing Foreground(KeyStore store) =>
        new(store, "Foreground", id => KeyStore.IsKeyOf(id, CourierAuthority.IntroductionKeyId(CourierElement.Foreground)));

    public static ScopedKeyRing Background(KeyStore store) =>
        new(store, "Background", id => KeyStore.IsKeyOf(id, CourierAuthority.IntroductionKeyId(CourierElement.Background)));

    public static ScopedKeyRing Agent(KeyStore store) =>
        new(store, "Agent", id => id.StartsWith(CourierSecureMimeContext.UserKeyPrefix, StringComparison.Ordinal));
}
