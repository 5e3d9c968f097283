using System.Security.Cryptography;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Crypto;

/// <summary>
/// The CMS signature check the courier's parts go through: what BouncyCastle (EC and RSA keys), openssl and our own
/// writer sign, it accepts with the content intact; a changed octet of content, attributes or signature, or the wrong
/// certificate, it refuses.
/// </summary>
public class SignedDataReaderTests
{
    static byte[] BouncyCastleSigned(AsymmetricCipherKeyPair pair, X509Certificate certificate, byte[] content)
    {
        var generator = new CmsSignedDataStreamGenerator();
        generator.AddSigner(pair.Private, certificate, CmsSignedGenerator.DigestSha256);
        generator.AddCertificate(certificate);
        var output = new MemoryStream();
        using (var sink = generator.Open(output, encapsulate: true)) sink.Write(content);
        return output.ToArray();
    }

    static bool Check(byte[] der, X509Certificate? expected, out byte[] content)
    {
        var copy = new MemoryStream();
        var reader = SignedDataReader.Read(new MemoryStream(der), copy);
        content = copy.ToArray();
        var signer = Assert.Single(reader.Signers);
        var certificate = reader.CertificateOf(signer);
        Assert.NotNull(certificate);
        if (expected is not null) Assert.Equal(expected, certificate);
        return reader.Verify(signer, expected ?? certificate);
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256)]
    [InlineData(KeyAlgorithm.Rsa3072)]
    public void Accepts_what_BouncyCastle_signs_and_refuses_changes(KeyAlgorithm algorithm)
    {
        var (pair, certificate) = TestKeys.SelfSigned(algorithm);
        var content = RandomNumberGenerator.GetBytes(70_000);
        var der = BouncyCastleSigned(pair, certificate, content);
        Assert.True(Check(der, certificate, out var back));
        Assert.Equal(content, back);

        // A changed octet of the content: the digest no longer matches.
        var tampered = (byte[])der.Clone();
        tampered[der.AsSpan().IndexOf(content.AsSpan(1000, 16)) + 3] ^= 0x01;
        Assert.False(Check(tampered, certificate, out _));
        // A changed octet of the signature (the last octets of the structure are the signer info's signature).
        var badSignature = (byte[])der.Clone();
        badSignature[^12] ^= 0x01;
        Assert.False(Check(badSignature, certificate, out _));
        // Another key's certificate.
        var (_, other) = TestKeys.SelfSigned(algorithm);
        var reader = SignedDataReader.Read(new MemoryStream(der), Stream.Null);
        Assert.False(reader.Verify(reader.Signers[0], other));
    }

    [Fact]
    public void Accepts_what_the_writer_signs()
    {
        var (pair, certificate) = TestKeys.SelfSigned(KeyAlgorithm.EcP256);
        var content = RandomNumberGenerator.GetBytes(150_000);
        var output = new MemoryStream();
        using (var writer = SignedDataWriter.TryOpen(output, pair.Private, [certificate])!) writer.Write(content);
        Assert.True(Check(output.ToArray(), certificate, out var back));
        Assert.Equal(content, back);
    }

    [Fact]
    public async Task Accepts_what_openssl_signs()
    {
        var dir = TempDirectory.Create("signed-reader");
        var (key, certificatePath, certificate) = await TestKeys.OpensslEcAsync(dir, "/CN=openssl signer");
        var content = RandomNumberGenerator.GetBytes(100_000);
        await File.WriteAllBytesAsync(Path.Combine(dir, "content"), content);
        var signed = await ExternalTool.RunAsync("openssl", ["cms", "-sign", "-nodetach", "-binary", "-md", "sha256", "-in", Path.Combine(dir, "content"),
            "-signer", certificatePath, "-inkey", key, "-outform", "DER", "-out", Path.Combine(dir, "signed.der")]);
        Assert.True(signed.ExitCode == 0, signed.StdErr);
        Assert.True(Check(await File.ReadAllBytesAsync(Path.Combine(dir, "signed.der")), certificate, out var back));
        Assert.Equal(content, back);
    }
}
