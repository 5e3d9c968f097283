using System.Security.Cryptography;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Tests.Support;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;

namespace Gateway.Tests.Crypto;

public class KeyStoreTests
{
    [Fact]
    public void Keys_survive_reopening_and_are_never_stored_in_the_clear()
    {
        var data = new DataDirectory(TempDirectory.Create("keystore"));
        data.EnsureCreated();
        var keys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var network = new PkiHierarchy();
        var cert = network.Private.IssueUser(keys.Public, "alice@corp.test", TimeSpan.FromDays(30));
        using (var store = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
            store.Put("user:alice@corp.test", KeyAlgorithm.EcP256, keys.Private, cert);

        using (var store = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
        {
            var back = (ECPrivateKeyParameters)store.GetPrivateKey("user:alice@corp.test");
            Assert.Equal(((ECPrivateKeyParameters)keys.Private).D, back.D);
            Assert.Equal(cert, store.GetCertificate("user:alice@corp.test"));
        }

        var file = File.ReadAllBytes(data.KeyStorePath);
        var scalar = ((ECPrivateKeyParameters)keys.Private).D.ToByteArrayUnsigned();
        var pkcs8 = PrivateKeyInfoFactory.CreatePrivateKeyInfo(keys.Private).GetEncoded();
        Assert.Equal(-1, file.AsSpan().IndexOf(scalar));
        Assert.Equal(-1, file.AsSpan().IndexOf(pkcs8.AsSpan(0, 24)));
        Assert.NotEqual(-1, file.AsSpan().IndexOf(cert.GetEncoded().AsSpan(0, 64))); // the certificate is public and stored as is
    }

    [Fact]
    public void A_wrong_master_key_is_a_clear_start_up_error()
    {
        var data = new DataDirectory(TempDirectory.Create("wrongkey"));
        data.EnsureCreated();
        using (var store = new KeyStore(data.KeyStorePath, MasterKey.Load(data)))
            store.Put("courier-ca", KeyAlgorithm.EcP256, KeyPairs.Generate(KeyAlgorithm.EcP256).Private, null);
        var other = MasterKey.FromBytes(RandomNumberGenerator.GetBytes(32), "GATEWAY_MASTER_KEY");
        var ex = Assert.Throws<KeyStoreException>(() => new KeyStore(data.KeyStorePath, other));
        Assert.Contains("does not open the key store", ex.Message);
        Assert.Contains("fix:", ex.Message);
    }

    [Fact]
    public void A_sealed_key_moved_to_another_record_does_not_open()
    {
        var data = new DataDirectory(TempDirectory.Create("swap"));
        data.EnsureCreated();
        using var store = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
        store.Put("a", KeyAlgorithm.EcP256, KeyPairs.Generate(KeyAlgorithm.EcP256).Private, null);
        var sealedA = store.List().Single(k => k.Id == "a").SealedPrivateKey;
        var key = MasterKey.Load(data).Derive("keystore");
        Assert.ThrowsAny<CryptographicException>(() => SealedSecret.Open(key, sealedA, "b"u8));
        var tampered = sealedA.ToArray();
        tampered[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => SealedSecret.Open(key, tampered, "a"u8));
    }

    [Fact]
    public void A_master_key_file_readable_by_others_is_refused()
    {
        var data = new DataDirectory(TempDirectory.Create("mode"));
        data.EnsureCreated();
        MasterKey.Load(data);
        File.SetUnixFileMode(data.MasterKeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var ex = Assert.Throws<MasterKeyException>(() => MasterKey.Load(data));
        Assert.Contains("chmod 600", ex.Message);
    }
}

[Collection(ProcessEnvironmentCollection.Name)]
public class MasterKeyEnvironmentTests
{
    [Fact]
    public void The_master_key_can_come_from_the_environment()
    {
        var data = new DataDirectory(TempDirectory.Create("envkey"));
        var key = RandomNumberGenerator.GetBytes(32);
        Environment.SetEnvironmentVariable(MasterKey.EnvironmentVariable, Convert.ToBase64String(key));
        try
        {
            var loaded = MasterKey.Load(data);
            Assert.Equal(MasterKey.EnvironmentVariable, loaded.Source);
            Assert.Equal(MasterKey.FromBytes(key).Derive("x"), loaded.Derive("x"));
            Assert.False(File.Exists(data.MasterKeyPath));
            Environment.SetEnvironmentVariable(MasterKey.EnvironmentVariable, "not base64!");
            Assert.Throws<MasterKeyException>(() => MasterKey.Load(data));
        }
        finally { Environment.SetEnvironmentVariable(MasterKey.EnvironmentVariable, null); }
    }
}
