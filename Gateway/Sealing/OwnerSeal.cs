using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Gateway.Storage.Mail;

namespace Gateway.Sealing;

/// <summary>
/// Seals mailbox contents for their owner: message octets as CMS to the owner's certificate (<see cref="CmsBlob"/>),
/// and every value kept about them (the content key, the structure, the search text) with AES-256-GCM under the
/// owner's mailbox key, derived from the master key, bound to the place it is kept. The gateway opens a message
/// with the sealed content key in its record (no private-key operation per read); an operator opens the blob file
/// with the owner's private key alone.
/// </summary>
/// <param name="issueMissing">Gives a user without a certificate one (null when none can be issued yet).</param>
public sealed class OwnerSeal(IKeyRing keys, MasterKey masterKey, Func<string, Org.BouncyCastle.X509.X509Certificate?>? issueMissing = null) : IMailboxSeal
{
    readonly ConcurrentDictionary<string, SealingKey> _mailboxKeys = new(StringComparer.Ordinal);

    SealingKey MailboxKey(string owner) => _mailboxKeys.GetOrAdd(owner.ToLowerInvariant(), o => new SealingKey(masterKey.Derive("mailbox/" + o)));

    static byte[] Context(string kind, string place) => Encoding.UTF8.GetBytes(kind + "\n" + place);

    public byte[] Seal(string owner, string blobId, Stream content, long length, Stream output)
    {
        var certificate = keys.GetCertificate(CourierSecureMimeContext.UserKeyId(owner.ToLowerInvariant())) ?? issueMissing?.Invoke(owner)
            ?? throw new MailboxSealException($"{owner} has no certificate here yet (this courier has no CA to issue one with), so mail for this mailbox cannot be sealed; it waits");
        var (cek, digests) = CmsBlob.Write(certificate, content, length, output);
        // The content key and the digests of the ciphertext's windows, sealed together: the record vouches for the file.
        var keyAndDigests = new byte[cek.Length + digests.Length];
        cek.CopyTo(keyAndDigests, 0);
        digests.CopyTo(keyAndDigests, cek.Length);
        try { return MailboxKey(owner).Seal(keyAndDigests, Context("blob-key", blobId)); }
        finally
        {
            CryptographicOperations.ZeroMemory(cek);
            CryptographicOperations.ZeroMemory(keyAndDigests);
        }
    }

    public Stream Open(string owner, string blobId, byte[] sealedKey, Stream sealedBlob)
    {
        var keyAndDigests = MailboxKey(owner).Open(sealedKey, Context("blob-key", blobId));
        if (keyAndDigests.Length < 32) throw new CryptographicException("the record's key for this message is damaged");
        var cek = keyAndDigests[..32];
        try { return CmsBlob.Open(sealedBlob, cek, keyAndDigests[32..]); }
        catch
        {
            sealedBlob.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(cek);
            CryptographicOperations.ZeroMemory(keyAndDigests);
        }
    }

    public byte[] SealValue(string owner, string context, ReadOnlySpan<byte> plaintext) =>
        MailboxKey(owner).Seal(plaintext, Context("value", context));

    public byte[] OpenValue(string owner, string context, ReadOnlySpan<byte> sealedValue) =>
        MailboxKey(owner).Open(sealedValue, Context("value", context));
}
