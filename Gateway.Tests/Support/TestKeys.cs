using System.Security.Cryptography;
using Gateway.Crypto;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Support;

/// <summary>Keys and self-signed certificates for the CMS tests: made by BouncyCastle, or by openssl (a peer nobody here wrote).</summary>
public static class TestKeys
{
    /// <summary>A key pair and a self-signed certificate for it (CN=signer), valid from yesterday to tomorrow.</summary>
    public static (AsymmetricCipherKeyPair Pair, X509Certificate Certificate) SelfSigned(KeyAlgorithm algorithm = KeyAlgorithm.EcP256)
    {
        var pair = KeyPairs.Generate(algorithm);
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(Org.BouncyCastle.Math.BigInteger.ValueOf(RandomNumberGenerator.GetInt32(1, int.MaxValue)));
        generator.SetIssuerDN(new X509Name("CN=signer"));
        generator.SetSubjectDN(new X509Name("CN=signer"));
        generator.SetNotBefore(DateTime.UtcNow.AddDays(-1));
        generator.SetNotAfter(DateTime.UtcNow.AddDays(1));
        generator.SetPublicKey(pair.Public);
        return (pair, generator.Generate(new Asn1SignatureFactory(algorithm == KeyAlgorithm.EcP256 ? "SHA256withECDSA" : "SHA256withRSA", pair.Private)));
    }

    /// <summary>A P-256 key and a self-signed certificate made by openssl in <paramref name="directory"/>: the PEM paths
    /// and the certificate as BouncyCastle reads it.</summary>
    public static async Task<(string KeyPath, string CertificatePath, X509Certificate Certificate)> OpensslEcAsync(string directory, string subject)
    {
        ExternalTool.Require("openssl");
        var key = Path.Combine(directory, "key.pem");
        var certificate = Path.Combine(directory, "cert.pem");
        var made = await ExternalTool.RunAsync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", certificate, "-days", "2", "-subj", subject]);
        Assert.True(made.ExitCode == 0, made.StdErr);
        return (key, certificate, new X509CertificateParser().ReadCertificate(await File.ReadAllBytesAsync(certificate)));
    }
}
