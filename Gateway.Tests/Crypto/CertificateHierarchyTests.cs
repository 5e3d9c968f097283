using System.Text;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Crypto;

public class CertificateHierarchyTests
{
    static readonly PkiHierarchy Network = new();

    [Fact]
    public void A_user_of_a_private_courier_validates_up_to_the_root()
    {
        var user = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "alice@corp.test", TimeSpan.FromDays(365));
        Assert.Equal(ChainResult.Valid, Network.Validate(user));
        Assert.Contains(KeyPurposeID.id_kp_emailProtection.Id, user.GetExtendedKeyUsage().Select(o => o.Id));
        Assert.Equal("alice@corp.test", user.GetSubjectAlternativeNameExtension()!.GetNames().Single().Name.ToString());
        Assert.False(user.GetKeyUsage()![5]); // keyCertSign is not set on an end entity
    }

    [Fact]
    public void A_private_courier_cannot_issue_for_a_foreign_domain()
    {
        var foreign = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "bob@evil.test", TimeSpan.FromDays(365));
        var result = Network.Validate(foreign);
        Assert.False(result.IsValid);
        Assert.Contains("ubtree", result.Reason); // "... not in permitted subtree" / "excluded subtree"
    }

    [Fact]
    public void Subdomains_of_a_private_courier_are_inside_its_constraints() =>
        Assert.True(Network.Validate(Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "carol@eu.corp.test", TimeSpan.FromDays(30))).IsValid);

    [Fact]
    public void A_public_courier_may_issue_for_any_domain() =>
        Assert.True(ChainValidator.Validate(Network.Public.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "dan@anywhere.example", TimeSpan.FromDays(30)),
            Network.Intermediates, Network.Root.Certificate, Network.Crls()).IsValid);

    [Fact]
    public void A_revoked_certificate_fails_and_a_missing_crl_fails_closed()
    {
        var user = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "eve@corp.test", TimeSpan.FromDays(365));
        var revoked = Network.Validate(user, Network.Crls(user.SerialNumber));
        Assert.False(revoked.IsValid);
        Assert.Contains("revocation", revoked.Reason, StringComparison.OrdinalIgnoreCase);
        var withoutPrivateCrl = Network.Crls().Take(2).ToList();
        Assert.False(Network.Validate(user, withoutPrivateCrl).IsValid);
    }

    [Fact]
    public void A_certificate_remembered_as_valid_fails_once_a_new_crl_revokes_it()
    {
        var user = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "fay@corp.test", TimeSpan.FromDays(365));
        var crls = Network.Crls();
        Assert.True(Network.Validate(user, crls).IsValid);
        Assert.True(Network.Validate(user, crls).IsValid); // remembered
        // The revoking CRLs carry the same CRL number and issuers: only their content (and so their signature) differs.
        var revoked = Network.Validate(user, Network.Crls(user.SerialNumber));
        Assert.False(revoked.IsValid);
        Assert.Contains("revocation", revoked.Reason, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_expired_certificate_fails()
    {
        var user = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "old@corp.test", TimeSpan.FromDays(1));
        var result = Network.Validate(user, at: DateTime.UtcNow.AddDays(3));
        Assert.False(result.IsValid);
    }

    [Fact]
    public void A_private_courier_cannot_create_a_subordinate_ca()
    {
        var rogueKeys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var rogue = new CertificateAuthority(
            Network.Private.SignSubordinate(CertificateAuthority.CreateRequest(rogueKeys, "sub.corp.test"), CourierRole.Private, new[] { "sub.corp.test" }, TimeSpan.FromDays(30)),
            rogueKeys.Private);
        var user = rogue.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "x@sub.corp.test", TimeSpan.FromDays(30));
        var crls = Network.Crls();
        crls.Add(rogue.CreateCrl(Array.Empty<(BigInteger, DateTime)>(), BigInteger.One, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddDays(1)));
        var result = ChainValidator.Validate(user, Network.Intermediates.Append(rogue.Certificate), Network.Root.Certificate, crls);
        Assert.False(result.IsValid); // path length 0 on the Private courier's certificate
    }

    [Fact]
    public void Roles_are_carried_as_certificate_policies()
    {
        static CourierRole? Role(X509Certificate c) =>
            CertificatePolicies.GetInstance(c.GetExtensionValue(X509Extensions.CertificatePolicies).GetOctets())
                .GetPolicyInformation().Select(p => CourierPolicies.RoleOf(p.PolicyIdentifier.Id)).FirstOrDefault(r => r is not null);
        Assert.Equal(CourierRole.Root, Role(Network.Root.Certificate));
        Assert.Equal(CourierRole.Public, Role(Network.Public.Certificate));
        Assert.Equal(CourierRole.Private, Role(Network.Private.Certificate));
    }

    [Fact]
    public void Introduction_certificates_are_issued_per_element()
    {
        var fg = Network.Private.IssueIntroduction(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "corp.test", CourierElement.Foreground, TimeSpan.FromDays(365));
        var bg = Network.Private.IssueIntroduction(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "corp.test", CourierElement.Background, TimeSpan.FromDays(365));
        Assert.True(Network.Validate(fg).IsValid);
        Assert.True(Network.Validate(bg).IsValid);
        Assert.Contains(fg.GetSubjectAlternativeNameExtension()!.GetNames(), n => n.Name.ToString() == "foreground@corp.test");
        Assert.NotEqual(fg.GetPublicKey(), bg.GetPublicKey());
    }

    [Fact]
    public void Rsa_3072_hierarchy_validates_too()
    {
        var rsa = new PkiHierarchy(KeyAlgorithm.Rsa3072);
        var user = rsa.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.Rsa3072).Public, "rsa@corp.test", TimeSpan.FromDays(30));
        Assert.True(rsa.Validate(user).IsValid);
        Assert.True(user.GetKeyUsage()![2]); // keyEncipherment for RSA
    }

    /// <summary>openssl, an implementation nobody here wrote, reaches the same verdicts from the same files.</summary>
    [Fact]
    public async Task Openssl_verify_agrees_on_chain_name_constraints_and_revocation()
    {
        var dir = TempDirectory.Create("openssl-pki");
        var good = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "alice@corp.test", TimeSpan.FromDays(30));
        var foreign = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "mallory@evil.test", TimeSpan.FromDays(30));
        var revoked = Network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "gone@corp.test", TimeSpan.FromDays(30));
        static string Pem(params object[] objects) => CourierAuthority.Pem(objects);
        await File.WriteAllTextAsync(Path.Combine(dir, "root.pem"), Pem(Network.Root.Certificate));
        await File.WriteAllTextAsync(Path.Combine(dir, "chain.pem"), Pem(Network.Public.Certificate, Network.Private.Certificate));
        await File.WriteAllTextAsync(Path.Combine(dir, "crls.pem"), Pem(Network.Crls(revoked.SerialNumber).Cast<object>().ToArray()));
        await File.WriteAllTextAsync(Path.Combine(dir, "good.pem"), Pem(good));
        await File.WriteAllTextAsync(Path.Combine(dir, "foreign.pem"), Pem(foreign));
        await File.WriteAllTextAsync(Path.Combine(dir, "revoked.pem"), Pem(revoked));

        async Task<ToolResult> Verify(string leaf) => await ExternalTool.RunAsync("openssl", new[]
        {
            "verify", "-crl_check_all", "-purpose", "smimesign",
            "-CAfile", Path.Combine(dir, "root.pem"), "-untrusted", Path.Combine(dir, "chain.pem"),
            "-CRLfile", Path.Combine(dir, "crls.pem"), Path.Combine(dir, leaf),
        });
        var ok = await Verify("good.pem");
        Assert.True(ok.ExitCode == 0, ok.All);
        var nc = await Verify("foreign.pem");
        Assert.NotEqual(0, nc.ExitCode);
        Assert.Contains("subtree violation", nc.All);
        var rv = await Verify("revoked.pem");
        Assert.NotEqual(0, rv.ExitCode);
        Assert.Contains("certificate revoked", rv.All);
    }
}
