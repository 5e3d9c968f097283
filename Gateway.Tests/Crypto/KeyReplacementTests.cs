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
    readonly DataDirectory _data;
    readonly KeyReplacementStore _store;

    public KeyReplacementTests()
    {
        var data = _data = new DataDirectory(TempDirectory.Create("rekey"));
        data.EnsureCreated();
        Directory.CreateDirectory(data.ForegroundDirectory);
        _store = new KeyReplacementStore(KeyReplacementStore.PathIn(data));
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
        _store.Dispose();
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
    public async Task Certificates_issued_for_one_user_at_the_same_moment_each_keep_their_key()
    {
        // A registration issues while the account distributor (or a delivery) checks and issues for the same user:
        // an issue that archived the key before the other stored its own would lose that key, and the directory would
        // hold a certificate nothing can open.
        const string Bob = "bob@k.test";
        var id = CourierSecureMimeContext.UserKeyId(Bob);
        using var start = new ManualResetEventSlim();
        // Threads of their own: the pool would start them one after the other.
        var issuers = Enumerable.Range(0, 6).Select(i => Task.Factory.StartNew(() =>
        {
            start.Wait();
            for (var n = 0; n < 4; n++)
                if (i % 3 != 0) _authority.IssueUser(Bob, KeyAlgorithm.EcP256);
                else _authority.EnsureUser(Bob, KeyAlgorithm.EcP256);
        }, TaskCreationOptions.LongRunning)).ToArray();
        start.Set();
        await Task.WhenAll(issuers);
        var issued = _directory.ForAddress(Bob).Select(c => c.Certificate).ToList();
        Assert.True(issued.Count >= 16, $"{issued.Count} certificates issued");
        var current = _keys.GetCertificate(id)!;
        foreach (var certificate in issued)
        {
            var keyId = certificate.Equals(current) ? id : KeyStore.ArchivedId(id, certificate);
            Assert.True(_keys.HasPrivateKey(keyId), $"certificate {certificate.SerialNumber.ToString(16)} has no key");
            Assert.Equal("opens " + keyId, Open(ScopedKeyRing.Agent(_keys), _directory, SealTo(certificate, "opens " + keyId)));
        }
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

    /// <summary>Collects what a role hands on (instead of an inbox or a link).</summary>
    sealed class Captured : IElementDrop
    {
        public readonly List<(string Name, byte[] Bytes)> Items = new();
        public void Drop(string name, Stream message)
        {
            using var copy = new MemoryStream();
            message.CopyTo(copy);
            Items.Add((name, copy.ToArray()));
        }
    }

    KeyReplacementDesk Desk(Captured background) => new(_store, ScopedKeyRing.Foreground(_keys), _keys, _directory, new CourierIdentity(_keys, _directory), _users,
        background, () => _authority.Certificate, NullLogger<KeyReplacementDesk>.Instance);

    KeyReplacementAgent Agent(Captured foreground) => new(new ElementInbox(Path.Combine(_data.AgentDirectory, "key-replacement"), Gateway.Sealing.SpoolSeal.Ephemeral()), _authority, _keys, _directory,
        new CourierIdentity(_keys, _directory), _users, foreground, KeyAlgorithm.EcP256, Path.Combine(_data.AgentDirectory, "done.json"), NullLogger<KeyReplacementAgent>.Instance);

    CourierSecureMimeContext Context(IKeyRing ring) => new(ring, _directory);

    static MimeMessage Load(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes));

    /// <summary>What the Background does with a message from the Foreground: opens its own envelope and returns what it carries to the Agent.</summary>
    KeyReplacementMessage.AtBackground AtBackground((string Name, byte[] Bytes) message)
    {
        using var context = Context(ScopedKeyRing.Background(_keys));
        return KeyReplacementMessage.OpenAtBackground(context, new CourierIdentity(_keys, _directory), Load(message.Bytes));
    }

    async Task CarryAsync(KeyReplacementAgent agent, (string Name, byte[] Bytes) message)
    {
        var carried = AtBackground(message).ForAgent ?? throw new InvalidOperationException("nothing carried to the Agent");
        // Sealed to the user: the Background carries what it cannot read.
        using (var background = Context(ScopedKeyRing.Background(_keys)))
            Assert.Throws<PartRejectedException>(() => KeyReplacementMessage.OpenAtAgent(background, new CourierIdentity(_keys, _directory), Load(carried)));
        agent.Inbox.Put(message.Name, carried);
        await agent.ProcessAsync(message.Name, CancellationToken.None);
    }

    void Take(KeyReplacementDesk desk, (string Name, byte[] Bytes) message)
    {
        using var context = Context(ScopedKeyRing.Foreground(_keys));
        desk.Take(context, Load(message.Bytes));
    }

    [Fact]
    public async Task A_user_key_replacement_goes_notice_exchange_keys_rekeying_complete_then_background_key_replacement()
    {
        var old = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        var record = _store.Request(Alice, "operator", "asked for by the test");
        var (toBackground, toForeground) = (new Captured(), new Captured());
        var (desk, agent) = (Desk(toBackground), Agent(toForeground));

        using (var context = Context(ScopedKeyRing.Foreground(_keys))) desk.Advance(context);
        Assert.Equal(KeyReplacementState.NoticeSent, _store.Find(record.Id)!.State);
        var notice = Assert.Single(toBackground.Items);
        Assert.Equal(KeyReplacementKind.NoticeToRekey, AtBackground(notice).Body.Kind);

        await CarryAsync(agent, notice);
        var current = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        Assert.NotEqual(old.SerialNumber, current.SerialNumber);
        Assert.True(_keys.HasPrivateKey(KeyStore.ArchivedId(CourierSecureMimeContext.UserKeyId(Alice), old)));
        var exchange = Assert.Single(toForeground.Items);
        Assert.StartsWith("exk-", exchange.Name);

        Take(desk, exchange);
        Assert.Equal(KeyReplacementState.KeysExchanged, _store.Find(record.Id)!.State);
        Assert.Equal(current.SerialNumber.ToString(16), _store.Find(record.Id)!.NewSerial);
        var foregroundHalf = toBackground.Items[1];
        // The Background learns what it carries and for whom, nothing of what is inside.
        Assert.Equal((KeyReplacementKind.ExchangeKeys, Alice), (AtBackground(foregroundHalf).Body.Kind, AtBackground(foregroundHalf).Body.Address));
        Assert.Empty(AtBackground(foregroundHalf).Body.ElementCertificates);

        await CarryAsync(agent, foregroundHalf);
        var complete = toForeground.Items[1];
        Assert.StartsWith("rkc-", complete.Name);
        Take(desk, complete);
        var done = _store.Find(record.Id)!;
        Assert.Equal(KeyReplacementState.Completed, done.State);
        Assert.Equal(new[] { "asked for by the test", "Notice to Rekey", "Exchange Keys", "Rekeying Complete" },
            done.Steps.Select(s => new[] { "asked for by the test", "Notice to Rekey", "Exchange Keys", "Rekeying Complete" }.FirstOrDefault(s.Step.StartsWith)).ToArray());
        Assert.Contains("Background Key Replacement sent", done.Steps[^1].Step);
        var replacement = AtBackground(toBackground.Items[2]);
        Assert.Null(replacement.ForAgent);
        Assert.Equal(KeyReplacementKind.BackgroundKeyReplacement, replacement.Body.Kind);
        Assert.Equal(current.GetEncoded(), replacement.Body.Certificate);
        Assert.Equal(3, toBackground.Items.Count);

        // The notice carried again (a crash before it left the inbox) makes no second key, and the Foreground takes
        // the repeated answer without a step of its own.
        await CarryAsync(agent, notice);
        Assert.Equal(current.SerialNumber, _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!.SerialNumber);
        Take(desk, toForeground.Items[2]);
        Assert.Equal(done.Steps.Count, _store.Find(record.Id)!.Steps.Count);
        Assert.Equal(3, toBackground.Items.Count);
    }

    [Fact]
    public async Task Forged_or_unasked_key_replacement_messages_change_nothing()
    {
        const string Bob = "bob@k.test";
        _users.Add(Bob, PasswordHasher.Hash("bob-password-1"));
        _authority.IssueUser(Bob, KeyAlgorithm.EcP256);
        var alice = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        var identity = new CourierIdentity(_keys, _directory);
        var (toBackground, toForeground) = (new Captured(), new Captured());
        var (desk, agent) = (Desk(toBackground), Agent(toForeground));
        var agentRing = ScopedKeyRing.Agent(_keys);

        // A Notice to Rekey for alice signed by a user (bob), not by the Foreground: the Agent makes no key.
        using (var context = Context(agentRing))
        {
            var body = new KeyReplacementBody { Kind = KeyReplacementKind.NoticeToRekey, Id = "f0f0", Address = Alice, CreatedUtc = DateTimeOffset.UtcNow };
            var forged = CourierMime.Message("foreground@k.test", Alice, "Notice to Rekey", PartEnvelope.Seal(context,
                PartEnvelope.Signer(agentRing, CourierSecureMimeContext.UserKeyId(Bob)), alice, CourierMime.Part(KeyReplacementBody.MediaType, body.ToJson())));
            forged.Headers.Add(KeyReplacementMessage.NameHeader, "ntr-f0f0");
            agent.Inbox.Put("ntr-f0f0", CourierMime.Bytes(forged));
        }
        await agent.ProcessAsync("ntr-f0f0", CancellationToken.None);
        Assert.Equal(alice.SerialNumber, _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!.SerialNumber);
        Assert.Empty(toForeground.Items);
        Assert.Empty(agent.Inbox.Waiting());

        // Exchange Keys the Foreground never asked for.
        using (var context = Context(agentRing))
        {
            var unasked = KeyReplacementMessage.FromAgent(context, agentRing, identity, new KeyReplacementBody
                { Kind = KeyReplacementKind.ExchangeKeys, Id = "nope", Address = Alice, Certificate = alice.GetEncoded(), CreatedUtc = DateTimeOffset.UtcNow });
            Assert.Contains("was asked for", Assert.Throws<PartRejectedException>(() => Take(desk, unasked)).Message);
        }

        // For an asked one: bob's key signing alice's exchange, and alice's exchange announcing a certificate it is not signed with.
        var record = _store.Request(Alice, "operator", "asked for by the test");
        using (var context = Context(ScopedKeyRing.Foreground(_keys))) desk.Advance(context);
        using (var context = Context(agentRing))
        {
            var bob = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Bob))!;
            var body = new KeyReplacementBody { Kind = KeyReplacementKind.ExchangeKeys, Id = record.Id, Address = Alice, Certificate = bob.GetEncoded(), CreatedUtc = DateTimeOffset.UtcNow };
            var byBob = CourierMime.Message(Bob, "foreground@k.test", "Exchange Keys", PartEnvelope.Seal(context,
                PartEnvelope.Signer(agentRing, CourierSecureMimeContext.UserKeyId(Bob)), identity.ElementCertificate(CourierElement.Foreground)!,
                CourierMime.Part(KeyReplacementBody.MediaType, body.ToJson())));
            Assert.Contains("signed by <bob@k.test>", Assert.Throws<PartRejectedException>(() => Take(desk, ("exk-x", CourierMime.Bytes(byBob)))).Message);
            var wrongCertificate = KeyReplacementMessage.FromAgent(context, agentRing, identity, body with { Certificate = bob.GetEncoded() });
            Assert.Contains("not signed with the key it announces", Assert.Throws<PartRejectedException>(() => Take(desk, wrongCertificate)).Message);
        }
        Assert.Equal(KeyReplacementState.NoticeSent, _store.Find(record.Id)!.State);
        Assert.Null(_store.Find(record.Id)!.NewSerial);
    }

    [Fact]
    public void Renewal_before_expiry_asks_only_for_what_runs_out_within_the_window()
    {
        var old = _keys.GetCertificate(CourierSecureMimeContext.UserKeyId(Alice))!;
        var fgSerial = _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber;
        var desk = Desk(new Captured());
        KeyRenewal At(DateTime when) => new(_authority, _keys, desk, TimeSpan.FromDays(30), NullLogger<KeyRenewal>.Instance, new At(new DateTimeOffset(when, TimeSpan.Zero)));

        Assert.Empty(At(old.NotAfter.AddDays(-31)).RenewDue());
        Assert.Equal(new[] { Alice }, At(old.NotAfter.AddDays(-29)).RenewDue());
        var asked = Assert.Single(_store.All());
        Assert.Equal(("expiry", KeyReplacementState.Requested), (asked.Reason, asked.State));
        // One under way is not asked for twice.
        Assert.Empty(At(old.NotAfter.AddDays(-28)).RenewDue());
        // The courier's introduction certificates last ten years: not due yet, untouched; then replaced when due.
        Assert.Equal(fgSerial, _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber);
        Assert.Contains("courier", At(DateTime.UtcNow.AddDays(3650)).RenewDue());
        Assert.NotEqual(fgSerial, _keys.GetCertificate(CourierAuthority.IntroductionKeyId(CourierElement.Foreground))!.SerialNumber);
    }
}
