using Gateway.Sealing;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Pkix;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>
/// MimeKit's S/MIME (BouncyCastle) over this courier's stores: private keys and own certificates from the
/// <see cref="KeyStore"/> (entries named <c>user:ADDRESS</c> and courier elements), everything public from the
/// <see cref="CertificateDirectory"/>. Certificates met in verified mail are harvested into the directory,
/// unapproved; encryption uses only approved certificates or ones that chain to an anchor.
/// </summary>
public sealed class CourierSecureMimeContext : BouncyCastleSecureMimeContext
{
    readonly IKeyRing _keys;
    readonly CertificateDirectory _directory;

    public CourierSecureMimeContext(IKeyRing keys, CertificateDirectory directory)
    {
        _keys = keys;
        _directory = directory;
    }

    readonly List<ScratchStream> _scratch = new();

    /// <summary>
    /// A working copy for what this context signs, encrypts or decrypts (<see cref="ScratchSpace"/>: a large one lives in
    /// a sealed file, not in memory). Those that moved to a file are closed with the context (small ones are left to the
    /// collector), so whatever is built from them must be written out before: a context lives for one operation.
    /// </summary>
    public ScratchStream Scratch() => ScratchSpace.Create(movedToFile: stream =>
    {
        lock (_scratch) _scratch.Add(stream);
    });

    /// <summary>
    /// Hands the working copy that holds <paramref name="part"/>'s content over to the part: it is no longer closed with
    /// this context, and whoever disposes the part (or the message it is in) closes it. For a result that outlives the
    /// operation, such as a message sealed here and sent after. The part must be complete (its copy is written no more).
    /// </summary>
    public void HandOver(MimePart part)
    {
        if (part.Content?.Stream is not ScratchStream stream) return;
        lock (_scratch) _scratch.Remove(stream);
    }

    /// <summary>
    /// Signs <paramref name="entity"/> (opaque CMS SignedData), written with CRLF line ends straight into the signature
    /// as it is encoded; in place of MimeKit's static helper, which writes the entity into memory whatever its size.
    /// </summary>
    /// <remarks>
    /// For the courier's own parts, which are always sealed in an envelope next (<see cref="EncryptEntity"/>): the
    /// signed layer carries its DER with Content-Transfer-Encoding binary (RFC 8551 3.1.2: an entity secured in CMS needs
    /// no transfer encoding, and S/MIME readers handle binary ones). That saves a base64 encoding when sealed and a
    /// decoding when opened; the envelope around it, which travels in mail, is base64 as before.
    /// </remarks>
    public ApplicationPkcs7Mime SignEntity(CmsSigner signer, MimeEntity entity)
    {
        var signed = SignWritten(signer, sink => entity.WriteTo(CrlfOptions, sink));
        signed.ContentTransferEncoding = ContentEncoding.Binary;
        return signed;
    }

    /// <summary>Encrypts <paramref name="entity"/> to <paramref name="recipients"/>, written straight into the envelope (see <see cref="SignEntity"/>).</summary>
    /// <remarks>For the courier's own parts: an EC recipient's ephemeral key is reused for a minute (<see cref="EphemeralKeyReuse"/>).</remarks>
    public ApplicationPkcs7Mime EncryptEntity(CmsRecipientCollection recipients, MimeEntity entity) =>
        EncryptWritten(recipients, sink => entity.WriteTo(CrlfOptions, sink), reuseEphemeral: true);

    static readonly FormatOptions CrlfOptions = CrlfFormat();

