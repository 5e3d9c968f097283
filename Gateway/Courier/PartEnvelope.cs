using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>A part failed its checks on arrival: not S/MIME, not for us, a bad or untrusted signature, the wrong signer.</summary>
/// <remarks><see cref="Unverified"/> is the signed entity when the part could be decrypted but its signature was not
/// accepted: it names a sender and recipients nobody vouches for, good only to tell a local sender what happened.</remarks>
public sealed class PartRejectedException(string message, Exception? inner = null) : Exception(message, inner)
{
    public MimeEntity? Unverified { get; init; }
    /// <summary>Refused only for now: a CRL needed to check the signer could not be fetched. Try again later; never accept.</summary>
    public bool Transient { get; init; }
}

/// <summary>What <see cref="PartEnvelope.Open"/> found inside: the signed entity and who signed it.</summary>
/// <param name="Carried">The CA certificates the signature carried (they helped build the validated path).</param>
/// <param name="Signed">The signed entity itself (what a relay passes on unchanged, so the next holder checks the same signature).</param>
public sealed record OpenedPart(MimeEntity Entity, X509Certificate Signer, string SignerAddress, IReadOnlyList<X509Certificate> Carried, MimeEntity Signed);

/// <summary>
/// The hop-by-hop protection of both parts: the inner entity is signed (opaque CMS SignedData) by whoever hands it
/// on and encrypted (EnvelopedData) to the next holder's certificate. <see cref="Open"/> does the reverse and
/// accepts only one valid signature from a certificate that chains to this network's anchors, unrevoked.
/// </summary>
public static class PartEnvelope
{
    /// <param name="issuers">CA certificates to carry with the signature (for traffic between couriers: the signer's
    /// courier CA up to the Root, so that the receiver can build the path; within one courier none are needed).</param>
    public static CmsSigner Signer(IKeyRing keys, string keyId, IEnumerable<X509Certificate>? issuers = null)
    {
        var certificate = keys.GetCertificate(keyId) ?? throw new PartRejectedException($"no certificate for key {keyId}");
        var chain = new List<X509Certificate> { certificate };
        if (issuers is not null) chain.AddRange(issuers);
        return new CmsSigner(chain, keys.GetPrivateKey(keyId)) { DigestAlgorithm = DigestAlgorithm.Sha256 };
    }

    /// <summary>Signs <paramref name="inner"/> with <paramref name="signer"/> and encrypts the result to <paramref name="recipient"/>.</summary>
    public static ApplicationPkcs7Mime Seal(CourierSecureMimeContext context, CmsSigner signer, X509Certificate recipient, MimeEntity inner) =>
        EncryptTo(context, recipient, Sign(context, signer, inner));

    /// <summary>The first half of <see cref="Seal"/>: one signature, which <see cref="EncryptTo"/> then seals for each
    /// recipient of the same part (the signature does not depend on the recipient).</summary>
    public static ApplicationPkcs7Mime Sign(CourierSecureMimeContext context, CmsSigner signer, MimeEntity inner) =>
        context.SignEntity(signer, inner);

    /// <summary>The second half of <see cref="Seal"/>: the signed entity encrypted to one recipient.</summary>
    public static ApplicationPkcs7Mime EncryptTo(CourierSecureMimeContext context, X509Certificate recipient, ApplicationPkcs7Mime signed) =>
        context.EncryptEntity(new CmsRecipientCollection { new CmsRecipient(recipient) }, signed);

    /// <summary>
    /// Whether an exception thrown while decoding what someone sent (CMS, ASN.1, certificates and their extensions,
    /// algorithm identifiers: all attacker-controlled) means the input is bad. BouncyCastle reports malformed input with
    /// many exception types (Asn1Exception, CertificateParsingException, SecurityUtilityException,
    /// InvalidOperationException, ...; fuzzing found each); all of them are a refusal, never a crash. Our own
    /// <see cref="PartRejectedException"/> passes through as it is, and running out of memory is not bad input.
    /// </summary>
    static bool IsParsingFailure(Exception ex) => ex is not (PartRejectedException or OutOfMemoryException or OperationCanceledException);

