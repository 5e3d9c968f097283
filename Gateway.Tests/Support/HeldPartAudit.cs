using Gateway.Crypto;
using Gateway.Platform;
using LiteDB;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Support;

/// <summary>What a stored item turned out to hold, once opened with every key of the courier.</summary>
public enum HeldKind { Content, Arm, Introduction, Account, Invitation, Other, Unopened }

/// <summary>
/// Reads what the elements of a courier hold on disk and opens every item with all private keys of the network's
/// couriers (copies of their key stores, taken while they run; a part queued for a peer is encrypted to the peer),
/// independently of the gateway's own S/MIME code: BouncyCastle CMS
/// directly, layer by layer (EnvelopedData, SignedData, multiparts), to find whether a content part or an ARM is
/// inside. The Foreground's holdings are its directory and the mailbox blobs it stores for local users; the
/// Background's are its directory and the sealed ARMs in its database.
/// </summary>
public sealed class HeldPartAudit : IDisposable
{
    readonly string _snapshot;
    readonly List<(X509Certificate Certificate, AsymmetricKeyParameter Key)> _keys = new();
    readonly DataDirectory _data;
    readonly Gateway.Sealing.SpoolSeal _seal;

    /// <param name="dataDirectory">The courier whose elements are audited.</param>
    /// <param name="keySources">The data directories whose keys open the items (the courier's own and its peers').</param>
    public HeldPartAudit(string dataDirectory, IEnumerable<string> keySources)
    {
        _data = new DataDirectory(dataDirectory);
        _seal = new Gateway.Sealing.SpoolSeal(MasterKey.Load(_data));
        _snapshot = TempDirectory.Create("held-audit");
        foreach (var source in keySources)
        {
            using var store = OpenKeyStoreCopy(source, Path.Combine(_snapshot, "keys-" + _keys.Count));
            foreach (var (id, certificate) in store.Certificates())
                if (store.HasPrivateKey(id)) _keys.Add((certificate, store.GetPrivateKey(id)));
        }
    }

    /// <summary>A copy of a running gateway's key store (and its master key) in <paramref name="into"/>, opened.</summary>
    public static KeyStore OpenKeyStoreCopy(string dataDirectory, string into)
    {
        var from = new DataDirectory(dataDirectory);
        var copy = new DataDirectory(into);
        Directory.CreateDirectory(Path.GetDirectoryName(copy.MasterKeyPath)!);
        File.Copy(from.MasterKeyPath, copy.MasterKeyPath);
        CopyDatabase(from.KeyStorePath, copy.KeyStorePath);
        return new KeyStore(copy.KeyStorePath, MasterKey.Load(copy));
    }

    /// <summary>Every item the Foreground holds (its inbox, pending, outbound queue, and the users' mailbox blobs), by file, with what it contains.</summary>
    public List<(string Item, HashSet<HeldKind> Kinds)> Foreground() =>
        FilesUnder(_data.ForegroundDirectory).Concat(FilesUnder(_data.BlobDirectory)).Select(f => (f, Classify(Opened(f)))).ToList();

    /// <summary>A stored item as its element reads it: spool files opened with the courier's spool seal, mailbox
    /// blobs (CMS to their owner) with the owner's key.</summary>
    byte[] Opened(string path)
    {
        if (Gateway.Sealing.SpoolSeal.IsSealed(path)) return _seal.ReadAllBytes(path);
        var bytes = File.ReadAllBytes(path);
        return path.EndsWith(".p7m", StringComparison.Ordinal) ? Decrypt(bytes) ?? bytes : bytes;
    }

    /// <summary>Every item the Background holds (its inbox, pending, outbound queue, and the sealed ARMs in its database).</summary>
    public List<(string Item, HashSet<HeldKind> Kinds)> Background()
    {
        var held = FilesUnder(_data.BackgroundDirectory).Select(f => (f, Classify(Opened(f)))).ToList();
        var database = Path.Combine(_data.BackgroundDirectory, "background.db");
        if (!File.Exists(database)) return held;
        var copy = Path.Combine(_snapshot, "background.db");
        CopyDatabase(database, copy);
        using var db = new LiteDatabase(new ConnectionString { Filename = copy, Connection = ConnectionType.Direct, ReadOnly = true });
        foreach (var arm in db.GetCollection("arms").FindAll())
            held.Add(("background.db arm " + arm["_id"].AsString, Classify(arm["SealedArm"].AsBinary)));
        return held;
    }

