
namespace Gateway.Platform;

/// <summary>
/// The layout of the data directory. Its master key (<see cref="Crypto.MasterKey"/>) protects the secrets at rest.
/// </summary>
public sealed class DataDirectory
{
    public string Root { get; }
    public string QueueDirectory => Path.Combine(Root, "queue");
    public string MailboxDirectory => Path.Combine(Root, "mailboxes");
    /// <summary>Mailbox metadata (LiteDB); message octets are under <see cref="BlobDirectory"/>.</summary>
    public string MailDatabasePath => Path.Combine(MailboxDirectory, "mail.db");
    public string BlobDirectory => Path.Combine(MailboxDirectory, "blobs");
    public string TlsDirectory => Path.Combine(Root, "tls");
    public string UserDatabasePath => Path.Combine(Root, "users.db");
    public string MasterKeyPath => Path.Combine(Root, "keys", "master.key");
    public string KeyStorePath => Path.Combine(Root, "keys.db");
    public string CertificateDirectoryPath => Path.Combine(Root, "certificates.db");
    /// <summary>The Agent's outbox: both parts of a split message until the queue has recorded the hand-off.</summary>
    public string AgentDirectory => Path.Combine(Root, "agent");
    /// <summary>The Foreground's own store and inbox; nothing else writes or reads here.</summary>
    public string ForegroundDirectory => Path.Combine(Root, "foreground");
    /// <summary>The Background's own store (ARMs, key releases) and inbox.</summary>
    public string BackgroundDirectory => Path.Combine(Root, "background");
    /// <summary>Working copies of large messages while a role protects or opens them (<see cref="Sealing.ScratchSpace"/>).</summary>
    public string ScratchDirectory => Path.Combine(Root, "scratch");

    public DataDirectory(string root)
    {
        Root = Path.GetFullPath(root);
    }

    /// <summary>Creates the directory tree (owner-only) if it is missing: the parts of the roles this process runs
    /// (<paramref name="roles"/>; null: all three), so that a split courier's hosts hold only their own. The root and
    /// its directories are made owner-only even when they existed before (<see cref="PrivateFiles"/>); with
    /// <paramref name="tightenTree"/> (the gateway's start) every file and directory under the root is too.
    /// Returns how many entries had their mode tightened.</summary>
    public int EnsureCreated(Configuration.GatewayOptions? roles = null, bool tightenTree = false)
    {
        DurableFile.CreatePrivateDirectory(Root);
        // Created or not, the root must not let others in: the stores below it hold hashes and sealed keys.
        var tightened = PrivateFiles.Tighten(Root, recursive: false);
        DurableFile.CreatePrivateDirectory(Path.Combine(Root, "keys"));
        DurableFile.CreatePrivateDirectory(TlsDirectory);
        DurableFile.CreatePrivateDirectory(QueueDirectory);
        if (roles?.Runs(Configuration.GatewayOptions.AgentRole) != false)
        {
            DurableFile.CreatePrivateDirectory(MailboxDirectory);
            DurableFile.CreatePrivateDirectory(AgentDirectory);
        }
        if (roles?.Runs(Configuration.GatewayOptions.ForegroundRole) != false) DurableFile.CreatePrivateDirectory(ForegroundDirectory);
        if (roles?.Runs(Configuration.GatewayOptions.BackgroundRole) != false) DurableFile.CreatePrivateDirectory(BackgroundDirectory);
        // This process's working copies of large messages go here (sealed under a key of its own; see ScratchSpace).
        Sealing.ScratchSpace.Configure(ScratchDirectory, clean: tightenTree);
        // Directory.CreateDirectory leaves an existing directory's mode alone: tighten what was there before. The master
        // key is left as it is: if others could read it, it may be known already, and Crypto.MasterKey refuses to start.
        tightened += tightenTree ? PrivateFiles.Tighten(Root, recursive: true, except: MasterKeyPath) : TightenTopLevel();
        return tightened;
    }

    int TightenTopLevel()
    {
        var n = 0;
        foreach (var directory in Directory.EnumerateDirectories(Root))
            if (new DirectoryInfo(directory).LinkTarget is null) n += PrivateFiles.Tighten(directory, recursive: false);
        foreach (var file in Directory.EnumerateFiles(Root))
            if (new FileInfo(file).LinkTarget is null) n += PrivateFiles.TightenFile(file);
        return n;
    }

    /// <summary>Derives a purpose-specific secret from the master key (HKDF-SHA256); see <see cref="Crypto.MasterKey"/>.</summary>
    public byte[] DeriveSecret(string purpose, int length = 32) => Crypto.MasterKey.Load(this).Derive(purpose, length);
}
