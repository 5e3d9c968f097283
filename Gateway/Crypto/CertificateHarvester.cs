using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>
/// Learns correspondents' S/MIME certificates from signed mail arriving for local users: each signer certificate
/// whose signature verifies is stored in the <see cref="CertificateDirectory"/>, approved for encryption only when
/// it chains (revocation included) to one of our trust anchors; otherwise it waits for 'gateway cert approve'.
/// </summary>
public sealed class CertificateHarvester(KeyStore keys, CertificateDirectory directory, ILogger<CertificateHarvester> logger)
{
    /// <summary>Returns the number of certificates learnt. Never throws for a malformed or unverifiable message.</summary>
    public int Harvest(Stream message)
    {
        // Signed mail says so at the top (multipart/signed or application/pkcs7-mime): look at the headers first and
        // leave every other message, attachments and all, unparsed.
        try
        {
            var headers = HeaderList.Load(message);
            var type = headers[HeaderId.ContentType] ?? "";
            if (!type.Contains("signed", StringComparison.OrdinalIgnoreCase) && !type.Contains("pkcs7-mime", StringComparison.OrdinalIgnoreCase)
                && !type.Contains("x-pkcs7-mime", StringComparison.OrdinalIgnoreCase))
                return 0;
        }
        catch (FormatException) { return 0; }
        message.Position = 0;

        MimeMessage parsed;
        try { parsed = MimeMessage.Load(message); }
        catch (FormatException) { return 0; }

        var learnt = 0;
        using var context = new CourierSecureMimeContext(keys, directory);
        foreach (var signed in SignedParts(parsed.Body))
        {
            DigitalSignatureCollection signatures;
            try
            {
                signatures = signed switch
                {
                    MultipartSigned multipart => multipart.Verify(context),
                    ApplicationPkcs7Mime pkcs7 => pkcs7.Verify(context, out _),
                    _ => new DigitalSignatureCollection(Array.Empty<IDigitalSignature>()),
                };
            }
            catch (Exception ex) when (ex is FormatException or NotSupportedException or Org.BouncyCastle.Cms.CmsException or IOException)
            {
                logger.LogInformation("Signed part could not be read for certificate harvest: {Reason}", ex.Message);
                continue;
            }
            foreach (var signature in signatures)
            {
                // The signature itself must hold; whether its certificate is trusted is decided below, by our own chain rules.
                try
                {
                    if (!signature.Verify(verifySignatureOnly: true)) continue;
                }
                catch (DigitalSignatureVerifyException)
                {
                    continue;
                }
                if (signature.SignerCertificate is not SecureMimeDigitalCertificate smime) continue;
                var certificate = smime.Certificate;
                var chained = context.ValidateCertificate(certificate).IsValid;
                var known = directory.Add(certificate, "harvested", approved: chained);
                learnt++;
                logger.LogInformation("Harvested certificate of {Address} ({Subject}); {Trust}", smime.Email, certificate.SubjectDN,
                    known.Approved ? "trusted: it chains to our network" : "held until an admin approves it ('gateway cert approve " + known.Id + "')");
            }
        }
        return learnt;
    }

    static IEnumerable<MimeEntity> SignedParts(MimeEntity? entity)
    {
        switch (entity)
        {
            case MultipartSigned signed:
                yield return signed;
                break;
            case ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.SignedData } pkcs7:
                yield return pkcs7;
                break;
            case Multipart multipart:
                foreach (var part in multipart.SelectMany(SignedParts)) yield return part;
                break;
        }
    }
}
