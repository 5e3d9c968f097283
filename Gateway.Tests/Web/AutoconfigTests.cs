using System.Net;
using System.Text;
using System.Xml.Linq;
using Gateway.Configuration;
using Gateway.Tests.Support;
using Gateway.Web;

namespace Gateway.Tests.Web;

/// <summary>Thunderbird autoconfig and Outlook Autodiscover, fetched over HTTPS from the running host.</summary>
public class AutoconfigTests : IAsyncLifetime
{
    TestGateway _gw = null!;
    int _imapPort, _imapsPort;
    const int ImapsPublicPort = 993;

    static readonly XNamespace Response = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
    static readonly XNamespace Outer = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync(o =>
        {
            // The test host's IMAP listeners; the implicit-TLS one sits behind a NAT that maps 993 onto it.
            var imap = o.Listeners.Single(l => l.Name == "imap");
            var imaps = o.Listeners.Single(l => l.Name == "imaps");
            imaps.PublicPort = ImapsPublicPort;
            _imapPort = int.Parse(imap.Endpoint.Split(':')[^1]);
            _imapsPort = int.Parse(imaps.Endpoint.Split(':')[^1]);
            o.Domains.Add("second.test");
        });
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    // The certificate is the generated self-signed one: accepted here, in tests only.
    HttpClient Client() => new(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true })
    {
        BaseAddress = new Uri($"https://127.0.0.1:{_gw.HttpsPort}"),
    };

    static string Value(XElement parent, string name) => parent.Element(name)?.Value ?? throw new Xunit.Sdk.XunitException($"no <{name}> in {parent}");
    static string Value(XElement parent, XName name) => parent.Element(name)?.Value ?? throw new Xunit.Sdk.XunitException($"no <{name.LocalName}> in {parent}");

    static void AssertThunderbirdDocument(XDocument doc, string expectedId, int submissionPort, int implicitTlsPort, int imapPort)
    {
        var root = doc.Root!;
        Assert.Equal("clientConfig", root.Name.LocalName);
        Assert.Equal("1.1", (string?)root.Attribute("version"));
        var provider = root.Element("emailProvider")!;
        Assert.Equal(expectedId, (string?)provider.Attribute("id"));
        Assert.Equal(new[] { TestGateway.Domain, "second.test" }, provider.Elements("domain").Select(d => d.Value));

        var incoming = provider.Elements("incomingServer").ToList();
        Assert.All(incoming, s => Assert.Equal("imap", (string?)s.Attribute("type")));
        // Implicit TLS first, announced on its public port; then STARTTLS on its endpoint port.
        Assert.Equal(new[] { (ImapsPublicPort, "SSL"), (imapPort, "STARTTLS") },
            incoming.Select(s => (int.Parse(Value(s, "port")), Value(s, "socketType"))));

        var outgoing = provider.Elements("outgoingServer").ToList();
        Assert.All(outgoing, s => Assert.Equal("smtp", (string?)s.Attribute("type")));
        Assert.Equal(new[] { (implicitTlsPort, "SSL"), (submissionPort, "STARTTLS") },
            outgoing.Select(s => (int.Parse(Value(s, "port")), Value(s, "socketType"))));

        foreach (var server in incoming.Concat(outgoing))
        {
            Assert.Equal("mx.gateway.test", Value(server, "hostname")); // from Web.PublicUrl
            Assert.Equal("%EMAILADDRESS%", Value(server, "username"));
            Assert.Equal("password-cleartext", Value(server, "authentication"));
        }
        // The delivery listener is not for mail programs.
        Assert.DoesNotContain(incoming.Concat(outgoing), s => Value(s, "port") == "0");
    }

    [Theory]
    [InlineData("/.well-known/autoconfig/mail/config-v1.1.xml")]
    [InlineData("/mail/config-v1.1.xml")]
    public async Task Thunderbird_gets_the_imap_and_submission_servers(string path)
    {
        using var http = Client();
        var response = await http.GetAsync(path + "?emailaddress=alice%40second.test");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("xml", response.Content.Headers.ContentType?.MediaType);
        var doc = XDocument.Parse(await response.Content.ReadAsStringAsync());
        AssertThunderbirdDocument(doc, "second.test", _gw.SubmissionPort, _gw.ImplicitTlsPort, _imapPort);
        Assert.DoesNotContain(doc.Descendants("port"), p => p.Value == _gw.DeliveryPort.ToString());
    }

    [Fact]
    public async Task Thunderbird_without_an_address_gets_the_first_domain_and_a_foreign_address_gets_404()
    {
        using var http = Client();
        var plain = XDocument.Parse(await http.GetStringAsync("/.well-known/autoconfig/mail/config-v1.1.xml"));
        Assert.Equal(TestGateway.Domain, (string?)plain.Root!.Element("emailProvider")!.Attribute("id"));

        var foreign = await http.GetAsync("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40elsewhere.test");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        var bad = await http.GetAsync("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=not-an-address");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Curl_fetches_the_thunderbird_document()
    {
        var body = await ExternalTool.RunAsync("curl", new[]
        {
            "--silent", "--show-error", "--insecure", "--fail",
            $"https://127.0.0.1:{_gw.HttpsPort}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40gateway.test",
        });
        Assert.True(body.ExitCode == 0, body.All);
        Assert.StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?>", body.StdOut);
        AssertThunderbirdDocument(XDocument.Parse(body.StdOut), TestGateway.Domain, _gw.SubmissionPort, _gw.ImplicitTlsPort, _imapPort);
    }

    static string AutodiscoverRequest(string address) =>
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n" +
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\r\n" +
        "  <Request>\r\n" +
        $"    <EMailAddress>{address}</EMailAddress>\r\n" +
        "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n" +
        "  </Request>\r\n" +
        "</Autodiscover>\r\n";

    [Theory]
    [InlineData("/autodiscover/autodiscover.xml")]
    [InlineData("/Autodiscover/Autodiscover.xml")]
    public async Task Outlook_autodiscover_answers_with_imap_and_smtp_settings(string path)
    {
        using var http = Client();
        var response = await http.PostAsync(path, new StringContent(AutodiscoverRequest("carol@second.test"), Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = XDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(Outer + "Autodiscover", doc.Root!.Name);
        var account = doc.Root.Element(Response + "Response")!.Element(Response + "Account")!;
        Assert.Equal("email", Value(account, Response + "AccountType"));
        Assert.Equal("settings", Value(account, Response + "Action"));
        var protocols = account.Elements(Response + "Protocol").Select(p => new
        {
            Type = Value(p, Response + "Type"),
            Port = int.Parse(Value(p, Response + "Port")),
            Server = Value(p, Response + "Server"),
            Login = Value(p, Response + "LoginName"),
            Ssl = Value(p, Response + "SSL"),
            Spa = Value(p, Response + "SPA"),
            Encryption = Value(p, Response + "Encryption"),
            AuthRequired = p.Element(Response + "AuthRequired")?.Value,
        }).ToList();

        Assert.Equal(new[]
        {
            ("IMAP", ImapsPublicPort, "SSL"), ("IMAP", _imapPort, "TLS"),
            ("SMTP", _gw.ImplicitTlsPort, "SSL"), ("SMTP", _gw.SubmissionPort, "TLS"),
        }, protocols.Select(p => (p.Type, p.Port, p.Encryption)));
        Assert.All(protocols, p =>
        {
            Assert.Equal("mx.gateway.test", p.Server);
            Assert.Equal("carol@second.test", p.Login);
            Assert.Equal("on", p.Ssl);
            Assert.Equal("off", p.Spa);
        });
        Assert.All(protocols.Where(p => p.Type == "SMTP"), p => Assert.Equal("on", p.AuthRequired));
    }

    [Fact]
    public async Task Outlook_autodiscover_refuses_bad_requests_and_foreign_domains()
    {
        using var http = Client();
        const string path = "/autodiscover/autodiscover.xml";

        var empty = await http.PostAsync(path, new StringContent("", Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        var notXml = await http.PostAsync(path, new StringContent("<Autodiscover><Request>", Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.BadRequest, notXml.StatusCode);
        var noAddress = await http.PostAsync(path, new StringContent(AutodiscoverRequest("").Replace("<EMailAddress></EMailAddress>", ""), Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.BadRequest, noAddress.StatusCode);
        Assert.Contains("EMailAddress", await noAddress.Content.ReadAsStringAsync());
        var dtd = await http.PostAsync(path, new StringContent(
            "<!DOCTYPE a [<!ENTITY x \"carol@second.test\">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>",
            Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.BadRequest, dtd.StatusCode);
        var huge = await http.PostAsync(path, new StringContent(AutodiscoverRequest("carol@second.test") + new string(' ', 100_000), Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);

        var foreign = await http.PostAsync(path, new StringContent(AutodiscoverRequest("carol@elsewhere.test"), Encoding.UTF8, "text/xml"));
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);

        var get = await http.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, get.StatusCode);
        var getWithAddress = await http.GetAsync(path + "?emailaddress=carol%40gateway.test");
        Assert.Equal(HttpStatusCode.OK, getWithAddress.StatusCode);
        Assert.Equal("carol@gateway.test", XDocument.Parse(await getWithAddress.Content.ReadAsStringAsync())
            .Descendants(Response + "LoginName").First().Value);
    }
}

/// <summary>The documents and settings behind the endpoints, without a host.</summary>
public class AutoconfigDocumentTests
{
    static readonly XNamespace Response = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    [Fact]
    public void Xml_special_characters_in_an_address_are_escaped()
    {
        var options = TestGateway.DefaultOptions(dataDirectory: "unused-data");
        var doc = AutoconfigEndpoints.AutodiscoverDocument(options, "a&b<c>\"@gateway.test");
        var text = doc.ToString();
        Assert.Contains("a&amp;b&lt;c&gt;\"@gateway.test", text);
        Assert.Equal("a&b<c>\"@gateway.test", XDocument.Parse(text).Descendants(Response + "LoginName").First().Value);
    }

    [Fact]
    public void The_public_host_comes_from_the_public_url_else_the_hostname_and_public_port_is_validated()
    {
        var options = TestGateway.DefaultOptions(dataDirectory: "unused-data");
        options.Web.PublicUrl = "https://mail.example.org/";
        Assert.Equal("mail.example.org", AutoconfigEndpoints.PublicHost(options));
        options.Web.PublicUrl = null;
        Assert.Equal("mx.gateway.test", AutoconfigEndpoints.PublicHost(options));

        options.Listeners[1].PublicPort = 70000;
        Assert.Contains(GatewayOptionsValidator.Validate(options), p => p.StartsWith("Gateway:Listeners:1:PublicPort: 70000 is not a TCP port"));
        options.Listeners[1].PublicPort = 587;
        Assert.Empty(GatewayOptionsValidator.Validate(options));
        Assert.Contains(AutoconfigEndpoints.PublicServers(options), s => s.Port == 587 && s.Role == ListenerRole.Submission);
    }
}
