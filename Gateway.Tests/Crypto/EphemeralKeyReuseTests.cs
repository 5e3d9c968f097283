using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;

namespace Gateway.Tests.Crypto;

/// <summary>
/// The courier's envelopes reuse an ephemeral key per recipient for a minute, each with its own user keying material:
/// every envelope still opens (ours and openssl cms), a changed ukm is refused even where the receiver kept the shared
/// secret, outside S/MIME keeps a fresh key per envelope, and the signed layer inside travels binary, octets intact.
/// </summary>
public class EphemeralKeyReuseTests
{
    static KeyAgreeRecipientInfo AgreementOf(byte[] envelope)
    {
        var content = ContentInfo.GetInstance(Asn1Object.FromByteArray(envelope));
        var enveloped = EnvelopedData.GetInstance(content.Content);
        return (KeyAgreeRecipientInfo)RecipientInfo.GetInstance(enveloped.RecipientInfos[0]).Info;
    }

    static byte[] Point(KeyAgreeRecipientInfo info) => info.Originator.OriginatorKey.PublicKey.GetBytes();

    [Fact]
    public async Task Envelopes_in_one_minute_share_the_ephemeral_key_with_their_own_ukm_and_openssl_opens_each()
    {
        var dir = TempDirectory.Create("ephemeral-reuse");
        var (key, certificate, bcCertificate) = await TestKeys.OpensslEcAsync(dir, "/CN=reader/emailAddress=reader@a.test");
        EphemeralKeyReuse.Forget();

        var envelopes = new List<(byte[] Plain, byte[] Der)>();
        for (var i = 0; i < 3; i++)
        {
            var plain = RandomNumberGenerator.GetBytes(1000 + i);
            var output = new MemoryStream();
            using (var sink = EnvelopedDataWriter.Open(output, [new EcdhRecipientInfoGenerator(bcCertificate, reuseEphemeral: true)]))
                sink.Write(plain);
            envelopes.Add((plain, output.ToArray()));
        }
        var infos = envelopes.Select(e => AgreementOf(e.Der)).ToList();
        Assert.Equal(Point(infos[0]), Point(infos[1]));
        Assert.Equal(Point(infos[0]), Point(infos[2]));
        var ukms = infos.Select(i => Convert.ToHexString(Assert.IsType<DerOctetString>(i.UserKeyingMaterial).GetOctets())).ToList();
        Assert.All(ukms, u => Assert.Equal(EphemeralKeyReuse.UkmSize * 2, u.Length));
        Assert.Equal(3, ukms.Distinct().Count());

        for (var i = 0; i < envelopes.Count; i++)
        {
            var path = Path.Combine(dir, $"env-{i}.der");
            await File.WriteAllBytesAsync(path, envelopes[i].Der);
            var opened = await ExternalTool.RunAsync("openssl", ["cms", "-decrypt", "-binary", "-inform", "DER", "-in", path, "-inkey", key,
                "-recip", certificate, "-out", path + ".plain"]);
            Assert.True(opened.ExitCode == 0, $"envelope {i}: {opened.StdErr}");
            Assert.Equal(envelopes[i].Plain, await File.ReadAllBytesAsync(path + ".plain"));
        }

        // Forgotten: the next envelope has an ephemeral key of its own.
        EphemeralKeyReuse.Forget();
        var after = new MemoryStream();
        using (var sink = EnvelopedDataWriter.Open(after, [new EcdhRecipientInfoGenerator(bcCertificate, reuseEphemeral: true)])) sink.Write([1, 2, 3]);
        Assert.NotEqual(Point(infos[0]), Point(AgreementOf(after.ToArray())));
        // Without reuse (what outside recipients get): a fresh key every time, and no ukm.
        var fresh = Enumerable.Range(0, 2).Select(_ =>
        {
            var output = new MemoryStream();
            using (var sink = EnvelopedDataWriter.Open(output, [new EcdhRecipientInfoGenerator(bcCertificate)])) sink.Write([1, 2, 3]);
            return AgreementOf(output.ToArray());
        }).ToList();
        Assert.NotEqual(Point(fresh[0]), Point(fresh[1]));
        Assert.All(fresh, f => Assert.Null(f.UserKeyingMaterial));
    }

    sealed class Courier : IDisposable
    {
        readonly string _root = TempDirectory.Create("ephemeral-courier");
        public readonly KeyStore Keys;
        public readonly CertificateDirectory Directory;
        public readonly CourierSecureMimeContext Agent, Foreground;
        public readonly CmsSigner Signer;
        public readonly Org.BouncyCastle.X509.X509Certificate ForegroundCertificate;