    /// <summary>
    /// Decrypts with the context's keys and verifies. <paramref name="expectedSigner"/>, when given, is the address the
    /// signer's certificate must carry (the sender for parts from an Agent, an element's address for re-wrapped parts).
    /// </summary>
    public static OpenedPart Open(CourierSecureMimeContext context, MimeEntity? body, string? expectedSigner)
    {
        if (body is not ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.EnvelopedData } enveloped)
            throw new PartRejectedException("the part is not S/MIME enveloped data");
        if (enveloped.Content is null) throw new PartRejectedException("the enveloped part is empty"); // found by fuzzing
        MimeEntity decrypted;
        try
        {
            // The DER is decoded into a working copy (MimeKit's own Decrypt decodes it into memory whatever its size).
            var der = context.Scratch();
            enveloped.Content.DecodeTo(der);
            der.Position = 0;
            decrypted = context.Decrypt(der);
        }
        catch (Exception ex) when (IsParsingFailure(ex))
        {
            throw new PartRejectedException("the part cannot be decrypted with this element's key: " + ex.Message, ex);
        }
        return Verify(context, decrypted, expectedSigner);
    }

    /// <summary>
    /// Checks an opaque-signed entity: exactly one signature, valid, by a certificate that chains (with the CA
    /// certificates the signature carries, if any) to this network's anchors, unrevoked; returns what was signed.
    /// </summary>
    public static OpenedPart Verify(CourierSecureMimeContext context, MimeEntity? entity, string? expectedSigner)
    {
        if (entity is not ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.SignedData } signed)
            throw new PartRejectedException("the decrypted part is not signed");

        // The signature is checked by our own CMS reader (.NET's SHA-2 and EC under it): MimeKit's Verify would also
        // build a certificate path of its own (without CRLs), and the path that counts is ValidateCertificate's below.
        MimeEntity inner;
        SignerInfo signer;
        X509Certificate? certificate;
        List<X509Certificate> carried;
        try
        {
            // A signed-data part with no body at all (found by fuzzing) is refused like any other unreadable signature.
            if (signed.Content is null) throw new PartRejectedException("the signed part is empty");
            // Streamed: the CMS is parsed as its base64 is decoded, and the signed content digested as it is copied
            // into a working copy that the inner entity is then parsed in place from; no whole-part copies in memory.
            using var encoded = new BufferedStream(signed.Content.Open(), 8192); // the ASN.1 parser reads tags and lengths an octet at a time
            var content = context.Scratch();
            var cms = SignedDataReader.Read(encoded, content);
            content.Position = 0;
            inner = MimeEntity.Load(content, persistent: true);
            if (cms.Signers.Count != 1) throw new PartRejectedException($"the part carries {cms.Signers.Count} signatures; exactly one is accepted") { Unverified = inner };
            signer = cms.Signers[0];
            certificate = cms.CertificateOf(signer);
            // CA certificates carried along only help to build the path; they are trusted for nothing by themselves.
            carried = cms.Certificates.Where(c => c.GetBasicConstraints() >= 0).ToList();
            if (certificate is null) throw new PartRejectedException("the signer's certificate is missing") { Unverified = inner };
            bool matches;
            try { matches = cms.Verify(signer, certificate); }
            catch (Exception ex) when (IsParsingFailure(ex))
            {
                throw new PartRejectedException("the signature does not verify: " + ex.Message, ex) { Unverified = inner };
            }
            if (!matches) throw new PartRejectedException("the signature does not match the content") { Unverified = inner };
        }
        catch (Exception ex) when (IsParsingFailure(ex))
        {
            throw new PartRejectedException("the signature cannot be read: " + ex.Message, ex);
        }
        ChainResult chain;
        try { chain = context.ValidateCertificate(certificate, carried); }
        catch (Exception ex) when (IsParsingFailure(ex))
        {
            throw new PartRejectedException("the signer's certificate cannot be read: " + ex.Message, ex) { Unverified = inner };
        }
        if (!chain.IsValid)
            throw new PartRejectedException($"the signer's certificate ({certificate.SubjectDN}) is not trusted: {chain.Reason}") { Unverified = inner, Transient = chain.MissingRevocationData };
        var address = Certificates.EmailOf(certificate) ?? "";
        if (expectedSigner is not null && !string.Equals(address, expectedSigner, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the part is signed by <{address}>, not by <{expectedSigner}>") { Unverified = inner };
        return new OpenedPart(inner, certificate, address, carried, signed);
    }
}
