using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

public class ShutdownTests
{
    [Fact]
    public async Task Graceful_shutdown_finishes_the_transaction_in_flight_and_tells_idle_clients_421()
    {
        var gw = await TestGateway.StartAsync();
        gw.KeepData = true;
        gw.AddUser("alice@gateway.test", "alice-password");
        var idle = await SmtpWire.ConnectAsync(gw.DeliveryPort);
        await idle.HelloAsync();
        var busy = await SmtpWire.ConnectAsync(gw.DeliveryPort);
        await busy.HelloAsync();
        await busy.CommandAsync("MAIL FROM:<bob@example.org>");
        await busy.CommandAsync("RCPT TO:<alice@gateway.test>");
        await busy.CommandAsync("DATA");
        await busy.SendRawAsync("Subject: in flight during shutdown\r\n\r\nfirst half\r\n");

        var stopping = gw.App.StopAsync();
        var bye = await idle.ReadReplyAsync();
        Assert.Equal(421, bye.Code);
        Assert.StartsWith("4.3.2", bye.Text);

        var done = await busy.CommandAsync("second half\r\n.");
        Assert.Equal(250, done.Code);
        Assert.Equal(421, (await busy.ReadReplyAsync()).Code); // then it is told to go, too
        await stopping;

        // Queued (sealed) or already delivered: either way whole.
        var kept = Directory.GetFiles(gw.Queue.MessagesDirectory, "*.eml").Select(f => System.Text.Encoding.UTF8.GetString(gw.Queue.Seal.ReadAllBytes(f)))
            .Concat(gw.ReadableMail("alice@gateway.test") ?? Array.Empty<string>()).ToList();
        Assert.Contains(kept, m => m.Contains("second half"));
        await idle.DisposeAsync();
        await busy.DisposeAsync();
        await gw.App.DisposeAsync();
    }
}
