using System.Text;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Crypto;

/// <summary>S/MIME made by the gateway opened by openssl cms, and the other way round; broken input fails cleanly.</summary>
public class SmimeInteropTests
{
    sealed class Courier : IDisposable
    {
        public PkiHierarchy Network { get; }
        public KeyStore Keys { get; }
        public CertificateDirectory Directory { get; }
        public CourierSecureMimeContext Context { get; }
        public string Dir { get; }

        public Courier(PkiHierarchy network)
        {
            Network = network;
            Dir = TempDirectory.Create("smime");
            var data = new DataDirectory(Dir);
            data.EnsureCreated();
            Keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
            Directory = new CertificateDirectory(Path.Combine(Dir, "certs.db"));
            Directory.Add(network.Root.Certificate, "hierarchy", anchor: true);
            Directory.Add(network.Public.Certificate, "hierarchy");
            Directory.Add(network.Private.Certificate, "hierarchy");
            foreach (var crl in network.Crls()) Directory.AddCrl(crl);
            Context = new CourierSecureMimeContext(Keys, Directory);
        }

        /// <summary>A local user: key and certificate in our key store.</summary>
        public X509Certificate AddUser(string address, KeyAlgorithm algorithm)
        {
            var keys = KeyPairs.Generate(algorithm);
            var cert = Network.Private.IssueUser(keys.Public, address, TimeSpan.FromDays(30));
            Keys.Put(CourierSecureMimeContext.UserKeyId(address), algorithm, keys.Private, cert);
            return cert;
        }

        /// <summary>A correspondent whose key only openssl holds: files for openssl, certificate approved in our directory.</summary>
        public (string Cert, string Key) AddOutsider(string address, KeyAlgorithm algorithm)
        {
            var keys = KeyPairs.Generate(algorithm);
            var cert = Network.Private.IssueUser(keys.Public, address, TimeSpan.FromDays(30));
            Directory.Add(cert, "admin", approved: true);
            var certPath = Path.Combine(Dir, address + ".pem");
            var keyPath = Path.Combine(Dir, address + ".key");
            File.WriteAllText(certPath, Pem(cert));
            File.WriteAllText(keyPath, Pem(new Pkcs8Generator(keys.Private)));
            return (certPath, keyPath);
        }

        public string WriteTrust()
        {
            File.WriteAllText(Path.Combine(Dir, "root.pem"), Pem(Network.Root.Certificate));
            File.WriteAllText(Path.Combine(Dir, "chain.pem"), Pem(Network.Public.Certificate, Network.Private.Certificate));
            return Dir;
        }

        public void Dispose()
        {
            Context.Dispose();
            Keys.Dispose();
            Directory.Dispose();
        }
    }

    static string Pem(params object[] objects) => CourierAuthority.Pem(objects);

    static PkiHierarchy NetworkFor(KeyAlgorithm a) => a == KeyAlgorithm.EcP256 ? Ec.Value : Rsa.Value;
    static readonly Lazy<PkiHierarchy> Ec = new(() => new PkiHierarchy(KeyAlgorithm.EcP256));
    static readonly Lazy<PkiHierarchy> Rsa = new(() => new PkiHierarchy(KeyAlgorithm.Rsa3072));

