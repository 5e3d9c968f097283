namespace Gateway.Storage.Mail;

/// <summary>
/// Seals what a mailbox keeps for its owner: each message's octets (to the owner's certificate, as CMS) and the
/// metadata taken from them (envelope, structure, search text). The store keeps only sealed values; the key to open a
/// message's octets is kept in its record, sealed under the owner's mailbox key and bound to the blob it opens.
/// </summary>
public interface IMailboxSeal
{
    /// <summary>Writes <paramref name="length"/> octets of <paramref name="content"/> sealed for <paramref name="owner"/>
    /// to <paramref name="output"/>; returns the content key, sealed for the record and bound to <paramref name="blobId"/>.</summary>
    /// <exception cref="MailboxSealException">The owner has no certificate here.</exception>
    byte[] Seal(string owner, string blobId, Stream content, long length, Stream output);

    /// <summary>Opens a sealed blob as a seekable stream of its octets (takes ownership of <paramref name="sealedBlob"/>).</summary>
    Stream Open(string owner, string blobId, byte[] sealedKey, Stream sealedBlob);

    byte[] SealValue(string owner, string context, ReadOnlySpan<byte> plaintext);

    /// <exception cref="System.Security.Cryptography.CryptographicException">Damaged, or sealed for another owner or place.</exception>
    byte[] OpenValue(string owner, string context, ReadOnlySpan<byte> sealedValue);
}

/// <summary>A message cannot be sealed for its owner (no certificate yet): it is refused, never stored plain.</summary>
public sealed class MailboxSealException(string message) : Exception(message);
