using System.Diagnostics;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using MimeKit;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

// Measures, single-threaded, the cryptography the split does per message through the gateway's own code (a sealed
// part: sign + encrypt; an opened part: decrypt + verify + path validation with CRLs) and the BouncyCastle primitives
// under it, for the same algorithms `openssl speed` measures (ECDSA P-256, ECDH P-256, AES-256-CBC on 10 KB).
// Prints "name ops_per_second" lines; bench/crypto-cost.sh turns them into the table.

var seconds = args.Length > 0 && double.TryParse(args[0], out var s) ? s : 2.0;
var size = args.Length > 1 && int.TryParse(args[1], out var b) ? b : 10240;

var root = Path.Combine(Path.GetTempPath(), "gateway-crypto-cost-" + Environment.ProcessId);
try
{
    var data = new DataDirectory(root);
    data.EnsureCreated();
    using var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
    using var directory = new CertificateDirectory(data.CertificateDirectoryPath);
    var authority = new CourierAuthority(keys, directory, null);
    authority.InitRoot("bench.test", KeyAlgorithm.EcP256);
    directory.Add(authority.Certificate!, "hierarchy");
    directory.AddCrl(authority.CurrentCrl());
    authority.IssueUser("alice@bench.test", KeyAlgorithm.EcP256);
    var agent = ScopedKeyRing.Agent(keys);
    var foreground = ScopedKeyRing.Foreground(keys);
    var foregroundCertificate = keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!;
    var payload = new byte[size];
    Random.Shared.NextBytes(payload);

    double Rate(string name, Action op)
    {
        for (var i = 0; i < 20; i++) op(); // warm-up
        var clock = Stopwatch.StartNew();
        var n = 0;
        while (clock.Elapsed.TotalSeconds < seconds) { op(); n++; }
        var rate = n / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{name} {rate:F1}");
        return rate;
    }

    using (var agentContext = new CourierSecureMimeContext(agent, directory))
    using (var foregroundContext = new CourierSecureMimeContext(foreground, directory))
    {
        var signer = PartEnvelope.Signer(agent, CourierSecureMimeContext.UserKeyId("alice@bench.test"));
        MimeEntity Part() => CourierMime.Part("application/octet-stream", payload);
        var sealedPart = PartEnvelope.Seal(agentContext, signer, foregroundCertificate, Part());
        // Steady state: the ephemeral key for the Foreground and its shared secret are reused (EphemeralKeyReuse).
        Rate("gateway_seal", () => PartEnvelope.Seal(agentContext, signer, foregroundCertificate, Part()));
        Rate("gateway_open", () => PartEnvelope.Open(foregroundContext, sealedPart, "alice@bench.test"));
        // The first envelope to a recipient in a minute: a new ephemeral key, and the receiver's ECDH.
        Rate("gateway_seal_fresh", () => { EphemeralKeyReuse.Forget(); PartEnvelope.Seal(agentContext, signer, foregroundCertificate, Part()); });
        Rate("gateway_open_fresh", () => { EphemeralKeyReuse.Forget(); PartEnvelope.Open(foregroundContext, sealedPart, "alice@bench.test"); });
    }

    // The primitives, with BouncyCastle as the gateway uses it.
    var pair = KeyPairs.Generate(KeyAlgorithm.EcP256);
    var other = KeyPairs.Generate(KeyAlgorithm.EcP256);
    var digest = DigestUtilities.CalculateDigest("SHA-256", payload);
    var ecdsa = new ECDsaSigner(new HMacDsaKCalculator(new Org.BouncyCastle.Crypto.Digests.Sha256Digest()));
    ecdsa.Init(true, pair.Private);
    var signature = ecdsa.GenerateSignature(digest);
    Rate("bc_ecdsa_p256_sign", () => { ecdsa.Init(true, pair.Private); ecdsa.GenerateSignature(digest); });
    Rate("bc_ecdsa_p256_verify", () => { ecdsa.Init(false, pair.Public); ecdsa.VerifySignature(digest, signature[0], signature[1]); });
    Rate("bc_ecdh_p256", () =>
    {
        var agreement = new ECDHBasicAgreement();
        agreement.Init(pair.Private);
        agreement.CalculateAgreement(other.Public);
    });
    var key = new KeyParameter(new byte[32]);
    var iv = new byte[16];
    Rate("bc_aes256cbc_" + size, () =>
    {
        var cipher = CipherUtilities.GetCipher("AES/CBC/PKCS7PADDING");
        cipher.Init(true, new ParametersWithIV(key, iv));
        cipher.DoFinal(payload);
    });
    Rate("bc_sha256_" + size, () => DigestUtilities.CalculateDigest("SHA-256", payload));
}
finally
{
    try { Directory.Delete(root, recursive: true); } catch (IOException) { }
}
