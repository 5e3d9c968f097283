using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Tests.Courier;

/// <summary>
/// Inter-Courier messages between the elements of couriers in one network: Root A, Public B below A, Private C below
/// B. Built by one element and read by its counterpart, checked up to the Root with the CA chain the signature
/// carries, refused when anything does not fit.
/// </summary>
public sealed class InterCourierMessageTests : IDisposable
{
    sealed class TestCourier : IDisposable
    {
        public string Name { get; }
        public KeyStore Keys { get; }
        public CertificateDirectory Directory { get; }
        public CourierAuthority Authority { get; }

        public TestCourier(string name)
        {
            Name = name;
            var data = new DataDirectory(TempDirectory.Create("courier-" + name));
            data.EnsureCreated();
            Keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
            Directory = new CertificateDirectory(data.CertificateDirectoryPath);
            Authority = new CourierAuthority(Keys, Directory, $"https://{name}/crl/courier.crl");
        }

        public CourierSecureMimeContext Context(CourierElement element) =>
            new(element == CourierElement.Foreground ? ScopedKeyRing.Foreground(Keys) : ScopedKeyRing.Background(Keys), Directory);

        public Org.BouncyCastle.X509.X509Certificate Introduction(CourierElement element) => Keys.GetCertificate(CourierAuthority.IntroductionKeyId(element))!;

        public CmsSigner Signer(CourierElement element)
        {
            var ring = element == CourierElement.Foreground ? ScopedKeyRing.Foreground(Keys) : ScopedKeyRing.Background(Keys);
            return PartEnvelope.Signer(ring, CourierAuthority.IntroductionKeyId(element), new[] { Authority.Certificate! }.Concat(Authority.ChainToRoot(Authority.Certificate!)));
        }

        public void Dispose()
        {
            Keys.Dispose();
            Directory.Dispose();
        }
    }

    readonly TestCourier _a = new("a.test"), _b = new("b.test"), _c = new("c.test");

    public InterCourierMessageTests()
    {
        _a.Authority.InitRoot("a.test", KeyAlgorithm.EcP256);
        _b.Authority.InstallChain(_a.Authority.SignRequest(_b.Authority.CreateRequest("b.test", KeyAlgorithm.EcP256), CourierRole.Public, Array.Empty<string>()));
        _c.Authority.InstallChain(_b.Authority.SignRequest(_c.Authority.CreateRequest("c.test", KeyAlgorithm.EcP256), CourierRole.Private, new[] { "c.test" }));
        PublishCrls();
    }

    /// <summary>Every courier's current CRL in every directory (what fetching them from the distribution points gives).</summary>
    void PublishCrls()
    {
        var crls = new[] { _a, _b, _c }.Select(c => c.Authority.CurrentCrl()).ToList();
        foreach (var courier in new[] { _a, _b, _c })
            foreach (var crl in crls) courier.Directory.AddCrl(crl);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        _c.Dispose();
    }

    static MimeEntity Payload(string text) => new TextPart("plain") { Text = text };

    MimeMessage Send(TestCourier from, CourierElement fromElement, TestCourier to, CourierElement toElement, InterCourierHeader? header = null, CmsSigner? signer = null)
    {
        using var context = from.Context(fromElement);
        header ??= new InterCourierHeader
        {
            Kind = fromElement == CourierElement.Foreground ? InterCourierKind.ContentPart : InterCourierKind.Arm, MessageId = "m1",
            FromCourier = from.Name, FromElement = fromElement, FromEndpoint = "127.0.0.1:2525", CreatedUtc = DateTimeOffset.UtcNow,
        };
        var address = fromElement == CourierElement.Foreground ? $"foreground@{from.Name}" : $"background@{from.Name}";
        return InterCourierMessage.Build(context, signer ?? from.Signer(fromElement), address, to.Introduction(toElement), header, Payload("payload from " + from.Name),
            new[] { from.Authority.Certificate! });
    }

    static InterCourierEnvelope Receive(TestCourier at, CourierElement element, MimeMessage message)
    {
        using var context = at.Context(element);
        // As it crosses SMTP: written out and parsed again.
        return InterCourierMessage.Read(context, MimeMessage.Load(new MemoryStream(CourierMime.Bytes(message))), element);
    }

