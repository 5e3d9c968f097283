using System.Security.Cryptography;
using System.Text;

namespace Gateway.Platform;

/// <summary>
/// The layout of the data directory and its master secret. The master secret (32 random octets, mode 0600)
/// is created on first start; stores derive the keys that protect their secrets at rest from it.
/// </summary>
public sealed class DataDirectory
{
    public string Root { get; }
    public string QueueDirectory => Path.Combine(Root, "queue");
    public string MailboxDirectory => Path.Combine(Root, "mailboxes");
    public string TlsDirectory => Path.Combine(Root, "tls");
    public string UserDatabasePath => Path.Combine(Root, "users.db");
    string MasterKeyPath => Path.Combine(Root, "keys", "master.key");

    public DataDirectory(string root)
    {
        Root = Path.GetFullPath(root);
    }

    /// <summary>Creates the directory tree (owner-only) if it is missing.</summary>
    public void EnsureCreated()
    {
        DurableFile.CreatePrivateDirectory(Root);
        DurableFile.CreatePrivateDirectory(Path.Combine(Root, "keys"));
        DurableFile.CreatePrivateDirectory(TlsDirectory);
        DurableFile.CreatePrivateDirectory(QueueDirectory);
        DurableFile.CreatePrivateDirectory(MailboxDirectory);
    }

    /// <summary>Derives a purpose-specific secret from the master key (HKDF-SHA256).</summary>
    public byte[] DeriveSecret(string purpose, int length = 32)
    {
        var master = LoadOrCreateMasterKey();
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, master, length, info: Encoding.UTF8.GetBytes("gateway/" + purpose));
    }

    byte[] LoadOrCreateMasterKey()
    {
        if (File.Exists(MasterKeyPath))
        {
            var existing = File.ReadAllBytes(MasterKeyPath);
            if (existing.Length != 32) throw new InvalidOperationException($"{MasterKeyPath} is damaged (expected 32 octets); restore it from backup.");
            return existing;
        }
        DurableFile.CreatePrivateDirectory(Path.GetDirectoryName(MasterKeyPath)!);
        var key = RandomNumberGenerator.GetBytes(32);
        var temp = MasterKeyPath + ".tmp";
        File.WriteAllBytes(temp, key);
        DurableFile.MakePrivate(temp);
        File.Move(temp, MasterKeyPath);
        DurableFile.SyncDirectory(Path.GetDirectoryName(MasterKeyPath)!);
        return key;
    }
}