    /// <summary>Stored messages of the element (LiteDB databases are read separately; the rest are message files). A
    /// lock a running process holds (<c>background.db.lock</c>) cannot be opened while it is held; it must be empty.</summary>
    static IEnumerable<string> FilesUnder(string directory) => !Directory.Exists(directory)
        ? Enumerable.Empty<string>()
        : Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".db", StringComparison.Ordinal) && !f.EndsWith("-log.db", StringComparison.Ordinal) && !f.EndsWith(".json", StringComparison.Ordinal))
            .Where(f => !EmptyLock(f));

    public static bool EmptyLock(string path)
    {
        if (!path.EndsWith(".lock", StringComparison.Ordinal)) return false;
        Assert.Equal(0, new FileInfo(path).Length);
        return true;
    }

    static void CopyDatabase(string from, string to)
    {
        File.Copy(from, to, overwrite: true);
        var log = Path.ChangeExtension(from, null) + "-log.db";
        if (File.Exists(log)) File.Copy(log, Path.ChangeExtension(to, null) + "-log.db", overwrite: true);
    }

    public HashSet<HeldKind> Classify(byte[] item)
    {
        var kinds = new HashSet<HeldKind>();
        try { Walk(MimeEntity.Load(new MemoryStream(item, writable: false)), kinds, 0); }
        catch (FormatException) { kinds.Add(HeldKind.Other); }
        return kinds;
    }

    void Walk(MimeEntity entity, HashSet<HeldKind> kinds, int depth)
    {
        if (depth > 12) { kinds.Add(HeldKind.Other); return; }
        switch (entity)
        {
            case MessagePart { Message: { } inner }:
                Walk(inner.Body, kinds, depth + 1);
                return;
            case Multipart multipart:
                foreach (var child in multipart) Walk(child, kinds, depth + 1);
                return;
            case ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.EnvelopedData } enveloped when enveloped.FileName != "content.p7m":
                var opened = Decrypt(Der(enveloped));
                if (opened is null) kinds.Add(HeldKind.Unopened);
                else Walk(MimeEntity.Load(new MemoryStream(opened)), kinds, depth + 1);
                return;
            case ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.SignedData } signed:
                var cms = new CmsSignedData(Der(signed));
                var content = new MemoryStream();
                cms.SignedContent.Write(content);
                content.Position = 0;
                Walk(MimeEntity.Load(content), kinds, depth + 1);
                return;
            case MimePart part:
                kinds.Add(part.ContentType.MimeType.ToLowerInvariant() switch
                {
                    "application/vnd.gateway.arm+json" => HeldKind.Arm,
                    "application/vnd.gateway.manifest+json" => HeldKind.Content,
                    "application/pkcs7-mime" => HeldKind.Content, // content.p7m: the sealed content itself (KEK recipient)
                    "application/vnd.gateway.introduction+json" => HeldKind.Introduction,
                    "application/vnd.gateway.distribute-account+json" => HeldKind.Account,
                    "application/vnd.gateway.invitation+json" => HeldKind.Invitation,
                    _ => HeldKind.Other,
                });
                return;
        }
    }

    static byte[] Der(MimePart part)
    {
        using var der = new MemoryStream();
        part.Content.DecodeTo(der);
        return der.ToArray();
    }

    byte[]? Decrypt(byte[] der)
    {
        // EC recipients use RFC 5753 key agreement, which the gateway implements itself (BouncyCastle's does not
        // interoperate with OpenSSL); RSA recipients are opened with BouncyCastle's key transport.
        var agreed = EcdhEnvelopeOpener.TryOpen(der, (issuer, serial) => _keys
            .Where(k => k.Certificate.IssuerDN.Equivalent(issuer) && k.Certificate.SerialNumber.Equals(serial))
            .Select(k => k.Key).OfType<Org.BouncyCastle.Crypto.Parameters.ECPrivateKeyParameters>().FirstOrDefault());
        if (agreed is not null) return agreed;
        var enveloped = new CmsEnvelopedData(der);
        foreach (var recipient in enveloped.GetRecipientInfos().GetRecipients())
        {
            if (recipient is KekRecipientInformation) continue; // the sealed content: opened only with the ARM's CEK
            foreach (var (certificate, key) in _keys)
            {
                if (!recipient.RecipientID.Match(certificate)) continue;
                try { return recipient.GetContent(key); }
                catch (CmsException) { } // a certificate renewed with the same name and serial: try the next key
            }
        }
        LastFailure = string.Join("; ", enveloped.GetRecipientInfos().GetRecipients().Select(r => $"{r.GetType().Name} issuer={r.RecipientID.Issuer} serial={r.RecipientID.SerialNumber} ski={(r.RecipientID.SubjectKeyIdentifier is { } k ? Convert.ToHexString(k) : "-")}"));
        return null;
    }

    /// <summary>The recipients of the last item no key opened (for the failure message).</summary>
    public string LastFailure { get; private set; } = "";

    public void Dispose()
    {
        try { Directory.Delete(_snapshot, recursive: true); } catch (IOException) { }
    }
}
