using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

/// <summary>
/// The classic open-relay tricks (the ones relay testers have tried for decades: percent hack, bang paths, source
/// routes, quoted local parts, address literals, look-alike domains, a forged local sender), sent unauthenticated to
/// the delivery listener of a gateway that serves gateway.test and knows a route for elsewhere.example: every one is
/// refused before DATA, so nothing can be relayed; and the same on the submission port without AUTH. A local user is
/// the control: the same session does accept mail for them.
/// </summary>
public sealed class OpenRelayTests(OpenRelayTests.Gateway fixture) : IClassFixture<OpenRelayTests.Gateway>
{
    /// <summary>One gateway for every trick (each test opens its own session).</summary>
    public sealed class Gateway : IAsyncLifetime
    {
        public TestGateway Host { get; private set; } = null!;
        public ScriptedSmtpServer Elsewhere { get; } = new();

        public async Task InitializeAsync()
        {
            Host = await TestGateway.StartAsync(o =>
            {
                o.Routes.Add(new global::Gateway.Configuration.RouteOptions { Domain = "elsewhere.example", Host = "127.0.0.1", Port = Elsewhere.Port });
                o.Limits.MaxBadCommands = 100;
            });
            Host.AddUser(User, "alice-password-1");
        }

        public async Task DisposeAsync()
        {
            await Host.DisposeAsync();
            await Elsewhere.DisposeAsync();
        }
    }

    readonly TestGateway _gw = fixture.Host;
    readonly ScriptedSmtpServer _elsewhere = fixture.Elsewhere;
    const string User = "alice@gateway.test";

    public static TheoryData<string, string> Tricks => new()
    {
        { "<>", "<victim@elsewhere.example>" },
        { "<spammer@example.org>", "<victim@elsewhere.example>" },
        { "<alice@gateway.test>", "<victim@elsewhere.example>" },                      // a forged local sender
        { "<spammer@example.org>", "<victim%elsewhere.example@gateway.test>" },        // percent hack
        { "<spammer@example.org>", "<alice%elsewhere.example@gateway.test>" },         // percent hack on a real user
        { "<spammer@example.org>", "<elsewhere.example!victim@gateway.test>" },        // bang path
        { "<spammer@example.org>", "<victim!elsewhere.example@gateway.test>" },
        { "<spammer@example.org>", "<@gateway.test:victim@elsewhere.example>" },       // source route
        { "<spammer@example.org>", "<@gateway.test,@other.example:victim@elsewhere.example>" },
        { "<spammer@example.org>", "<\"victim@elsewhere.example\"@gateway.test>" },    // quoted local part
        { "<spammer@example.org>", "<\"victim%elsewhere.example\"@gateway.test>" },
        { "<spammer@example.org>", "<victim@elsewhere.example@gateway.test>" },        // two at-signs
        { "<spammer@example.org>", "<victim@[127.0.0.1]>" },                           // address literals
        { "<spammer@example.org>", "<victim%elsewhere.example@[127.0.0.1]>" },
        { "<spammer@example.org>", "<victim@elsewhere.example.>" },                    // trailing dot
        { "<spammer@example.org>", "<victim@gateway.test.elsewhere.example>" },        // look-alike domains
        { "<spammer@example.org>", "<victim@elsewhere.example.gateway.test>" },
        { "<spammer@example.org>", "<victim@sub.gateway.test>" },
        { "<spammer@example.org>", "victim@elsewhere.example" },                       // no angle brackets
        { "<spammer@example.org>", "<victim@elsewhere.example> NOTIFY=NEVER" },
        { "<spammer@example.org>", "<VICTIM@ELSEWHERE.EXAMPLE>" },
    };

    [Theory]
    [MemberData(nameof(Tricks))]
    public async Task Relay_tricks_are_refused_on_the_delivery_listener(string from, string to)
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.DeliveryPort);
        await c.HelloAsync(name: "relaytest.example");
        var mail = await c.CommandAsync($"MAIL FROM:{from}");
        Assert.Equal(250, mail.Code);
        var rcpt = await c.CommandAsync($"RCPT TO:{to}");
        Assert.True(rcpt.Code >= 500, $"RCPT TO:{to} from {from} got {rcpt.Code} {rcpt.Text}");
        // Nothing to send: DATA without a recipient is refused too.
        var data = await c.CommandAsync("DATA");
        Assert.True(data.Code is 503 or 554, $"DATA without a recipient got {data.Code} {data.Text}");
        // The same session still takes mail for a local user (the test can fail).
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:{from}")).Code);
        Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
        Assert.Empty(_elsewhere.Messages);
    }

    [Fact]
    public async Task The_submission_listener_relays_nothing_without_auth_and_auth_never_in_clear()
    {
        await using var c = await SmtpWire.ConnectAsync(_gw.SubmissionPort);
        var ehlo = await c.HelloAsync(name: "relaytest.example");
        Assert.DoesNotContain("AUTH", ehlo.Text); // no mechanism is offered before STARTTLS
        Assert.Equal(530, (await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@gateway.test\0alice-password-1"u8.ToArray()))).Code);
        var mail = await c.CommandAsync("MAIL FROM:<alice@gateway.test>");
        if (mail.Code == 250) Assert.True((await c.CommandAsync("RCPT TO:<victim@elsewhere.example>")).Code >= 500);
        else Assert.True(mail.Code >= 500, $"{mail.Code} {mail.Text}");
        Assert.Empty(_elsewhere.Messages);
    }
}
