using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>
/// Key Replacement of a courier with a peer: T (Public, under S) replaces its elements' keys with 'gateway rekey
/// courier' while both run. T's elements introduce their new certificates to S, whose peer tables then hold them in
/// place of the cached old ones, and mail goes both ways with the new keys.
/// </summary>
public sealed partial class CourierRekeyTests : IAsyncLifetime
{
    const string Password = "courier-rekey-pass";
    static readonly int[] AllPorts = Ports.Free(8);
    readonly CourierNode _s = new("s.test", AllPorts[0..4]);
    readonly CourierNode _t = new("t.test", AllPorts[4..8]);

    public async Task InitializeAsync()
    {
        await CourierNode.JoinAsync(_s, _t);
        await _s.AddUserAsync("sam@s.test", Password);
        await _t.AddUserAsync("tina@t.test", Password);
        _s.Start();
        _t.Start();
        await _s.WaitUntilListeningAsync();
        await _t.WaitUntilListeningAsync();
    }

    public async Task DisposeAsync()
    {
        await _t.DisposeAsync();
        await _s.DisposeAsync();
    }

    static string Message(string from, string to, string token) =>
        $"From: <{from}>\r\nTo: <{to}>\r\nSubject: rekey {token}\r\n\r\nBody {token}\r\n";

    /// <summary>The serial of T's introduction certificate for each element, as S's peer tables hold it.</summary>
    async Task<string[]> SerialsAtS()
    {
        var show = await _s.CliAsync(null, "peer", "show", "t.test");
        return SerialLine().Matches(show.StdOut).Select(m => m.Groups[1].Value).ToArray();
    }

