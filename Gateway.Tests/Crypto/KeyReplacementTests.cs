using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Storage;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace Gateway.Tests.Crypto;

/// <summary>
/// Key Replacement in the key store: a replaced key is kept under its certificate's serial, so what was encrypted to
/// the old certificate still opens, for a user's key and for an element's introduction key; renewal before expiry
/// replaces exactly what is due.
/// </summary>
public sealed class KeyReplacementTests : IDisposable
{
    sealed class At(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    const string Alice = "alice@k.test";
    readonly KeyStore _keys;
    readonly CertificateDirectory _directory;
    readonly CourierAuthority _authority;
    readonly LiteDbUserStore _users;

    public KeyReplacementTests()
    {
        var data = new DataDirectory(TempDirectory.Create("rekey"));
        data.EnsureCreated();
        _keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
        _directory = new CertificateDirectory(data.CertificateDirectoryPath);
        _authority = new CourierAuthority(_keys, _directory, null);
        _authority.InitRoot("k.test", KeyAlgorithm.EcP256);
        _directory.Add(_authority.Certificate!, "hierarchy");
        _directory.AddCrl(_authority.CurrentCrl());
        _users = new LiteDbUserStore(data.UserDatabasePath);
        _users.Add(Alice, PasswordHasher.Hash("alice-password-1"));
        _authority.IssueUser(Alice, KeyAlgorithm.EcP256);
    }

    public void Dispose()
    {
        _users.Dispose();
        _keys.Dispose();
        _directory.Dispose();
    }

    /// <summary>Seals a small part to <paramref name="recipient"/>, signed by alice's current key.</summary>
    MimeEntity SealTo(Org.BouncyCastle.X509.X509Certificate recipient, string text)
    {
        var agent = ScopedKeyRing.Agent(_keys);
        using var context = new CourierSecureMimeContext(agent, _directory);
        return PartEnvelope.Seal(context, PartEnvelope.Signer(agent, CourierSecureMimeContext.UserKeyId(Alice)), recipient, new TextPart("plain") { Text = text });
    }

    static string Open(IKeyRing ring, CertificateDirectory directory, MimeEntity sealedPart)
    {
        using var context = new CourierSecureMimeContext(ring, directory);
        return ((TextPart)PartEnvelope.Open(context, sealedPart, null).Entity).Text;
    }

    [Fact]
    public void A_replaced_user_key_is_kept_and_still_opens_what_was_sealed_to_it()
    {
        var old = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        var before = SealTo(old, "sealed before");
        var issued = _authority.IssueUser(Alice, KeyAlgorithm.EcP256);
        Assert.NotEqual(old.SerialNumber, issued.SerialNumber);
        Assert.True(_keys.HasPrivateKey(KeyStore.ArchivedId(CourierSecureMimeContext.UserKeyId(Alice), old)));
        var after = SealTo(issued, "sealed after");

        Assert.Equal("sealed before", Open(ScopedKeyRing.Agent(_keys), _directory, before));
        Assert.Equal("sealed after", Open(ScopedKeyRing.Agent(_keys), _directory, after));
        // The archive is the Agent's: neither element's key ring can open either.
        Assert.Throws<PartRejectedException>(() => Open(ScopedKeyRing.Foreground(_keys), _directory, before));
        Assert.Throws<PartRejectedException>(() => Open(ScopedKeyRing.Background(_keys), _directory, after));
    }

    [Fact]
    public void A_courier_rekey_keeps_each_elements_old_key_for_that_element_only()
    {
        var fgId = CourierAuthority.IntroductionKeyId(CourierElement.Foreground);
        var oldForeground = _keys.GetCertificate(fgId)!;
        var toOldForeground = SealTo(oldForeground, "to the old foreground");
        var changes = _authority.RekeyIntroductions();
        Assert.Equal(2, changes.Count);
        Assert.All(changes, c => Assert.NotEqual(c.Old, c.New));
        Assert.NotEqual(oldForeground.SerialNumber, _keys.GetCertificate(fgId)!.SerialNumber);

        Assert.Equal("to the old foreground", Open(ScopedKeyRing.Foreground(_keys), _directory, toOldForeground));
        Assert.Throws<PartRejectedException>(() => Open(ScopedKeyRing.Background(_keys), _directory, toOldForeground));
        Assert.Equal("to the new foreground", Open(ScopedKeyRing.Foreground(_keys), _directory, SealTo(_keys.GetCertificate(fgId)!, "to the new foreground")));
    }

    [Fact]
    public void Renewal_before_expiry_replaces_only_what_runs_out_within_the_window()
    {
        var old = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        var fgSerial = _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber;
        KeyRenewal At(DateTime when) => new(_authority, _keys, _users, KeyAlgorithm.EcP256, TimeSpan.FromDays(30), NullLogger<KeyRenewal>.Instance,
            new At(new DateTimeOffset(when, TimeSpan.Zero)));

        Assert.Empty(At(old.NotAfter.AddDays(-31)).RenewDue());
        Assert.Equal(new[] { Alice }, At(old.NotAfter.AddDays(-29)).RenewDue());
        Assert.NotEqual(old.SerialNumber, _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!.SerialNumber);
        // The courier's introduction certificates last ten years: not due yet, untouched.
        Assert.Equal(fgSerial, _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber);
        // The new certificate is due only when it in turn runs short.
        Assert.Empty(At(_keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!.NotAfter.AddDays(-31)).RenewDue());
        Assert.Contains("courier", At(DateTime.UtcNow.AddDays(3650)).RenewDue());
        Assert.NotEqual(fgSerial, _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber);
    }
}
