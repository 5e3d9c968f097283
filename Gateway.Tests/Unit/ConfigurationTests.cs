using Gateway.Configuration;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Unit;

public class ConfigurationTests
{
    static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Fact]
    public void Empty_configuration_gives_the_documented_defaults()
    {
        var o = GatewayOptionsLoader.Load(Config());
        Assert.Equal(new[] { "0.0.0.0:2525", "0.0.0.0:2587", "0.0.0.0:2465", "0.0.0.0:2143", "0.0.0.0:2993" }, o.Listeners.Select(l => l.Endpoint));
        Assert.Equal(new[] { TlsMode.StartTls, TlsMode.StartTls, TlsMode.Implicit, TlsMode.StartTls, TlsMode.Implicit }, o.Listeners.Select(l => l.Tls));
        Assert.Equal(new[] { ListenerRole.Delivery, ListenerRole.Submission, ListenerRole.Submission, ListenerRole.Imap, ListenerRole.Imap }, o.Listeners.Select(l => l.Role));
        Assert.Contains("localhost", o.Domains);
        Assert.Equal(1000, o.Limits.MaxLineLength);
        Assert.True(Path.IsPathRooted(o.DataDirectory));
    }

    [Fact]
    public void Values_bind_from_configuration()
    {
        var o = GatewayOptionsLoader.Load(Config(
            ("Gateway:Hostname", "MX.Example.ORG."),
            ("Gateway:Domains:0", "Example.org"),
            ("Gateway:Limits:MaxRecipients", "7"),
            ("Gateway:Routes:0:Domain", "*"),
            ("Gateway:Routes:0:Host", "smarthost.example.net"),
            ("Gateway:Routes:0:Port", "587"),
            ("Gateway:Routes:0:Tls", "Required")));
        Assert.Equal("mx.example.org", o.Hostname);
        Assert.Equal(new[] { "example.org" }, o.Domains);
        Assert.Equal(7, o.Limits.MaxRecipients);
        Assert.Equal(OutboundTls.Required, o.Routes[0].Tls);
    }

    [Theory]
    [InlineData("Gateway:Limits:MaxRecipients", "lots", "Gateway:Limits:MaxRecipients")]
    [InlineData("Gateway:Listeners:0:Tls", "Sometimes", "Gateway:Listeners:0:Tls")]
    [InlineData("Gateway:Limits:MaxRecipients", "0", "Gateway:Limits:MaxRecipients")]
    [InlineData("Gateway:Limits:MaxLineLength", "100", "Gateway:Limits:MaxLineLength")]
    [InlineData("Gateway:Hostname", "not a host", "Gateway:Hostname")]
    [InlineData("Gateway:Domains:0", "bad_domain!", "Gateway:Domains:0")]
    [InlineData("Gateway:Delivery:DnsServers:0", "dns.example", "Gateway:Delivery:DnsServers:0")]
    [InlineData("Gateway:Tls:CertificatePath", "/nonexistent/cert.pem", "Gateway:Tls:CertificatePath")]
    [InlineData("Gateway:Courier:Endpoint", "no port here", "Gateway:Courier:Endpoint")]
    [InlineData("Gateway:Courier:BackgroundEndpoint", "bg.example.org", "Gateway:Courier:BackgroundEndpoint")]
    [InlineData("Gateway:Courier:PeerFirstRetrySeconds", "0", "Gateway:Courier:PeerFirstRetrySeconds")]
    [InlineData("Gateway:Roles:0", "relay", "Gateway:Roles:0")]
    public void Bad_values_stop_with_a_line_naming_the_key_and_the_fix(string key, string value, string expectedKey)
    {
        var pairs = new List<(string, string)> { (key, value) };
        if (key.StartsWith("Gateway:Listeners:0"))
        {
            pairs.Add(("Gateway:Listeners:0:Name", "x"));
            pairs.Add(("Gateway:Listeners:0:Endpoint", "127.0.0.1:2525"));
        }
        var ex = Assert.Throws<ConfigurationException>(() => GatewayOptionsLoader.Load(Config(pairs.ToArray())));
        var line = Assert.Single(ex.Problems);
        Assert.StartsWith(expectedKey, line);
        Assert.Contains("fix:", line);
        Assert.DoesNotContain('\n', line);
    }

    [Theory]
    [InlineData(new[] { "agent", "foreground", "background" }, null)]
    [InlineData(new[] { "background" }, "Gateway:Routes: no route for gateway.test")]
    [InlineData(new[] { "agent", "foreground" }, "Gateway:Courier:BackgroundEndpoint: '' is not host:port")]
    [InlineData(new[] { "foreground" }, "Gateway:Courier:AgentEndpoint: '' is not host:port")]
    [InlineData(new[] { "foreground" }, "Gateway:Courier:AgentUrl: '' is not an https:// URL")]
    [InlineData(new[] { "agent" }, "Gateway:Courier:ForegroundUrl: '' is not an https:// URL")]
    [InlineData(new[] { "agent" }, "Gateway:Courier:Endpoint: empty, but the Foreground runs elsewhere")]
    [InlineData(new[] { "agent", "background" }, "is not a supported split")]
    [InlineData(new[] { "foreground", "background" }, "is not a supported split")]
    public void A_split_courier_names_what_it_needs(string[] roles, string? expected)
    {
        var options = new GatewayOptions { Hostname = "mx.gateway.test", Domains = { "gateway.test" } };
        options.Roles.AddRange(roles);
        var problems = GatewayOptionsValidator.Validate(options);
        if (expected is null) Assert.DoesNotContain(problems, p => p.Contains("Roles") || p.Contains("Background"));
        else Assert.Contains(problems, p => p.Contains(expected));
    }

    [Fact]
    public void A_background_only_process_takes_no_submission_or_imap_listener_and_the_split_host_needs_the_background_url()
    {
        var background = new GatewayOptions { Hostname = "bg.gateway.test", Domains = { "gateway.test" }, Roles = { "background" },
            Routes = { new RouteOptions { Domain = "gateway.test", Host = "agent.gateway.test", Port = 25 } },
            Listeners = { new ListenerOptions { Name = "imaps", Endpoint = "127.0.0.1:2993", Role = ListenerRole.Imap, Tls = TlsMode.Implicit } } };
        Assert.Contains(GatewayOptionsValidator.Validate(background), p => p.StartsWith("Gateway:Listeners:0:Role: Imap on a Background-only process"));
        var main = new GatewayOptions { Hostname = "mx.gateway.test", Domains = { "gateway.test" }, Roles = { "agent", "foreground" },
            Courier = { BackgroundEndpoint = "bg.gateway.test:25", BackgroundUrl = "http://bg.gateway.test" } };
        Assert.Contains(GatewayOptionsValidator.Validate(main), p => p.StartsWith("Gateway:Courier:BackgroundUrl: 'http://bg.gateway.test' is not an https:// URL"));
    }

    [Fact]
    public void Unknown_keys_are_reported()
    {
        var ex = Assert.Throws<ConfigurationException>(() => GatewayOptionsLoader.Load(Config(("Gateway:Limits:MaxRecipientz", "5"))));
        Assert.Contains("MaxRecipientz", ex.Problems[0]);
    }

    [Fact]
    public void Submission_without_tls_is_refused_because_auth_would_be_impossible()
    {
        var ex = Assert.Throws<ConfigurationException>(() => GatewayOptionsLoader.Load(Config(
            ("Gateway:Listeners:0:Name", "sub"),
            ("Gateway:Listeners:0:Endpoint", "127.0.0.1:2587"),
            ("Gateway:Listeners:0:Role", "Submission"),
            ("Gateway:Listeners:0:Tls", "None"))));
        Assert.Contains("Gateway:Listeners:0:Tls", ex.Problems[0]);
    }

    [Theory]
    [InlineData("127.0.0.1:25", true)]
    [InlineData("[::1]:2525", true)]
    [InlineData("0.0.0.0:0", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("localhost:25", false)]
    [InlineData("127.0.0.1:70000", false)]
    public void Endpoints_need_an_address_and_a_port(string text, bool valid) =>
        Assert.Equal(valid, GatewayOptionsValidator.TryParseEndpoint(text, out _));
}

[Collection(Gateway.Tests.Support.ProcessEnvironmentCollection.Name)]
public class DataDirectoryEnvironmentTests
{
    static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Fact]
    public void Data_directory_environment_variable_wins()
    {
        var dir = Path.Combine(Path.GetTempPath(), "gw-env-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable(GatewayOptionsLoader.DataDirEnvironmentVariable, dir);
        try
        {
            var o = GatewayOptionsLoader.Load(Config(("Gateway:DataDirectory", "/somewhere/else")));
            Assert.Equal(dir, o.DataDirectory);
        }
        finally { Environment.SetEnvironmentVariable(GatewayOptionsLoader.DataDirEnvironmentVariable, null); }
    }
}
