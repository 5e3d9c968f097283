using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Storage.Mail;
using Gateway.Tests.Support;
using Gateway.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace Gateway.Tests.Courier;

/// <summary>
/// The Background's key release over HTTPS, for an Agent on another host: the real gateway in-process, asked over its
/// HTTPS listener with a request signed by the recipient's key. Only the recipient's own, fresh, unreplayed request
/// gets the sealed ARM, and the sender's restrictions still decide.
/// </summary>
public sealed class KeyReleaseTests : IAsyncLifetime
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "key-release-secret";
    TestGateway _gw = null!;

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(Alice, Password);
        _gw.AddUser(Bob, Password);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    IKeyRing AgentKeys => ScopedKeyRing.Agent(_gw.App.Services.GetRequiredService<KeyStore>());
    CertificateDirectory Directory => _gw.App.Services.GetRequiredService<CertificateDirectory>();
    Uri BackgroundUrl => new($"https://127.0.0.1:{_gw.HttpsPort}");

    List<string> BobsProtectedIds() =>
        _gw.MailStore.Find(Bob, "INBOX") is { } inbox ? _gw.MailStore.Messages(inbox.Id).Select(m => m.ProtectedId).OfType<string>().ToList() : new();

    /// <summary>alice -> bob with the given restriction headers; returns the courier message id once bob's ARM is kept.</summary>
    async Task<string> SendAsync(string subject, string headers = "")
    {
        var before = BobsProtectedIds().Count;
        var reply = await _gw.SubmitAsync(Alice, Password, Alice, new[] { Bob },
            $"From: {Alice}\r\nTo: {Bob}\r\nSubject: {subject}\r\n{headers}\r\nsecret {subject}\r\n");
        Assert.Equal(250, reply.Code);
        var background = _gw.App.Services.GetRequiredService<BackgroundElement>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (BobsProtectedIds() is var ids && ids.Count > before && background.ArmsOf(ids[before]).Any(a => a.Recipient == Bob)) return ids[before];
            await Task.Delay(50);
        }
        throw new TimeoutException("bob's message and ARM never both arrived");
    }

    [Fact]
    public async Task The_recipients_signed_request_gets_the_sealed_arm_which_opens_with_the_recipients_key()
    {
        var id = await SendAsync("remote-open");
        using var client = new RemoteKeyRelease(BackgroundUrl, AgentKeys, Directory, NullLogger<RemoteKeyRelease>.Instance);
        var released = Assert.IsType<KeyRelease.Released>(await client.ReleaseAsync(id, Bob, ReleasePurpose.Open));
        using var context = new CourierSecureMimeContext(AgentKeys, Directory);
        var opened = PartEnvelope.Open(context, MimeMessage.Load(new MemoryStream(released.SealedArm)).Body, "background@" + _gw.Options.Hostname);
        var arm = AccessRestrictionsMessage.FromEntity(opened.Entity);
        Assert.Equal(id, arm.MessageId);
        Assert.Contains(Bob, arm.Recipients);
        Assert.Equal(1, _gw.App.Services.GetRequiredService<BackgroundElement>().ArmsOf(id).Single(a => a.Recipient == Bob).Opens);

        Assert.IsType<KeyRelease.NotArrived>(await client.ReleaseAsync("no-such-message", Bob, ReleasePurpose.Preview));
    }

    [Fact]
    public async Task The_senders_restrictions_still_decide_and_the_reason_comes_back()
    {
        var id = await SendAsync("remote-once", "X-Gateway-Max-Opens: 1\r\n");
        using var client = new RemoteKeyRelease(BackgroundUrl, AgentKeys, Directory, NullLogger<RemoteKeyRelease>.Instance);
        Assert.IsType<KeyRelease.Released>(await client.ReleaseAsync(id, Bob, ReleasePurpose.Open));
        var refused = Assert.IsType<KeyRelease.Refused>(await client.ReleaseAsync(id, Bob, ReleasePurpose.Open));
        Assert.Contains("may be opened 1 time", refused.Reason);
    }

    [Fact]
    public async Task A_request_signed_by_someone_else_a_replay_or_a_stale_one_is_refused_and_counts_nothing()
    {
        var id = await SendAsync("remote-forged");
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });
        async Task<(int Status, string Reason)> PostAsync(byte[] signed)
        {
            var content = new ByteArrayContent(signed);
            content.Headers.ContentType = new(KeyReleaseEndpoint.RequestMediaType);
            using var response = await http.PostAsync(new Uri(BackgroundUrl, KeyReleaseEndpoint.Path), content);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        KeyReleaseRequest For(string recipient, DateTimeOffset at) => new()
        {
            MessageId = id, Recipient = recipient, Purpose = ReleasePurpose.Open, Nonce = Guid.NewGuid().ToString("N"), CreatedUtc = at,
        };

        // alice signs a request naming bob: the signer must be the recipient.
        var forged = For(Alice, DateTimeOffset.UtcNow) with { Recipient = Alice };
        var signedByAlice = forged.Sign(AgentKeys, Directory);
        var (status, _) = await PostAsync(signedByAlice);
        Assert.Equal(404, status); // alice may ask for her own ARM of this message; she has none
        var aliceForBob = await PostAsync(SignAs(Alice, For(Bob, DateTimeOffset.UtcNow)));
        Assert.Equal(403, aliceForBob.Status);
        Assert.Contains("is signed by <alice@gateway.test>", aliceForBob.Reason);

        // bob's genuine request works once; the same bytes again are a replay.
        var genuine = For(Bob, DateTimeOffset.UtcNow).Sign(AgentKeys, Directory);
        Assert.Equal(200, (await PostAsync(genuine)).Status);
        var replay = await PostAsync(genuine);
        Assert.Equal(403, replay.Status);
        Assert.Contains("seen before", replay.Reason);

        // A request from an hour ago is refused, whatever it says.
        var stale = await PostAsync(For(Bob, DateTimeOffset.UtcNow.AddHours(-1)).Sign(AgentKeys, Directory));
        Assert.Equal(403, stale.Status);
        Assert.Contains("more than 5 minutes", stale.Reason);

        // Garbage is refused too.
        Assert.Equal(403, (await PostAsync("not a signature"u8.ToArray())).Status);
        Assert.Equal(1, _gw.App.Services.GetRequiredService<BackgroundElement>().ArmsOf(id).Single(a => a.Recipient == Bob).Opens);
    }

    [Fact]
    public async Task Waiting_for_a_slow_Background_holds_no_thread_and_a_closed_session_stops_the_wait()
    {
        var id = await SendAsync("slow-background"); // bob has a key to sign his requests with
        // A Background that takes 2 s to answer: a listener on loopback that reads the request and answers 404 late.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                using var peer = await listener.AcceptTcpClientAsync();
                var stream = peer.GetStream();
                var buffer = new byte[64 * 1024];
                _ = await stream.ReadAsync(buffer);
                await Task.Delay(2000);
                try { await stream.WriteAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray()); }
                catch (IOException) { } // the second caller has gone
            }
        });
        using var client = new RemoteKeyRelease(new Uri($"http://127.0.0.1:{port}"), AgentKeys, Directory, NullLogger<RemoteKeyRelease>.Instance);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var pending = client.ReleaseAsync(id, Bob, ReleasePurpose.Preview);
        // The call hands back its task at once (signing the request is all it does first), not after the answer.
        Assert.True(clock.ElapsedMilliseconds < 1500, $"the call blocked for {clock.ElapsedMilliseconds} ms");
        Assert.False(pending.IsCompleted, pending.IsCompleted ? $"answered at once: {await pending}" : "");
        Assert.IsType<KeyRelease.NotArrived>(await pending);
        Assert.True(clock.ElapsedMilliseconds >= 1900, "the answer came before the Background gave it");

        // The session closes while it waits: the wait ends with the session, not as "not arrived yet".
        using var closed = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ReleaseAsync(id, Bob, ReleasePurpose.Preview, closed.Token));
        await served.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>The request signed with <paramref name="signer"/>'s key, whatever recipient it names.</summary>
    byte[] SignAs(string signer, KeyReleaseRequest request)
    {
        using var context = new CourierSecureMimeContext(AgentKeys, Directory);
        var cms = PartEnvelope.Signer(AgentKeys, CourierSecureMimeContext.UserKeyId(signer));
        var signed = MimeKit.Cryptography.ApplicationPkcs7Mime.Sign(context, cms, CourierMime.Part(KeyReleaseRequest.MediaType, request.ToJson()));
        using var buffer = new MemoryStream();
        signed.WriteTo(buffer);
        return buffer.ToArray();
    }
}
