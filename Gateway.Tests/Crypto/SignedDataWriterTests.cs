using System.Security.Cryptography;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Gateway.Tests.Crypto;

/// <summary>
/// The streamed SignedData writer and .NET's EC under BouncyCastle keys: what the writer signs, BouncyCastle's CMS
/// parser and openssl cms verify at every chunk edge, and a changed octet fails; the native ECDH secret and ECDSA
/// signature agree with BouncyCastle's own arithmetic.
/// </summary>
public class SignedDataWriterTests
{
    static byte[] Signed(AsymmetricCipherKeyPair pair, X509Certificate certificate, byte[] content, int piece)
    {
        var output = new MemoryStream();
        using (var writer = SignedDataWriter.TryOpen(output, pair.Private, [certificate])!)
            for (var offset = 0; offset < content.Length; offset += piece) writer.Write(content, offset, Math.Min(piece, content.Length - offset));
        return output.ToArray();
    }

    [Fact]
    public void BouncyCastle_verifies_what_the_writer_signs_and_refuses_a_changed_octet()
    {
        var (pair, certificate) = TestKeys.SelfSigned();
        foreach (var size in new[] { 0, 1, 65535, 65536, 65537, 200_000 })
        {
            var content = RandomNumberGenerator.GetBytes(size);
            var der = Signed(pair, certificate, content, 5000);
            var parser = new CmsSignedDataParser(der);
            var back = new MemoryStream();
            using (var stream = parser.GetSignedContent().ContentStream) stream.CopyTo(back);
            Assert.Equal(content, back.ToArray());
            var signer = parser.GetSignerInfos().GetSigners().Single();
            Assert.Equal(certificate, parser.GetCertificates().EnumerateMatches(signer.SignerID).Single());
            Assert.True(signer.Verify(certificate), $"size {size}");

            if (size < 16) continue;
            var tampered = (byte[])der.Clone();
            var at = der.AsSpan().IndexOf(content.AsSpan(0, 16)); // the content's first octets (random: not in the header)
            tampered[at + 5] ^= 0x01;
            var changed = new CmsSignedDataParser(tampered);
            using (var stream = changed.GetSignedContent().ContentStream) stream.CopyTo(Stream.Null);
            // BouncyCastle reports a content digest that does not match the signed one by throwing.
            var refused = Assert.Throws<CmsException>(() => changed.GetSignerInfos().GetSigners().Single().Verify(certificate));
            Assert.Contains("message-digest", refused.Message);
        }
    }

    [Fact]
    public async Task Openssl_verifies_what_the_writer_signs()
    {
        ExternalTool.Require("openssl");
        var dir = TempDirectory.Create("signed-writer");
        var (pair, certificate) = TestKeys.SelfSigned();
        var certificatePath = Path.Combine(dir, "signer.pem");
        await File.WriteAllTextAsync(certificatePath, "-----BEGIN CERTIFICATE-----\n" + Convert.ToBase64String(certificate.GetEncoded(), Base64FormattingOptions.InsertLineBreaks) + "\n-----END CERTIFICATE-----\n");
        foreach (var size in new[] { 17, 65536, 150_001 })
        {
            var content = RandomNumberGenerator.GetBytes(size);
            var path = Path.Combine(dir, $"signed-{size}.der");
            await File.WriteAllBytesAsync(path, Signed(pair, certificate, content, 65536));
            var verified = await ExternalTool.RunAsync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", path, "-CAfile", certificatePath,
                "-purpose", "any", "-out", path + ".content"]);
            Assert.True(verified.ExitCode == 0, $"size {size}: {verified.StdErr}");
            Assert.Equal(content, await File.ReadAllBytesAsync(path + ".content"));
        }
    }

    [Fact]
    public void Native_ECDH_and_ECDSA_agree_with_BouncyCastle()
    {
        var a = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var b = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var native = NativeEc.SharedSecret((ECPrivateKeyParameters)a.Private, (ECPublicKeyParameters)b.Public);
        Assert.NotNull(native);
        var agreement = new ECDHBasicAgreement();
        agreement.Init(a.Private);
        Assert.Equal(Org.BouncyCastle.Utilities.BigIntegers.AsUnsignedByteArray(32, agreement.CalculateAgreement(b.Public)), native);

        var data = RandomNumberGenerator.GetBytes(300);
        var signature = NativeEc.SignData((ECPrivateKeyParameters)a.Private, data, HashAlgorithmName.SHA256)!;
        var verifier = Org.BouncyCastle.Security.SignerUtilities.GetSigner("SHA256withECDSA");
        verifier.Init(false, a.Public);
        verifier.BlockUpdate(data, 0, data.Length);
        Assert.True(verifier.VerifySignature(signature));

        var (ephemeralPoint, secret) = NativeEc.Ephemeral((ECPublicKeyParameters)b.Public)!.Value;
        var curve = ((ECPublicKeyParameters)b.Public).Parameters;
        var ephemeral = new ECPublicKeyParameters(curve.Curve.DecodePoint(ephemeralPoint), curve);
        agreement.Init(b.Private);
        Assert.Equal(Org.BouncyCastle.Utilities.BigIntegers.AsUnsignedByteArray(32, agreement.CalculateAgreement(ephemeral)), secret);
    }
}
