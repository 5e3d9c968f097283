using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Gateway.Courier;

/// <summary>The content part cannot be opened: not a KEK-enveloped part, another message's key, or a wrong CEK.</summary>
public sealed class ContentPartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The content part's inner layer (DESIGN.md, "Content part format"): the user's message as a CMS EnvelopedData
/// (RFC 5652 6) whose only RecipientInfo is a KEKRecipientInfo (6.2.3). Its key identifier is the courier message
/// id (UTF-8) and its key-encryption key is the message's CEK (AES-256 key wrap, RFC 3394); the content itself is
/// AES-256-CBC under a random key that the CEK wraps. With the ARM's CEK any CMS tool opens it, e.g.
/// <c>openssl cms -decrypt -inform DER -secretkey HEX(CEK) -secretkeyid HEX(id)</c>; without it nobody does.
/// </summary>
public static class ContentPart
{
    public const int CekBytes = 32;

    /// <summary>A fresh AES-256 content key for one message.</summary>
    public static byte[] NewCek() => RandomNumberGenerator.GetBytes(CekBytes);

    public static byte[] KeyIdentifier(string messageId) => Encoding.UTF8.GetBytes(messageId);

    /// <summary>Encrypts <paramref name="message"/> (the exact octets, read to its end) under <paramref name="cek"/>, writing
    /// the DER EnvelopedData to <paramref name="output"/> as it goes: nothing is held whole.</summary>
    public static void Seal(Stream message, string messageId, byte[] cek, Stream output)
    {
        if (cek.Length != CekBytes) throw new ArgumentException("the CEK must be 32 bytes (AES-256)", nameof(cek));
        var generator = new CmsEnvelopedDataStreamGenerator(new SecureRandom());
        generator.SetBufferSize(64 * 1024);
        generator.AddKekRecipient("AES256", new KeyParameter(cek), KeyIdentifier(messageId));
        using var sink = generator.Open(output, CmsEnvelopedGenerator.Aes256Cbc);
        message.CopyTo(sink, 64 * 1024);
    }

    /// <summary><see cref="Seal(Stream, string, byte[], Stream)"/> for a message in memory; returns the DER.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> message, string messageId, byte[] cek)
    {
        using var output = new MemoryStream(message.Length + message.Length / 64 + 4096);
        Seal(new MemoryStream(message.ToArray(), writable: false), messageId, cek, output);
        return output.ToArray();
    }

    /// <summary>The courier message id the part is keyed to (its KEK identifier), without opening it.</summary>
    public static string MessageIdOf(Stream der)
    {
        var kek = SingleKekRecipient(der);
        return Encoding.UTF8.GetString(kek.RecipientID.KeyIdentifier);
    }

    public static string MessageIdOf(byte[] der) => MessageIdOf(new MemoryStream(der, writable: false));

    /// <summary>Decrypts the part for <paramref name="messageId"/> with <paramref name="cek"/> into <paramref name="output"/>
    /// as it is read; refuses any other message's part.</summary>
    public static void Open(Stream der, string messageId, byte[] cek, Stream output)
    {
        var kek = SingleKekRecipient(der);
        var keyId = Encoding.UTF8.GetString(kek.RecipientID.KeyIdentifier);
        if (!string.Equals(keyId, messageId, StringComparison.Ordinal))
            throw new ContentPartException($"the content part is keyed to message {keyId}, not {messageId}");
        try
        {
            using var content = kek.GetContentStream(new KeyParameter(cek)).ContentStream;
            content.CopyTo(output, 64 * 1024);
        }
        catch (Exception ex) when (ex is CmsException or Org.BouncyCastle.Crypto.InvalidCipherTextException or ArgumentException or IOException)
        {
            throw new ContentPartException("the content key does not open this content part", ex);
        }
    }

    /// <summary><see cref="Open(Stream, string, byte[], Stream)"/> into memory.</summary>
    public static byte[] Open(byte[] der, string messageId, byte[] cek)
    {
        using var output = new MemoryStream(der.Length);
        Open(new MemoryStream(der, writable: false), messageId, cek, output);
        return output.ToArray();
    }

    /// <summary>SHA-256 of the part's DER, which the ARM carries so that an ARM opens only the content it was made for.</summary>
    public static byte[] Digest(Stream der) => SHA256.HashData(der);

    public static byte[] Digest(byte[] der) => SHA256.HashData(der);

    static KekRecipientInformation SingleKekRecipient(Stream der)
    {
        // The streaming parser reads the header and the recipient infos only; the content is read (and decrypted)
        // when it is asked for, not parsed and copied here.
        RecipientInformationStore infos;
        try
        {
            infos = new CmsEnvelopedDataParser(der).GetRecipientInfos();
        }
        catch (Exception ex) when (ex is CmsException or IOException or ArgumentException or InvalidCastException or NullReferenceException
                                       or InvalidOperationException or Org.BouncyCastle.Asn1.Asn1Exception)
        {
            throw new ContentPartException("not a CMS EnvelopedData", ex);
        }
        var recipients = infos.GetRecipients();
        if (recipients.Count != 1 || recipients.First() is not KekRecipientInformation kek)
            throw new ContentPartException("a content part must have exactly one KEKRecipientInfo");
        return kek;
    }
}
