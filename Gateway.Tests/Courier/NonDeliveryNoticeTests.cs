using Gateway.Courier;
using Gateway.Platform;
using Gateway.Queue;
using Gateway.Storage;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Courier;

/// <summary>
/// Who gets an element's delivery report: a local user always; a sender on another courier only when the sender's
/// signature on the part checked out (a held part that expired, a part a peer refused); never an unverified sender
/// elsewhere (backscatter).
/// </summary>
public class NonDeliveryNoticeTests
{
    static (NonDeliveryNotice Notice, MessageQueue Queue) Create()
    {
        var data = new DataDirectory(TempDirectory.Create("ndn"));
        data.EnsureCreated();
        var users = new LiteDbUserStore(data.UserDatabasePath);
        users.Add("local@here.test", "x");
        var queue = new MessageQueue(data, Gateway.Sealing.SpoolSeal.Ephemeral(), NullLogger<MessageQueue>.Instance);
        return (new NonDeliveryNotice(queue, users, "mx.here.test", NullLogger<NonDeliveryNotice>.Instance), queue);
    }

    static readonly UndeliveredRecipient[] Failed = { new("nobody@far.test", "5.1.1", "no such user here") };

    [Theory]
    [InlineData("local@here.test", false, true)]
    [InlineData("local@here.test", true, true)]
    [InlineData("sender@elsewhere.test", true, true)]
    [InlineData("sender@elsewhere.test", false, false)]
    public async Task A_report_goes_to_local_users_and_to_verified_senders_elsewhere_only(string sender, bool vouched, bool reported)
    {
        var (notice, queue) = Create();
        await notice.SendAsync("Foreground", sender, "m1", "<m1@test>", Failed, CancellationToken.None, senderVouched: vouched);
        var queued = queue.Recover();
        Assert.Equal(reported ? 1 : 0, queued.Count);
        if (reported)
        {
            Assert.Equal(sender, Assert.Single(queued[0].Recipients).Address.ToString());
            Assert.Null(queued[0].Sender); // from the null sender, like any DSN: it never causes a loop
        }
    }
}
