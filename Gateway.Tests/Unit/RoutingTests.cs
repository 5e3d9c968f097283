using Gateway.Configuration;
using Gateway.Delivery;
using Gateway.Routing;
using RouteOptions = Gateway.Configuration.RouteOptions;

namespace Gateway.Tests.Unit;

public class RoutingTests
{
    static RouteTable Table() => new(new GatewayOptions
    {
        Domains = new() { "served.test", "internal.test" },
        Routes = new()
        {
            new RouteOptions { Domain = "*", Host = "smarthost.test" },
            new RouteOptions { Domain = ".corp.test", Host = "corp-relay.test" },
            new RouteOptions { Domain = "eu.corp.test", Host = "eu-relay.test" },
            new RouteOptions { Domain = "internal.test", Host = "exchange.internal.test" },
        },
    });

    [Theory]
    [InlineData("eu.corp.test", "eu-relay.test")]
    [InlineData("us.corp.test", "corp-relay.test")]
    [InlineData("elsewhere.test", "smarthost.test")]
    [InlineData("internal.test", "exchange.internal.test")]
    public void Most_specific_route_wins(string domain, string host)
    {
        var hop = Assert.IsType<NextHop.Static>(Table().Resolve(domain));
        Assert.Equal(host, hop.Route.Host);
    }

    [Fact]
    public void Served_domain_without_explicit_route_is_local_even_with_a_catch_all() =>
        Assert.IsType<NextHop.LocalMailbox>(Table().Resolve("SERVED.test"));

    [Fact]
    public void Without_routes_mail_goes_to_the_mx()
    {
        var table = new RouteTable(new GatewayOptions { Domains = new() { "a.test" } });
        Assert.Equal(new NextHop.Mx("b.test"), table.Resolve("b.test"));
    }

    [Fact]
    public void Retry_backoff_doubles_and_is_capped()
    {
        var schedule = new RetrySchedule(new DeliveryOptions { FirstRetrySeconds = 60, MaxRetrySeconds = 600 });
        double S(int n) => schedule.DelayAfter(n).TotalSeconds;
        Assert.InRange(S(1), 54, 66);
        Assert.InRange(S(2), 108, 132);
        Assert.InRange(S(3), 216, 264);
        Assert.InRange(S(10), 540, 660);
        Assert.InRange(S(1000), 540, 660);
    }
}
