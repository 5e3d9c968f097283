using Org.BouncyCastle.X509;

namespace Gateway.Crypto;

/// <summary>Walks from a certificate up through its issuers, as far as the given candidates reach.</summary>
public static class IssuerChain
{
    const int MaxDepth = 16;

    /// <summary>
    /// The issuers of <paramref name="start"/>, nearest first, taken from <paramref name="candidates"/> (CA certificates only),
    /// stopping after a certificate for which <paramref name="isLast"/> holds, when no issuer is known, or at a cycle.
    /// </summary>
    public static List<X509Certificate> Issuers(X509Certificate start, IEnumerable<X509Certificate> candidates, Func<X509Certificate, bool> isLast)
    {
        var pool = candidates.Where(c => c.GetBasicConstraints() >= 0).ToList();
        var issuers = new List<X509Certificate>();
        var current = start;
        while (!isLast(current) && issuers.Count < MaxDepth)
        {
            var issuer = pool.FirstOrDefault(c => c.SubjectDN.Equivalent(current.IssuerDN) && !c.Equals(current) && !issuers.Contains(c));
            if (issuer is null) break;
            issuers.Add(issuer);
            current = issuer;
        }
        return issuers;
    }

    public static bool IsSelfIssued(X509Certificate certificate) => certificate.IssuerDN.Equivalent(certificate.SubjectDN);
}