    static FormatOptions CrlfFormat()
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        return options;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_scratch)
            {
                foreach (var stream in _scratch) stream.Dispose();
                _scratch.Clear();
            }
        }
        base.Dispose(disposing);
    }

    /// <summary>Key store ids of users' keys start with this.</summary>
    public const string UserKeyPrefix = "user:";

    public static string UserKeyId(string address) => UserKeyPrefix + address.ToLowerInvariant();

    IEnumerable<(string Id, X509Certificate Certificate)> OwnCertificates() => _keys.Certificates();

    protected override X509Certificate? GetCertificate(ISelector<X509Certificate> selector) =>
        OwnCertificates().Select(c => c.Certificate).Concat(_directory.All()).FirstOrDefault(selector.Match);

    protected override AsymmetricKeyParameter? GetPrivateKey(ISelector<X509Certificate> selector)
    {
        var own = OwnCertificates().FirstOrDefault(c => selector.Match(c.Certificate));
        return own.Id is null ? null : _keys.GetPrivateKey(own.Id);
    }

    protected override ISet<TrustAnchor> GetTrustedAnchors() => _directory.Anchors().Select(a => new TrustAnchor(a, null)).ToHashSet();

    /// <summary>CA certificates below the anchors: those in the directory and our own courier CA.</summary>
    List<X509Certificate> KnownAuthorities() =>
        _directory.Authorities().Concat(OwnCertificates().Select(c => c.Certificate).Where(c => c.GetBasicConstraints() >= 0)).ToList();

    protected override IStore<X509Certificate> GetIntermediateCertificates() => CollectionUtilities.CreateStore(KnownAuthorities());

    protected override IStore<X509Crl> GetCertificateRevocationLists() => CollectionUtilities.CreateStore(_directory.Crls().ToList());

    protected override DateTime GetNextCertificateRevocationListUpdate(X509Name issuer) =>
        _directory.Crls().Where(c => c.IssuerDN.Equivalent(issuer)).Select(c => c.NextUpdate ?? DateTime.MinValue).DefaultIfEmpty(DateTime.MinValue).Max();

    protected override CmsRecipient GetCmsRecipient(MailboxAddress mailbox) =>
        new(FindRecipientCertificate(mailbox.Address) ?? throw new CertificateNotFoundException(mailbox, $"no usable S/MIME certificate for <{mailbox.Address}>"));

    protected override CmsSigner GetCmsSigner(MailboxAddress mailbox, DigestAlgorithm digestAlgo)
    {
        var id = UserKeyId(mailbox.Address);
        var certificate = _keys.GetCertificate(id) ?? throw new CertificateNotFoundException(mailbox, $"no signing key for <{mailbox.Address}>");
        var chain = new List<X509Certificate> { certificate };
        chain.AddRange(ChainOf(certificate));
        return new CmsSigner(chain, _keys.GetPrivateKey(id)) { DigestAlgorithm = digestAlgo };
    }

    /// <summary>Our own certificate for the address if we hold the key, else an approved one from the directory that is still valid.</summary>
    X509Certificate? FindRecipientCertificate(string address)
    {
        var own = _keys.GetCertificate(UserKeyId(address));
        if (own is not null) return own;
        return _directory.ForAddress(address)
            .Where(c => c.Approved && c.Certificate.IsValidNow)
            .Select(c => c.Certificate)
            .OrderByDescending(c => c.NotAfter)
            .FirstOrDefault();
    }

    /// <summary>The CA certificates above <paramref name="certificate"/>, up to (not including) the anchor.</summary>
    IEnumerable<X509Certificate> ChainOf(X509Certificate certificate)
    {
        var anchors = _directory.Anchors().ToList();
        return IssuerChain.Issuers(certificate, KnownAuthorities(), c => anchors.Any(a => a.SubjectDN.Equivalent(c.IssuerDN)));
    }

    /// <summary>
    /// Enveloped data with AES-256-CBC content encryption: RSA recipients by key transport (BouncyCastle), EC
    /// recipients by RFC 5753 key agreement (ours; see <see cref="Rfc5753KeyAgreement"/> for why).
    /// </summary>
    public override ApplicationPkcs7Mime Encrypt(CmsRecipientCollection recipients, Stream content, CancellationToken cancellationToken = default) =>
        EncryptWritten(recipients, sink => content.CopyTo(sink, 64 * 1024));

    /// <summary>The envelope of what <paramref name="write"/> writes into it, encrypted as it is written into a working copy.</summary>
    ApplicationPkcs7Mime EncryptWritten(CmsRecipientCollection recipients, Action<Stream> write, bool reuseEphemeral = false)
    {
        // Streamed: the content is encrypted as it is written, into a working copy; the in-memory generator cost about
        // eleven times a large message in garbage (copies, growing buffers, DER re-encoding).
        var enveloped = Scratch();
        if (recipients.All(r => r.Certificate.GetPublicKey() is ECPublicKeyParameters))
        {
            // Every courier key, and most S/MIME correspondents': our writer, with .NET's AES.
            using (var sink = EnvelopedDataWriter.Open(enveloped, recipients.Select(r => (RecipientInfoGenerator)new EcdhRecipientInfoGenerator(r.Certificate, reuseEphemeral)).ToList()))
                write(sink);
            enveloped.Position = 0;
            return new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, enveloped);
        }
        var generator = new CmsEnvelopedDataStreamGenerator(new SecureRandom());
        generator.SetBufferSize(64 * 1024);
        foreach (var recipient in recipients)
        {
            if (recipient.Certificate.GetPublicKey() is ECPublicKeyParameters)
                generator.AddRecipientInfoGenerator(new EcdhRecipientInfoGenerator(recipient.Certificate));
            else
                generator.AddKeyTransRecipient(recipient.Certificate);
        }
        using (var sink = generator.Open(enveloped, CmsEnvelopedGenerator.Aes256Cbc)) write(sink);
        enveloped.Position = 0;
        return new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, enveloped);
    }

    /// <summary>
    /// Opaque (encapsulated) signed data, streamed: the content is digested and copied into blocks as it is read, in
    /// place of BouncyCastle's in-memory generator and its copies. Signed attributes are CMS's own (content type,
    /// signing time, message digest); the signer's certificate chain travels with the signature.
    /// </summary>
    public override ApplicationPkcs7Mime EncapsulatedSign(CmsSigner signer, Stream content, CancellationToken cancellationToken = default) =>
        SignWritten(signer, sink => content.CopyTo(sink, 64 * 1024));

    ApplicationPkcs7Mime SignWritten(CmsSigner signer, Action<Stream> write)
    {
        var signed = Scratch();
        // EC keys (every courier key): our writer, with .NET's SHA-256 and ECDSA.
        if (signer.DigestAlgorithm == DigestAlgorithm.Sha256 && SignedDataWriter.TryOpen(signed, signer.PrivateKey, signer.CertificateChain.ToList()) is { } native)
        {
            using (native) write(native);
            signed.Position = 0;
            return new ApplicationPkcs7Mime(SecureMimeType.SignedData, signed);
        }
        var generator = new CmsSignedDataStreamGenerator();
        generator.SetBufferSize(64 * 1024);
        generator.AddSigner(signer.PrivateKey, signer.Certificate, DigestOid(signer.DigestAlgorithm));
        generator.AddCertificates(CollectionUtilities.CreateStore(signer.CertificateChain.ToList()));
        using (var sink = generator.Open(signed, encapsulate: true)) write(sink);
        signed.Position = 0;
        return new ApplicationPkcs7Mime(SecureMimeType.SignedData, signed);
    }

    public override Task<ApplicationPkcs7Mime> EncapsulatedSignAsync(CmsSigner signer, Stream content, CancellationToken cancellationToken = default) =>
        Task.FromResult(EncapsulatedSign(signer, content, cancellationToken));

    static string DigestOid(DigestAlgorithm algorithm) => algorithm switch
    {
        DigestAlgorithm.Sha256 => CmsSignedGenerator.DigestSha256,
        DigestAlgorithm.Sha384 => CmsSignedGenerator.DigestSha384,
        DigestAlgorithm.Sha512 => CmsSignedGenerator.DigestSha512,
        _ => throw new NotSupportedException($"signing with {algorithm} is not offered; SHA-256 and above only"),
    };

    public override Task<ApplicationPkcs7Mime> EncryptAsync(CmsRecipientCollection recipients, Stream content, CancellationToken cancellationToken = default) =>
        Task.FromResult(Encrypt(recipients, content, cancellationToken));

    /// <summary>EC key agreement entries for one of our certificates are opened here; everything else by MimeKit.</summary>
    public override MimeEntity Decrypt(Stream encryptedData, CancellationToken cancellationToken = default)
    {
        var input = Rewindable(encryptedData);
        var start = input.Position;
        var plaintext = Scratch();
        if (!OpenWithKeyAgreement(input, plaintext))
        {
            input.Position = start;
            return base.Decrypt(input, cancellationToken);
        }
        plaintext.Position = 0;
        // Parsed in place: the entity's content stays in the decrypted blocks, not copied out again.
        return MimeEntity.Load(plaintext, persistent: true, cancellationToken);
    }

    public override Task<MimeEntity> DecryptAsync(Stream encryptedData, CancellationToken cancellationToken = default) =>
        Task.FromResult(Decrypt(encryptedData, cancellationToken));

    public override void DecryptTo(Stream encryptedData, Stream decryptedData, CancellationToken cancellationToken = default)
    {
        var input = Rewindable(encryptedData);
        var start = input.Position;
        using var plaintext = ScratchSpace.Create();
        if (!OpenWithKeyAgreement(input, plaintext))
        {
            input.Position = start;
            base.DecryptTo(input, decryptedData, cancellationToken);
            return;
        }
        plaintext.Position = 0;
        plaintext.CopyTo(decryptedData);
    }

    /// <summary>The stream itself when it can be read twice (a key-agreement entry first, then MimeKit's kinds), else a copy.</summary>
    Stream Rewindable(Stream stream)
    {
        if (stream.CanSeek) return stream;
        var copy = Scratch();
        stream.CopyTo(copy);
        copy.Position = 0;
        return copy;
    }

    /// <summary>Decrypts into <paramref name="plaintext"/> when the envelope has a key-agreement entry for one of our EC
    /// certificates; false (nothing written) otherwise.</summary>
    bool OpenWithKeyAgreement(Stream envelope, Stream plaintext)
    {
        var start = envelope.Position;
        // BouncyCastle's parsers dereference null (or throw all sorts) on input that is not a CMS ContentInfo at all
        // (found by fuzzing): such input is refused here first, as the malformed CMS it is.
        if (envelope.Length - start == 0) throw new Org.BouncyCastle.Cms.CmsException("the enveloped data is empty");
        var own = OwnCertificates().Where(c => c.Certificate.GetPublicKey() is ECPublicKeyParameters).ToList();
        ECPrivateKeyParameters? KeyFor(X509Name issuer, BigInteger serial)
        {
            var match = own.FirstOrDefault(c => c.Certificate.IssuerDN.Equivalent(issuer) && c.Certificate.SerialNumber.Equals(serial));
            return match.Id is null ? null : (ECPrivateKeyParameters)_keys.GetPrivateKey(match.Id);
        }
        try
        {
            if (own.Count > 0) return EcdhEnvelopeOpener.TryOpen(envelope, KeyFor, plaintext);
            // No EC key of ours: only checked to be a CMS ContentInfo, then left to MimeKit.
            if (new Asn1StreamParser(envelope).ReadObject() is not Asn1SequenceParser sequence || new Org.BouncyCastle.Asn1.Cms.ContentInfoParser(sequence).ContentType is null)
                throw new Org.BouncyCastle.Cms.CmsException("the enveloped data is not a CMS ContentInfo");
            return false;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidCastException or NullReferenceException or InvalidOperationException
                                       or Org.BouncyCastle.Asn1.Asn1Exception)
        {
            throw new Org.BouncyCastle.Cms.CmsException("the enveloped data is not a CMS structure: " + ex.Message, ex);
        }
    }

    /// <summary>
    /// Full RFC 5280 validation of a signer (or recipient) certificate against this courier's anchors, known CA
    /// certificates and CRLs, revocation included. MimeKit's own check in <c>DigitalSignature.Verify</c> does not
    /// consult CRLs here, so callers that act on a signature call this as well.
    /// </summary>
    public ChainResult ValidateCertificate(X509Certificate certificate, IEnumerable<X509Certificate>? extraIntermediates = null)
    {
        var anchors = _directory.Anchors().ToList();
        var intermediates = KnownAuthorities().Concat(extraIntermediates ?? Array.Empty<X509Certificate>()).ToList();
        if (_directory.CrlSource is { } source)
            source.Refresh(new[] { certificate }.Concat(IssuerChain.Issuers(certificate, intermediates.Concat(anchors), IssuerChain.IsSelfIssued)).ToList());
        var crls = _directory.Crls().ToList();
        ChainResult? last = null;
        foreach (var anchor in anchors)
        {
            last = ChainValidator.Validate(certificate, intermediates, anchor, crls);
            if (last.IsValid) return last;
        }
        // What this courier stored, signed by one of its own elements before a Key Replacement retired that element's
        // certificate, stays readable: retired is not compromised. Anything else revoked fails as before.
        if (AcceptRetiredOwnCertificates && last is { IsValid: false } && _directory.IsSuperseded(certificate))
            foreach (var anchor in anchors)
                if (ChainValidator.Validate(certificate, intermediates, anchor, crls, requireRevocation: false) is { IsValid: true } unrevoked) return unrevoked;
        return last ?? ChainResult.Invalid("no trust anchor is configured (this courier has not joined a network)");
    }

    /// <summary>Set by a reader of this courier's own stored parts: a certificate of ours that a Key Replacement retired
    /// (revoked as superseded) still validates the signatures it made. Never set for what arrives from outside, where a
    /// retired certificate is exactly what a replayed message would carry.</summary>
    public bool AcceptRetiredOwnCertificates { get; set; }

    protected override void UpdateSecureMimeCapabilities(X509Certificate certificate, EncryptionAlgorithm[] algorithms, DateTime timestamp)
    {
        // Capabilities of correspondents are not tracked yet: AES-256 (the default) is used for everyone.
    }

    public override void Import(Stream stream, string password, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("PKCS#12 import is not offered: keys are made and kept by the courier");

    public override Task ImportAsync(Stream stream, string password, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("PKCS#12 import is not offered: keys are made and kept by the courier");

    /// <summary>Harvest: a certificate seen in verified mail is remembered, but not approved for encryption.</summary>
    public override void Import(X509Certificate certificate, CancellationToken cancellationToken = default) =>
        _directory.Add(certificate, "harvested");

    public override void Import(X509Crl crl, CancellationToken cancellationToken = default) => _directory.AddCrl(crl);

    public override bool CanSign(MailboxAddress signer, CancellationToken cancellationToken = default) =>
        _keys.Contains(UserKeyId(signer.Address));

    public override bool CanEncrypt(MailboxAddress mailbox, CancellationToken cancellationToken = default) =>
        FindRecipientCertificate(mailbox.Address) is not null;
}