    [Theory]
    [InlineData(KeyAlgorithm.EcP256)]
    [InlineData(KeyAlgorithm.Rsa3072)]
    public async Task Gateway_signs_and_encrypts_and_openssl_decrypts_and_verifies(KeyAlgorithm algorithm)
    {
        using var courier = new Courier(NetworkFor(algorithm));
        courier.AddUser("alice@corp.test", algorithm);
        var bob = courier.AddOutsider("bob@corp.test", algorithm);
        var dir = courier.WriteTrust();

        var body = new TextPart("plain") { Text = "the secret plans\n" };
        var entity = ApplicationPkcs7Mime.SignAndEncrypt(courier.Context, new MailboxAddress("", "alice@corp.test"), DigestAlgorithm.Sha256,
            new[] { new MailboxAddress("", "bob@corp.test") }, body);
        var smime = Path.Combine(dir, "out.p7m.eml");
        await using (var f = File.Create(smime)) await entity.WriteToAsync(f);
        Assert.DoesNotContain("the secret plans", await File.ReadAllTextAsync(smime));

        var inner = Path.Combine(dir, "inner.eml");
        var decrypt = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-in", smime, "-recip", bob.Cert, "-inkey", bob.Key, "-out", inner });
        Assert.True(decrypt.ExitCode == 0, decrypt.All);
        var verify = await ExternalTool.RunAsync("openssl", new[] { "cms", "-verify", "-in", inner, "-CAfile", Path.Combine(dir, "root.pem"), "-certfile", Path.Combine(dir, "chain.pem") });
        Assert.True(verify.ExitCode == 0, verify.All);
        Assert.Contains("Verification successful", verify.StdErr);
        Assert.Contains("the secret plans", verify.StdOut);
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256)]
    [InlineData(KeyAlgorithm.Rsa3072)]
    public async Task Openssl_signs_and_encrypts_and_the_gateway_decrypts_and_verifies(KeyAlgorithm algorithm)
    {
        using var courier = new Courier(NetworkFor(algorithm));
        var aliceCert = courier.AddUser("alice@corp.test", algorithm);
        var bob = courier.AddOutsider("bob@corp.test", algorithm);
        var dir = courier.WriteTrust();
        await File.WriteAllTextAsync(Path.Combine(dir, "alice.pem"), Pem(aliceCert));
        await File.WriteAllTextAsync(Path.Combine(dir, "plain.txt"), "Content-Type: text/plain\r\n\r\nfrom openssl, with love\r\n");

        var signed = Path.Combine(dir, "signed.eml");
        var sign = await ExternalTool.RunAsync("openssl", new[] { "cms", "-sign", "-in", Path.Combine(dir, "plain.txt"), "-signer", bob.Cert, "-inkey", bob.Key,
            "-certfile", Path.Combine(dir, "chain.pem"), "-nodetach", "-out", signed });
        Assert.True(sign.ExitCode == 0, sign.All);
        var encrypted = Path.Combine(dir, "encrypted.eml");
        var encrypt = await ExternalTool.RunAsync("openssl", new[] { "cms", "-encrypt", "-aes256", "-in", signed, "-out", encrypted, "-recip", Path.Combine(dir, "alice.pem") });
        Assert.True(encrypt.ExitCode == 0, encrypt.All);

        var outer = (ApplicationPkcs7Mime)MimeEntity.Load(encrypted);
        Assert.Equal(SecureMimeType.EnvelopedData, outer.SecureMimeType);
        var decrypted = outer.Decrypt(courier.Context);
        var signedPart = Assert.IsType<ApplicationPkcs7Mime>(decrypted);
        var signatures = signedPart.Verify(courier.Context, out var content);
        var signature = Assert.Single(signatures);
        Assert.True(signature.Verify());
        Assert.Equal("bob@corp.test", signature.SignerCertificate.Email);
        Assert.Contains("from openssl, with love", ((TextPart)content).Text);
        // The signer's certificate was harvested on import by MimeKit's verify; it chains to our root.
        Assert.True(ChainValidator.Validate(((SecureMimeDigitalCertificate)signature.SignerCertificate).Certificate,
            courier.Network.Intermediates, courier.Network.Root.Certificate, courier.Network.Crls()).IsValid);
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256)]
    [InlineData(KeyAlgorithm.Rsa3072)]
    public void Sign_and_encrypt_round_trips_through_the_courier_context(KeyAlgorithm algorithm)
    {
        using var courier = new Courier(NetworkFor(algorithm));
        courier.AddUser("alice@corp.test", algorithm);
        courier.AddUser("bob@corp.test", algorithm);
        var entity = ApplicationPkcs7Mime.SignAndEncrypt(courier.Context, new MailboxAddress("", "alice@corp.test"), DigestAlgorithm.Sha256,
            new[] { new MailboxAddress("", "bob@corp.test") }, new TextPart("plain") { Text = "round trip" });
        var signedPart = Assert.IsType<MultipartSigned>(entity.Decrypt(courier.Context));
        var signature = Assert.Single(signedPart.Verify(courier.Context));
        Assert.True(signature.Verify());
        Assert.Equal("alice@corp.test", signature.SignerCertificate.Email);
        Assert.Equal("round trip", ((TextPart)signedPart[0]).Text);
    }

    /// <summary>GnuPG's S/MIME tool, a third implementation, verifies what the gateway signs (our root marked trusted).</summary>
    [Theory]
    [InlineData(KeyAlgorithm.EcP256)]
    [InlineData(KeyAlgorithm.Rsa3072)]
    public async Task Gpgsm_verifies_a_gateway_signature(KeyAlgorithm algorithm)
    {
        using var courier = new Courier(NetworkFor(algorithm));
        // gpgsm 2.2 rejects any chain with a critical nameConstraints extension ("critical certificate extension
        // 2.5.29.30 is not supported"), which RFC 5280 makes mandatory for a Private courier: so the signer here is a
        // user of the Public courier, whose chain has none.
        var keys = KeyPairs.Generate(algorithm);
        var cert = courier.Network.Public.IssueUser(keys.Public, "alice@public.test", TimeSpan.FromDays(30));
        courier.Keys.Put(CourierSecureMimeContext.UserKeyId("alice@public.test"), algorithm, keys.Private, cert);
        var dir = courier.WriteTrust();
        var signed = ApplicationPkcs7Mime.Sign(courier.Context, new MailboxAddress("", "alice@public.test"), DigestAlgorithm.Sha256,
            new TextPart("plain") { Text = "signed for gpgsm" });
        var p7m = Path.Combine(dir, "signed.p7m");
        await using (var f = File.Create(p7m)) signed.Content.DecodeTo(f);

        var home = Path.Combine(dir, "gnupg");
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var env = new Dictionary<string, string> { ["GNUPGHOME"] = home };
        var fingerprint = string.Join(":", Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(courier.Network.Root.Certificate.GetEncoded())).Chunk(2).Select(c => new string(c)));
        await File.WriteAllTextAsync(Path.Combine(home, "trustlist.txt"), $"{fingerprint} S relax\n");
        var import = await ExternalTool.RunAsync("gpgsm", new[] { "--batch", "--import", Path.Combine(dir, "root.pem"), Path.Combine(dir, "chain.pem") }, environment: env);
        Assert.True(import.ExitCode == 0, import.All);
        var output = Path.Combine(dir, "content.txt");
        var verify = await ExternalTool.RunAsync("gpgsm", new[] { "--batch", "--disable-crl-checks", "--disable-policy-checks", "--output", output, "--verify", p7m }, environment: env);
        await ExternalTool.RunAsync("gpgconf", new[] { "--kill", "all" }, environment: env);
        Assert.True(verify.ExitCode == 0, verify.All);
        Assert.Contains("Good signature", verify.All);
        Assert.Contains("signed for gpgsm", await File.ReadAllTextAsync(output));
    }

    [Fact]
    public void A_signer_whose_certificate_is_revoked_fails_validation()
    {
        using var courier = new Courier(Ec.Value);
        courier.AddUser("alice@corp.test", KeyAlgorithm.EcP256);
        var signed = ApplicationPkcs7Mime.Sign(courier.Context, new MailboxAddress("", "alice@corp.test"), DigestAlgorithm.Sha256, new TextPart("plain") { Text = "signed" });
        var signature = Assert.Single(signed.Verify(courier.Context, out _));
        Assert.True(signature.Verify());
        var signer = ((SecureMimeDigitalCertificate)signature.SignerCertificate).Certificate;
        Assert.True(courier.Context.ValidateCertificate(signer).IsValid);

        courier.Directory.AddCrl(courier.Network.Private.CreateCrl(new[] { (signer.SerialNumber, DateTime.UtcNow.AddMinutes(-1)) },
            Org.BouncyCastle.Math.BigInteger.Two, DateTime.UtcNow, DateTime.UtcNow.AddDays(1)));
        var result = courier.Context.ValidateCertificate(signer);
        Assert.False(result.IsValid);
        Assert.Contains("revocation", result.Reason, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_unknown_content_encryption_algorithm_is_refused_cleanly()
    {
        using var courier = new Courier(Ec.Value);
        courier.AddUser("alice@corp.test", KeyAlgorithm.EcP256);
        var envelope = (ApplicationPkcs7Mime)ApplicationPkcs7Mime.Encrypt(courier.Context, new[] { new MailboxAddress("", "alice@corp.test") }, new TextPart("plain") { Text = "x" });
        var der = new MemoryStream();
        envelope.Content.DecodeTo(der);
        var bytes = der.ToArray();
        // Replace the AES-256-CBC OID (2.16.840.1.101.3.4.1.42) by an unassigned arc under the same prefix.
        var oid = new byte[] { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A };
        var at = bytes.AsSpan().IndexOf(oid);
        Assert.True(at >= 0);
        bytes[at + oid.Length - 1] = 0x7F;
        var broken = new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, new MemoryStream(bytes));
        var ex = Assert.ThrowsAny<Exception>(() => broken.Decrypt(courier.Context));
        Assert.IsNotType<NullReferenceException>(ex);
    }

    /// <summary>Mail from BouncyCastle-based senders (NULL wrap parameters in the KDF input) still opens.</summary>
    [Fact]
    public void Ec_envelopes_made_by_bouncycastle_itself_still_open()
    {
        using var courier = new Courier(Ec.Value);
        var alice = courier.AddUser("alice@corp.test", KeyAlgorithm.EcP256);
        var sender = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var generator = new Org.BouncyCastle.Cms.CmsEnvelopedDataGenerator();
        generator.AddKeyAgreementRecipient(Org.BouncyCastle.Cms.CmsEnvelopedGenerator.ECDHSha1Kdf, sender.Private, sender.Public, alice,
            Org.BouncyCastle.Cms.CmsEnvelopedGenerator.Aes128Wrap);
        var inner = Encoding.ASCII.GetBytes("Content-Type: text/plain\r\n\r\nold style\r\n");
        var enveloped = generator.Generate(new Org.BouncyCastle.Cms.CmsProcessableByteArray(inner), Org.BouncyCastle.Cms.CmsEnvelopedGenerator.Aes128Cbc);
        var part = new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, new MemoryStream(enveloped.GetEncoded()));
        Assert.Contains("old style", ((TextPart)part.Decrypt(courier.Context)).Text);
    }

    [Fact]
    public void A_tampered_signature_does_not_verify()
    {
        using var courier = new Courier(Ec.Value);
        courier.AddUser("alice@corp.test", KeyAlgorithm.EcP256);
        var signed = ApplicationPkcs7Mime.Sign(courier.Context, new MailboxAddress("", "alice@corp.test"), DigestAlgorithm.Sha256, new TextPart("plain") { Text = "pay 10 EUR" });
        var bytes = new MemoryStream();
        signed.Content.DecodeTo(bytes);
        var der = bytes.ToArray();
        var index = der.AsSpan().IndexOf("pay 10"u8);
        Assert.True(index > 0);
        der[index + 4] = (byte)'9'; // "pay 90 EUR"
        var tampered = new ApplicationPkcs7Mime(SecureMimeType.SignedData, new MemoryStream(der));
        var signatures = tampered.Verify(courier.Context, out _);
        Assert.Throws<DigitalSignatureVerifyException>(() => signatures.Single().Verify());
    }

    [Fact]
    public void Decrypting_for_someone_else_and_truncated_cms_fail_cleanly()
    {
        using var courier = new Courier(Ec.Value);
        courier.AddUser("alice@corp.test", KeyAlgorithm.EcP256);
        courier.AddOutsider("bob@corp.test", KeyAlgorithm.EcP256);
        var forBob = ApplicationPkcs7Mime.Encrypt(courier.Context, new[] { new MailboxAddress("", "bob@corp.test") }, new TextPart("plain") { Text = "for bob only" });
        // We hold no key for bob.
        Assert.ThrowsAny<Exception>(() => forBob.Decrypt(courier.Context));

        var forAlice = ApplicationPkcs7Mime.Encrypt(courier.Context, new[] { new MailboxAddress("", "alice@corp.test") }, new TextPart("plain") { Text = "hi" });
        var bytes = new MemoryStream();
        forAlice.Content.DecodeTo(bytes);
        var truncated = new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, new MemoryStream(bytes.ToArray()[..(int)(bytes.Length / 2)]));
        var ex = Assert.ThrowsAny<Exception>(() => truncated.Decrypt(courier.Context));
        Assert.IsNotType<NullReferenceException>(ex);
        Assert.Equal("hi", ((TextPart)forAlice.Decrypt(courier.Context)).Text); // the intact one opens
    }

    [Fact]
    public void Harvested_certificates_are_not_used_for_encryption_until_approved()
    {
        using var courier = new Courier(Ec.Value);
        var stranger = Ec.Value.Public.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "stranger@elsewhere.example", TimeSpan.FromDays(30));
        courier.Context.Import(stranger);
        Assert.False(courier.Context.CanEncrypt(new MailboxAddress("", "stranger@elsewhere.example")));
        courier.Directory.Add(stranger, "admin", approved: true);
        Assert.True(courier.Context.CanEncrypt(new MailboxAddress("", "stranger@elsewhere.example")));
    }
}
