using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Crypto;

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
        using var sink = EnvelopedDataWriter.Open(output, [new KekRecipientInfoGenerator(cek, KeyIdentifier(messageId))]);
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
    public static string MessageIdOf(Stream der) => Encoding.UTF8.GetString(SingleKekRecipient(der).Kek.KekID.KeyIdentifier.GetOctets());

    public static string MessageIdOf(byte[] der) => MessageIdOf(new MemoryStream(der, writable: false));

    /// <summary>Decrypts the part for <paramref name="messageId"/> with <paramref name="cek"/> into <paramref name="output"/>
    /// as it is read; refuses any other message's part.</summary>
    public static void Open(Stream der, string messageId, byte[] cek, Stream output)
    {
        var (kek, enveloped) = SingleKekRecipient(der);
        var keyId = Encoding.UTF8.GetString(kek.KekID.KeyIdentifier.GetOctets());
        if (!string.Equals(keyId, messageId, StringComparison.Ordinal))
            throw new ContentPartException($"the content part is keyed to message {keyId}, not {messageId}");
        byte[] contentKey;
        try
        {
            contentKey = Rfc5753KeyAgreement.Unwrap(cek, kek.EncryptedKey.GetOctets());
        }
        catch (Exception ex) when (ex is InvalidCipherTextException or ArgumentException or InvalidOperationException or DataLengthException)
        {
            throw new ContentPartException("the content key does not open this content part", ex);
        }
        try
        {
            CbcContent.Decrypt(enveloped.GetEncryptedContentInfo(), contentKey, output);
        }
        catch (Exception ex) when (ex is InvalidCipherTextException or ArgumentException or IOException or InvalidCastException or InvalidOperationException
                                       or Org.BouncyCastle.Asn1.Asn1Exception)
        {
            throw new ContentPartException("the content key does not open this content part", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contentKey);
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

    /// <summary>The part's only recipient info, which must be a KEKRecipientInfo with AES key wrap, and the parser positioned
    /// at the encrypted content (read, and decrypted, only when asked for).</summary>
    static (KekRecipientInfo Kek, EnvelopedDataParser Enveloped) SingleKekRecipient(Stream der)
    {
        try
        {
            if (new Asn1StreamParser(der).ReadObject() is not Asn1SequenceParser sequence) throw new ContentPartException("not a CMS EnvelopedData");
            var info = new ContentInfoParser(sequence);
            if (!CmsObjectIdentifiers.EnvelopedData.Equals(info.ContentType)) throw new ContentPartException("not a CMS EnvelopedData");
            var enveloped = new EnvelopedDataParser((Asn1SequenceParser)info.GetContent(Asn1Tags.Sequence));
            enveloped.GetOriginatorInfo(); // read past it: the parser takes the fields in order
            var infos = (Asn1Set)enveloped.GetRecipientInfos().ToAsn1Object();
            if (infos.Count != 1 || RecipientInfo.GetInstance(infos[0]).Info is not KekRecipientInfo kek)
                throw new ContentPartException("a content part must have exactly one KEKRecipientInfo");
            var wrap = kek.KeyEncryptionAlgorithm.Algorithm;
            if (!wrap.Equals(NistObjectIdentifiers.IdAes256Wrap) && !wrap.Equals(NistObjectIdentifiers.IdAes192Wrap) && !wrap.Equals(NistObjectIdentifiers.IdAes128Wrap))
                throw new ContentPartException($"the content key is wrapped with {wrap}, not AES key wrap");
            return (kek, enveloped);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidCastException or NullReferenceException or InvalidOperationException
                                       or Asn1Exception)
        {
            throw new ContentPartException("not a CMS EnvelopedData", ex);
        }
    }
}
