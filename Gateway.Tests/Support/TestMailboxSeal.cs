using Gateway.Crypto;
using Gateway.Sealing;

namespace Gateway.Tests.Support;

/// <summary>An <see cref="OwnerSeal"/> over a key store of its own, for store tests: each named user gets a key pair and
/// a (self-signed) certificate, as <c>user add</c> gives them in the gateway.</summary>
public static class TestMailboxSeal
{
    public static OwnerSeal For(string directory, params string[] users) => For(directory, KeyAlgorithm.EcP256, users);

    public static OwnerSeal For(string directory, KeyAlgorithm algorithm, params string[] users)
    {
        Directory.CreateDirectory(directory);
        // The same directory gives the same keys: a store reopened (a restart) opens what it sealed before.
        var masterPath = Path.Combine(directory, "master.key");
        if (!File.Exists(masterPath)) File.WriteAllBytes(masterPath, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var master = MasterKey.FromBytes(File.ReadAllBytes(masterPath));
        var keys = new KeyStore(Path.Combine(directory, "keys.db"), master);
        foreach (var user in users.Where(u => !keys.Contains(CourierSecureMimeContext.UserKeyId(u))))
        {
            var pair = KeyPairs.Generate(algorithm);
            keys.Put(CourierSecureMimeContext.UserKeyId(user), algorithm, pair.Private, CertificateAuthority.CreateRoot(pair, user, TimeSpan.FromDays(30)));
        }
        return new OwnerSeal(keys, master);
    }
}
