using Gateway.Configuration;
using Gateway.Hosting;

namespace Gateway.Tests.Unit;

public class SampleConfigurationTests
{
    [Fact]
    public void The_commented_sample_configuration_loads_and_validates()
    {
        var repo = AppContext.BaseDirectory[..AppContext.BaseDirectory.IndexOf("/Gateway.Tests/", StringComparison.Ordinal)];
        var (configuration, file) = ConfigurationSources.Load(Path.Combine(repo, "config", "gateway.json"));
        Assert.NotNull(file);
        var options = GatewayOptionsLoader.Load(configuration);
        Assert.Equal("mx.example.org", options.Hostname);
        Assert.Equal(5, options.Listeners.Count);
        Assert.Equal(2, options.Listeners.Count(l => l.Role == ListenerRole.Imap));
        Assert.Equal(30, options.Imap.IdleTimeoutMinutes);
        Assert.Equal(OutboundTls.Opportunistic, options.Delivery.Tls);
        Assert.Empty(options.Routes);
    }
}