        public Courier()
        {
            var data = new DataDirectory(_root);
            data.EnsureCreated();
            Keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
            Directory = new CertificateDirectory(data.CertificateDirectoryPath);
            var authority = new CourierAuthority(Keys, Directory, null);
            authority.InitRoot("reuse.test", KeyAlgorithm.EcP256);
            Directory.Add(authority.Certificate!, "hierarchy");
            Directory.AddCrl(authority.CurrentCrl());
            authority.IssueUser("alice@reuse.test", KeyAlgorithm.EcP256);
            var agentKeys = ScopedKeyRing.Agent(Keys);
            Agent = new CourierSecureMimeContext(agentKeys, Directory);
            Foreground = new CourierSecureMimeContext(ScopedKeyRing.Foreground(Keys), Directory);
            Signer = PartEnvelope.Signer(agentKeys, CourierSecureMimeContext.UserKeyId("alice@reuse.test"));
            ForegroundCertificate = Keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!;
        }

        public void Dispose()
        {
            Agent.Dispose();
            Foreground.Dispose();
            Directory.Dispose();
            Keys.Dispose();
        }
    }

    static byte[] EnvelopeDer(ApplicationPkcs7Mime sealedPart)
    {
        var der = new MemoryStream();
        sealedPart.Content.DecodeTo(der);
        return der.ToArray();
    }

    static byte[] Decoded(MimeEntity entity)
    {
        var output = new MemoryStream();
        ((MimePart)entity).Content.DecodeTo(output);
        return output.ToArray();
    }

    [Fact]
    public void A_part_opens_with_the_kept_secret_and_a_changed_ukm_is_refused()
    {
        using var courier = new Courier();
        // Octets a text path would mangle: bare CR and LF, a lone dot line, NUL, a boundary-looking line, no final newline.
        var payload = "line\r\n.\r\nbare\nlf\rcr\0nul\r\n--boundary\r\nFrom x\r\n"u8.ToArray().Concat(RandomNumberGenerator.GetBytes(5000)).ToArray();
        var first = PartEnvelope.Seal(courier.Agent, courier.Signer, courier.ForegroundCertificate, CourierMime.Part("application/octet-stream", payload));
        var second = PartEnvelope.Seal(courier.Agent, courier.Signer, courier.ForegroundCertificate, CourierMime.Part("application/octet-stream", payload));
        Assert.Equal(Point(AgreementOf(EnvelopeDer(first))), Point(AgreementOf(EnvelopeDer(second))));

        foreach (var part in new[] { first, second, first })
        {
            var opened = PartEnvelope.Open(courier.Foreground, part, "alice@reuse.test");
            Assert.Equal(payload, Decoded(opened.Entity));
            // The signed layer inside the envelope travels binary (no base64 to write and read again).
            Assert.Equal(ContentEncoding.Binary, Assert.IsAssignableFrom<MimePart>(opened.Signed).ContentTransferEncoding);
        }

        // One octet of the second envelope's ukm changed: the receiver has the shared secret for this originator key at
        // hand, and still the key-encryption key differs and the content key does not unwrap.
        var der = EnvelopeDer(second);
        var ukm = ((DerOctetString)AgreementOf(der).UserKeyingMaterial).GetOctets();
        var at = der.AsSpan().IndexOf(ukm);
        Assert.True(at > 0);
        der[at + 5] ^= 0x01;
        var tampered = new ApplicationPkcs7Mime(SecureMimeType.EnvelopedData, new MemoryStream(der));
        var refused = Assert.Throws<PartRejectedException>(() => PartEnvelope.Open(courier.Foreground, tampered, "alice@reuse.test"));
        Assert.Contains("cannot be decrypted", refused.Message);
    }

    [Fact]
    public void Outside_recipients_get_a_fresh_ephemeral_key_for_every_message()
    {
        using var courier = new Courier();
        var recipients = new CmsRecipientCollection { new CmsRecipient(courier.ForegroundCertificate) };
        var points = Enumerable.Range(0, 2).Select(_ =>
        {
            var encrypted = courier.Agent.Encrypt(recipients, new MemoryStream("Content-Type: text/plain\r\n\r\nhello\r\n"u8.ToArray()));
            return Convert.ToHexString(Point(AgreementOf(EnvelopeDer(encrypted))));
        }).ToList();
        Assert.NotEqual(points[0], points[1]);
    }
}