    [Fact]
    public void A_private_courier_two_levels_down_writes_to_the_roots_foreground_with_the_chain_it_carries()
    {
        // A never saw C's CA certificate: the signature carries it, and B's, up to A's own root.
        Assert.DoesNotContain(_a.Directory.All(), c => c.SubjectDN.Equivalent(_c.Authority.Certificate!.SubjectDN));
        var envelope = Receive(_a, CourierElement.Foreground, Send(_c, CourierElement.Foreground, _a, CourierElement.Foreground));
        Assert.Equal(InterCourierKind.ContentPart, envelope.Header.Kind);
        Assert.Equal("c.test", envelope.Header.FromCourier);
        Assert.Equal("m1", envelope.Header.MessageId);
        Assert.Contains("payload from c.test", ((TextPart)envelope.Payload).Text);
        Assert.Equal(("c.test", CourierElement.Foreground), InterCourierMessage.IntroductionOf(envelope.Signer));
        Assert.True(envelope.OriginChain.Single().SubjectDN.Equivalent(_c.Authority.Certificate!.SubjectDN));

        var back = Receive(_c, CourierElement.Background, Send(_a, CourierElement.Background, _c, CourierElement.Background));
        Assert.Equal(InterCourierKind.Arm, back.Header.Kind);
        Assert.Equal("a.test", back.Header.FromCourier);
    }

    [Fact]
    public void A_foreground_message_cannot_be_read_by_the_background_nor_sent_by_one()
    {
        var toForeground = Send(_b, CourierElement.Foreground, _a, CourierElement.Foreground);
        Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Background, toForeground)); // sealed to the Foreground

        // The Background of B signs a message sealed to A's Foreground: the element kinds do not match.
        var crossed = Send(_b, CourierElement.Background, _a, CourierElement.Foreground);
        var ex = Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, crossed));
        Assert.Contains("only a Foreground may write to this Foreground", ex.Message);
    }

    [Fact]
    public void A_header_naming_another_courier_than_the_signature_is_refused()
    {
        var lying = Send(_c, CourierElement.Foreground, _a, CourierElement.Foreground, new InterCourierHeader
        {
            Kind = InterCourierKind.ContentPart, MessageId = "m2", FromCourier = "b.test", FromElement = CourierElement.Foreground, FromEndpoint = "127.0.0.1:1",
        });
        var ex = Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, lying));
        Assert.Contains("the signature from the Foreground of c.test", ex.Message);
    }

    [Fact]
    public void A_user_certificate_is_not_an_element_even_with_an_elements_name()
    {
        _b.Authority.IssueUser("foreground@b.test", KeyAlgorithm.EcP256);
        var userSigner = PartEnvelope.Signer(ScopedKeyRing.Agent(_b.Keys), CourierSecureMimeContext.UserKeyId("foreground@b.test"),
            new[] { _b.Authority.Certificate! }.Concat(_b.Authority.ChainToRoot(_b.Authority.Certificate!)));
        var impostor = Send(_b, CourierElement.Foreground, _a, CourierElement.Foreground, signer: userSigner);
        var ex = Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, impostor));
        Assert.Contains("not an element's introduction certificate", ex.Message);
    }

    [Fact]
    public void A_revoked_element_or_one_from_another_network_is_refused()
    {
        // B's superior revokes nothing, but B revokes C's CA certificate: C's elements are out.
        _b.Authority.Revoke(_c.Authority.Certificate!.SerialNumber);
        PublishCrls();
        var ex = Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, Send(_c, CourierElement.Foreground, _a, CourierElement.Foreground)));
        Assert.Contains("not trusted", ex.Message);

        using var stranger = new TestCourier("x.test");
        stranger.Authority.InitRoot("x.test", KeyAlgorithm.EcP256);
        // X's root is not ours: even with A's certificate in hand and X's CRL known, A refuses what X's elements sign.
        _a.Directory.AddCrl(stranger.Authority.CurrentCrl());
        var fromStranger = Send(stranger, CourierElement.Foreground, _a, CourierElement.Foreground);
        Assert.Contains("not trusted", Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, fromStranger)).Message);
    }

    [Fact]
    public void Without_the_senders_crl_the_message_is_refused_until_it_is_known()
    {
        using var d = new TestCourier("d.test");
        d.Authority.InstallChain(_a.Authority.SignRequest(d.Authority.CreateRequest("d.test", KeyAlgorithm.EcP256), CourierRole.Public, Array.Empty<string>()));
        d.Directory.AddCrl(_a.Authority.CurrentCrl());
        var message = Send(d, CourierElement.Foreground, _a, CourierElement.Foreground);
        Assert.Throws<PartRejectedException>(() => Receive(_a, CourierElement.Foreground, message)); // revocation status of D's elements unknown
        _a.Directory.AddCrl(d.Authority.CurrentCrl());
        Assert.Equal("d.test", Receive(_a, CourierElement.Foreground, message).Header.FromCourier);
    }
}
