using System.Text;
using Gateway.Tests.Support;
using MailKit;
using MimeKit;

namespace Gateway.Tests.Sealing;

/// <summary>
/// Mail that cannot be sealed for its owner (a courier without a CA yet, so the user has no certificate) is never
/// stored plain: APPEND answers NO with the reason, local delivery keeps the message in the (sealed) queue with a
/// temporary status and retries, and no file holds it in clear.
/// </summary>
public sealed class UnsealableMailTests
{
    const string User = "erin@gateway.test";
    const string Password = "unsealable-15";

    [Fact]
    public async Task Without_a_certificate_for_the_owner_append_is_refused_and_delivery_waits_sealed()
    {
        await using var gw = await TestGateway.StartAsync(o => o.Courier.CreateRootOnFirstStart = false);
        gw.AddUser(User, Password);
        var appended = "APPENDNO" + Guid.NewGuid().ToString("N")[..12];
        var delivered = "HELD" + Guid.NewGuid().ToString("N")[..12];

        using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, User, Password))
        {
            var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes($"From: {User}\r\nSubject: {appended}\r\n\r\nBody {appended}\r\n")));
            var refused = await Assert.ThrowsAsync<MailKit.Net.Imap.ImapCommandException>(() => client.Inbox.AppendAsync(new AppendRequest(message)));
            Assert.Contains("cannot be sealed", refused.Message);
            Assert.Equal(MailKit.Net.Imap.ImapCommandResponse.No, refused.Response);
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            Assert.Equal(0, client.Inbox.Count);
        }

        await using (var c = await SmtpWire.ConnectAsync(gw.DeliveryPort))
        {
            await c.HelloAsync();
            await c.CommandAsync("MAIL FROM:<someone@internet.test>");
            Assert.Equal(250, (await c.CommandAsync($"RCPT TO:<{User}>")).Code);
            await c.CommandAsync("DATA");
            Assert.Equal(250, (await c.CommandAsync($"From: someone@internet.test\r\nTo: {User}\r\nSubject: {delivered}\r\n\r\nBody {delivered}\r\n.")).Code);
        }
        // Tried (more than once) and kept: the queue holds it with the reason.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        Gateway.Queue.QueuedMessage? waiting = null;
        while (DateTime.UtcNow < deadline)
        {
            waiting = gw.Queue.List().SingleOrDefault();
            if (waiting?.Recipients.Single().Attempts >= 2) break;
            await Task.Delay(200);
        }
        Assert.NotNull(waiting);
        var recipient = waiting!.Recipients.Single();
        Assert.True(recipient.Attempts >= 2, $"attempts: {recipient.Attempts}");
        Assert.Equal(Gateway.Queue.RecipientState.Pending, recipient.State);
        Assert.StartsWith("4.", recipient.Status);
        Assert.Contains("cannot be sealed", recipient.Diagnostic);
        Assert.Empty(gw.MailStore.Messages(gw.MailStore.Find(User, "INBOX")!.Id));

        var leaks = NothingRestsInClearTests.Leaks(gw.DataDirectory, new[] { appended, delivered });
        Assert.True(leaks.Count == 0, "plaintext at rest:\n" + string.Join("\n", leaks));
    }
}
