using Org.BouncyCastle.Asn1;

namespace Gateway.Crypto;

/// <summary>A courier's place in the certificate hierarchy (see DESIGN.md), carried in its CA certificate as a policy.</summary>
public enum CourierRole { Root, Public, Private, Gateway }

/// <summary>
/// The certificate policy OIDs that mark a courier's role. They live under a UUID-based arc (2.25, ITU-T X.667),
/// which needs no registration: 2.25.6432775754389623063745614192468177117.1.{1 root, 2 public, 3 private, 4 gateway}.
/// </summary>
public static class CourierPolicies
{
    public const string Arc = "2.25.6432775754389623063745614192468177117.1";

    public static DerObjectIdentifier For(CourierRole role) => new($"{Arc}.{(int)role + 1}");

    public static CourierRole? RoleOf(string oid) =>
        oid.StartsWith(Arc + ".", StringComparison.Ordinal) && int.TryParse(oid[(Arc.Length + 1)..], out var n) && n is >= 1 and <= 4
            ? (CourierRole)(n - 1)
            : null;
}