    [Fact]
    public async Task A_peer_that_cached_the_old_certificates_picks_up_the_new_ones_and_mail_flows_both_ways()
    {
        await _s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await _s.WaitForLogAsync(60, "Background recorded peer t.test");
        var first = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "tina@t.test", Message("sam@s.test", "tina@t.test", first))).Code);
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + first), 60);
        var cached = await SerialsAtS();
        Assert.Equal(2, cached.Length);

        var rekey = await _t.CliAsync(null, "rekey", "courier");
        var renewed = NewSerial().Matches(rekey.StdOut).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, renewed.Length);
        Assert.Empty(renewed.Intersect(cached));

        // T's elements introduce the new certificates at their next look; S records them in place of the old ones.
        await _t.WaitForLogAsync(30, "Foreground introduces its new certificate", "to s.test (Key Replacement)");
        await _t.WaitForLogAsync(30, "Background introduces its new certificate", "to s.test (Key Replacement)");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string[] now;
        while (!(now = await SerialsAtS()).OrderBy(x => x).SequenceEqual(renewed.OrderBy(x => x)) && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.Equal(renewed.OrderBy(x => x), now.OrderBy(x => x));

        var toT = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "tina@t.test", Message("sam@s.test", "tina@t.test", toT))).Code);
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + toT), 60);
        var toS = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _t.SubmitAsync("tina@t.test", Password, "sam@s.test", Message("tina@t.test", "sam@s.test", toS))).Code);
        await _s.WaitForMessageAsync("sam@s.test", Password, t => t.Contains("Body " + toS), 60);
        // The message from before the rekey still opens.
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + first), 30);
    }

    /// <summary>
    /// An Introduction of T's Foreground as an eavesdropper would have recorded it: made now with T's current key, naming
    /// <paramref name="endpoint"/>, sealed to S's Foreground. Built from T's own stores, as T's relay builds one.
    /// </summary>
    MimeKit.MimeMessage IntroductionOfT(string endpoint, DateTimeOffset createdUtc)
    {
        var data = new Gateway.Platform.DataDirectory(_t.DataDirectory);
        using var keys = new Gateway.Crypto.KeyStore(data.KeyStorePath, Gateway.Crypto.MasterKey.Load(data));
        using var directory = new Gateway.Crypto.CertificateDirectory(data.CertificateDirectoryPath);
        var authority = new Gateway.Crypto.CourierAuthority(keys, directory);
        var foregroundKeys = Gateway.Crypto.ScopedKeyRing.Foreground(keys);
        using var context = new Gateway.Crypto.CourierSecureMimeContext(foregroundKeys, directory);
        using var peers = new Gateway.Courier.PeerTable(Gateway.Courier.PeerTable.PathIn(data, Gateway.Crypto.CourierElement.Foreground));
        var sForeground = new Org.BouncyCastle.X509.X509Certificate(peers.Find("s.test")!.IntroductionCertificate);
        var signer = Gateway.Courier.PartEnvelope.Signer(foregroundKeys, Gateway.Crypto.CourierAuthority.IntroductionKeyId(Gateway.Crypto.CourierElement.Foreground), authority.OwnChain());
        var header = new Gateway.Courier.InterCourierHeader
        {
            Kind = Gateway.Courier.InterCourierKind.Introduction, FromCourier = "t.test", FromElement = Gateway.Crypto.CourierElement.Foreground,
            FromEndpoint = endpoint, CreatedUtc = createdUtc,
        };
        var payload = Gateway.Courier.CourierMime.Part(Gateway.Courier.IntroductionBody.MediaType,
            new Gateway.Courier.IntroductionBody { Domains = { "t.test" }, Reason = "rekey" }.ToJson());
        return Gateway.Courier.InterCourierMessage.Build(context, signer, "foreground@t.test", sForeground, header, payload);
    }

    /// <summary>Sends a recorded message to S's delivery listener as T's Foreground would; returns S's answer to the data.</summary>
    async Task<(int Code, string Text)> ReplayToS(MimeKit.MimeMessage message)
    {
        using var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _s.DeliveryPort, MailKit.Security.SecureSocketOptions.StartTls);
        try
        {
            await client.SendAsync(message, new MimeKit.MailboxAddress("", "foreground@t.test"), new[] { new MimeKit.MailboxAddress("", "foreground@s.test") });
            return (250, "");
        }
        catch (MailKit.Net.Smtp.SmtpCommandException ex)
        {
            return ((int)ex.StatusCode, ex.Message);
        }
    }

    async Task<string> ForegroundPeerTAtS() => (await _s.CliAsync(null, "peer", "show", "t.test", "--element", "foreground")).StdOut;

    [Fact]
    public async Task A_replayed_Introduction_from_before_the_rekey_is_refused_and_the_newer_certificate_kept()
    {
        await _s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await _s.WaitForLogAsync(60, "Background recorded peer t.test");
        // Recorded before the rekey: T's old certificate, and an endpoint the attacker would like S to use.
        var recorded = IntroductionOfT("127.0.0.1:9", DateTimeOffset.UtcNow);

        var rekey = await _t.CliAsync(null, "rekey", "courier");
        var renewed = NewSerial().Matches(rekey.StdOut).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, renewed.Length);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string[] now;
        while (!(now = await SerialsAtS()).OrderBy(x => x).SequenceEqual(renewed.OrderBy(x => x)) && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.Equal(renewed.OrderBy(x => x), now.OrderBy(x => x));
        // Once its outboxes hold nothing signed with them, T revokes the retired certificates.
        await _t.WaitForLogAsync(60, "Revoked the Foreground's retired introduction certificate");
        await _t.WaitForLogAsync(60, "Revoked the Background's retired introduction certificate");

        var (code, text) = await ReplayToS(recorded);
        // Refused before 250 when S already has T's new CRL (the signer is revoked), else by the Foreground after it
        // (the certificate is older than the one on record); either way nothing of it is taken.
        if (code == 250) await _s.WaitForLogAsync(30, "t.test presents Foreground certificate", "not newer than");
        else Assert.True(code == 554 && text.Contains("revoked", StringComparison.OrdinalIgnoreCase), $"{code} {text}");
        await Task.Delay(1500);
        var shown = await ForegroundPeerTAtS();
        Assert.Contains("endpoint      " + _t.Endpoint, shown);
        Assert.Contains(renewed.Single(r => shown.Contains("serial " + r)), shown);

        // The current certificate in an Introduction older than the last one taken: what it adds is taken, its endpoint never.
        var older = IntroductionOfT("127.0.0.1:9", DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal(250, (await ReplayToS(older)).Code);
        await _s.WaitForLogAsync(30, "Introduction from t.test made", "older than the last one taken", "is kept");
        Assert.Contains("endpoint      " + _t.Endpoint, await ForegroundPeerTAtS());

        // Older than the window (a week): refused before 250, whatever it carries.
        var (staleCode, staleText) = await ReplayToS(IntroductionOfT("127.0.0.1:9", DateTimeOffset.UtcNow.AddDays(-8)));
        Assert.True(staleCode == 554 && staleText.Contains("hours ago"), $"{staleCode} {staleText}");
    }

    [GeneratedRegex(@"certificate .*, serial ([0-9a-f]+), valid until")]
    private static partial Regex SerialLine();

    [GeneratedRegex(@"new introduction certificate \(serial ([0-9a-f]+)\)")]
    private static partial Regex NewSerial();
}
