using Gateway.Courier;
using Gateway.Tests.Support;
using MailKit;
using MailKit.Search;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Sealing;

/// <summary>
/// SEARCH over protected mail answers as FETCH shows it, counts no open, and reveals nothing of a message its
/// recipient may no longer open: once opened as often as allowed, or revoked, a message matches only on the notice
/// shown in its place.
/// </summary>
public sealed class ProtectedSearchTests
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "protected-search-15";

    [Fact]
    public async Task Search_counts_no_open_and_finds_nothing_of_a_message_that_can_no_longer_be_opened()
    {
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser(Alice, Password);
        gw.AddUser(Bob, Password);
        var once = "ONCE" + Guid.NewGuid().ToString("N")[..12];
        var revoked = "REVOKED" + Guid.NewGuid().ToString("N")[..12];
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { Bob },
            $"From: {Alice}\r\nTo: {Bob}\r\nSubject: Subject-{once}\r\nX-Gateway-Max-Opens: 1\r\n\r\nBody-{once}\r\n")).Code);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { Bob },
            $"From: {Alice}\r\nTo: {Bob}\r\nSubject: Subject-{revoked}\r\n\r\nBody-{revoked}\r\n")).Code);
        await gw.WaitForMailAsync(Bob, 2);

        using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Bob, Password))
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            // Searched three times by header and body: none of it is an open ...
            for (var i = 0; i < 3; i++)
            {
                Assert.Single(await client.Inbox.SearchAsync(SearchQuery.SubjectContains(once)));
                Assert.Single(await client.Inbox.SearchAsync(SearchQuery.BodyContains("Body-" + once)));
            }
            await client.DisconnectAsync(true);
        }
        using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Bob, Password))
        {
            // ... so the one open allowed is still there.
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            var uid = (await client.Inbox.SearchAsync(SearchQuery.SubjectContains(once))).Single();
            Assert.Contains("Body-" + once, (await client.Inbox.GetMessageAsync(uid)).TextBody);
            await client.DisconnectAsync(true);
        }

        var stored = gw.MailStore.Messages(gw.MailStore.Find(Bob, "INBOX")!.Id);
        // The one that still previews is the second: the first has had its one open.
        var revokedId = stored.Select(m => m.ProtectedId!).Single(id =>
            gw.App.Services.GetRequiredService<BackgroundElement>().Release(id, Bob, ReleasePurpose.Preview) is KeyRelease.Released);
        Assert.True(gw.App.Services.GetRequiredService<BackgroundElement>().Revoke(revokedId, Alice));

        using (var client = await ImapClients.ConnectAsync(gw.ImapsPort, Bob, Password))
        {
            await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
            // Opened as often as allowed, or revoked: nothing of the original is found any more, by header or body ...
            foreach (var marker in new[] { once, revoked })
            {
                Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.SubjectContains(marker)));
                Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.BodyContains(marker)));
                Assert.Empty(await client.Inbox.SearchAsync(SearchQuery.HeaderContains("X-Gateway-Max-Opens", "1")));
            }
            // ... only the notice shown in their place, as FETCH shows it.
            var notices = await client.Inbox.SearchAsync(SearchQuery.SubjectContains("Protected message: cannot be opened"));
            Assert.Equal(2, notices.Count);
            var envelopes = await client.Inbox.FetchAsync(notices, MessageSummaryItems.Envelope);
            Assert.All(envelopes, e => Assert.StartsWith("[Protected message: cannot be opened]", e.Envelope.Subject));
            await client.DisconnectAsync(true);
        }
    }
}
