using Org.BouncyCastle.Pkix;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <param name="MissingRevocationData">Invalid only because a CRL on the path is not at hand (a peer's distribution
/// point could not be reached): still refused, but worth trying again later.</param>
public sealed record ChainResult(bool IsValid, string? Reason, bool MissingRevocationData = false)
{
    public static readonly ChainResult Valid = new(true, null);
    public static ChainResult Invalid(string reason) => new(false, reason);
}

/// <summary>
/// RFC 5280 path validation up to the network's Root courier: signatures, validity periods, basic constraints
/// and path lengths, name constraints (a Private courier's certificates must stay inside its domains) and
/// revocation (a CRL must be at hand for every CA on the path; a missing one fails closed).
/// </summary>
public static class ChainValidator
{
    /// <param name="requireRevocation">False only where no CRL can exist yet (installing a freshly issued chain).</param>
    public static ChainResult Validate(X509Certificate target, IEnumerable<X509Certificate> intermediates, X509Certificate root,
        IEnumerable<X509Crl> crls, DateTime? atUtc = null, bool requireRevocation = true)
    {
        var path = new List<X509Certificate> { target };
        path.AddRange(IssuerChain.Issuers(target, intermediates, c => c.IssuerDN.Equivalent(root.SubjectDN)));
        if (!path[^1].IssuerDN.Equivalent(root.SubjectDN))
            return ChainResult.Invalid($"no issuer certificate for '{path[^1].IssuerDN}' between '{target.SubjectDN}' and the root");

        var parameters = new PkixParameters(new HashSet<TrustAnchor> { new(root, null) })
        {
            IsRevocationEnabled = requireRevocation,
            Date = atUtc ?? DateTime.UtcNow,
        };
        parameters.AddStoreCrl(CollectionUtilities.CreateStore(crls.ToList()));
        parameters.AddStoreCert(CollectionUtilities.CreateStore(path));
        try
        {
            new PkixCertPathValidator().Validate(new PkixCertPath(path), parameters);
            return ChainResult.Valid;
        }
        catch (PkixCertPathValidatorException ex)
        {
            var at = ex.Index >= 0 && ex.Index < path.Count ? $" (at '{path[ex.Index].SubjectDN}')" : "";
            // BouncyCastle says "Certificate revocation after DATE, reason: ..." for a revoked certificate.
            var revoked = ex.Message.StartsWith("Certificate revocation", StringComparison.Ordinal) && ex.Index >= 0 && ex.Index < path.Count
                ? $"'{path[ex.Index].SubjectDN}' is revoked: " : "";
            return new ChainResult(false, revoked + ex.Message + at, ex.Message.StartsWith("No CRLs found", StringComparison.Ordinal));
        }
    }
}
