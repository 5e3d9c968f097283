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
/// <remarks>
/// Every part the courier handles is checked this way, several times on its way, and the same few chains come back
/// each time: a valid result is remembered for the same path, root and CRLs of the path's issuers, until the first of
/// ten minutes, a certificate's end or a CRL's next update. A new CRL (a revocation) is another key: checked again.
/// </remarks>
public static class ChainValidator
{
    static readonly TimeSpan RememberAtMost = TimeSpan.FromMinutes(10);
    const int MaxRemembered = 10_000;
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> Remembered = new(StringComparer.Ordinal);

    /// <param name="requireRevocation">False only where no CRL can exist yet (installing a freshly issued chain).</param>
    public static ChainResult Validate(X509Certificate target, IEnumerable<X509Certificate> intermediates, X509Certificate root,
        IEnumerable<X509Crl> crls, DateTime? atUtc = null, bool requireRevocation = true)
    {
        var path = new List<X509Certificate> { target };
        path.AddRange(IssuerChain.Issuers(target, intermediates, c => c.IssuerDN.Equivalent(root.SubjectDN)));
        if (!path[^1].IssuerDN.Equivalent(root.SubjectDN))
            return ChainResult.Invalid($"no issuer certificate for '{path[^1].IssuerDN}' between '{target.SubjectDN}' and the root");
        var crlList = crls as IReadOnlyCollection<X509Crl> ?? crls.ToList();
        if (atUtc is not null) return Check(path, root, crlList, atUtc.Value, requireRevocation);

        var now = DateTime.UtcNow;
        var relevant = crlList.Where(crl => path.Any(c => c.IssuerDN.Equivalent(crl.IssuerDN))).ToList();
        var key = Key(path, root, relevant, requireRevocation);
        if (Remembered.TryGetValue(key, out var until) && now < until) return ChainResult.Valid;
        var result = Check(path, root, crlList, now, requireRevocation);
        if (result.IsValid)
        {
            var validUntil = new[] { now + RememberAtMost, root.NotAfter.ToUniversalTime() }
                .Concat(path.Select(c => c.NotAfter.ToUniversalTime()))
                .Concat(relevant.Where(c => c.NextUpdate is not null).Select(c => c.NextUpdate!.Value.ToUniversalTime())).Min();
            if (Remembered.Count >= MaxRemembered) Remembered.Clear();
            Remembered[key] = validUntil;
        }
        return result;
    }

    static string Key(IReadOnlyList<X509Certificate> path, X509Certificate root, IReadOnlyList<X509Crl> crls, bool requireRevocation)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var c in path) hash.AppendData(c.GetEncoded());
        hash.AppendData(root.GetEncoded());
        // A CRL by its signature, not its encoding: BouncyCastle encodes a CRL anew on every GetEncoded, which for a
        // CRL of 10,000 revocations is 1.5 ms, several times per part. Only a check that passed is remembered, and a
        // CRL passes only with the content its issuer signed, so a remembered result is one for that very content;
        // a new CRL (a new revocation) is a new signature and is checked again.
        foreach (var crl in crls.OrderBy(c => c.IssuerDN.ToString(), StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(crl.IssuerDN.ToString()));
            hash.AppendData(crl.GetSignature());
        }
        hash.AppendData(requireRevocation ? "r"u8 : "-"u8);
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    static ChainResult Check(List<X509Certificate> path, X509Certificate root, IReadOnlyCollection<X509Crl> crls, DateTime atUtc, bool requireRevocation)
    {

        var parameters = new PkixParameters(new HashSet<TrustAnchor> { new(root, null) })
        {
            IsRevocationEnabled = requireRevocation,
            Date = atUtc,
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
