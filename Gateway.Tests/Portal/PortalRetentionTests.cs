using Gateway.Configuration;
using Gateway.Courier.Portal;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Portal;

/// <summary>What the portal holds stays no longer than a link can open it; users' mail is never touched.</summary>
public sealed class PortalRetentionTests
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "retention-secret-16";

    [Fact]
    public async Task Held_messages_go_once_no_link_can_open_them_and_the_users_mail_stays()
    {
        await using var outside = new ScriptedSmtpServer();
        await using var gw = await TestGateway.StartAsync(o =>
        {
            o.Routes.Add(new RouteOptions { Domain = "outside.test", Host = "127.0.0.1", Port = outside.Port });
            o.Courier.Outside = OutsideDelivery.Portal;
        });
        gw.AddUser(Alice, Password);
        gw.AddUser(Bob, Password);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { "carol@outside.test", Bob },
            $"From: {Alice}\r\nTo: carol@outside.test, {Bob}\r\nSubject: kept a while\r\n\r\nHeld for a while.\r\n")).Code);
        await outside.WaitForMessageAsync(60);
        Assert.Contains(await gw.WaitForMailAsync(Bob), m => m.Contains("Held for a while."));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && gw.MailboxFiles("carol@outside.test").Length == 0) await Task.Delay(50);
        var held = Assert.Single(gw.MailboxFiles("carol@outside.test"));

        var retention = gw.App.Services.GetRequiredService<PortalRetention>();
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(0, retention.Sweep(now.AddDays(gw.Options.Courier.Portal.LinkDays - 1)));
        Assert.True(File.Exists(held));
        var keep = TimeSpan.FromDays(gw.Options.Courier.Portal.LinkDays) + TimeSpan.FromSeconds(gw.Options.Delivery.MaxQueueAgeSeconds);
        Assert.Equal(1, retention.Sweep(now + keep + TimeSpan.FromHours(1)));
        Assert.Empty(gw.MailboxFiles("carol@outside.test"));
        Assert.False(File.Exists(held));
        Assert.Single(gw.MailboxFiles(Bob)); // a user's mail is theirs
    }
}
