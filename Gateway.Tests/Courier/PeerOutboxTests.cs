using Gateway.Courier;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>An element's outbound queue: one message per id, whoever queues it and however often.</summary>
public class PeerOutboxTests
{
    [Fact]
    public async Task The_same_id_queued_by_several_callers_at_once_is_queued_once_and_none_of_them_fails()
    {
        // A registration and the account distributor tell the Foreground's host of the same account at the same moment:
        // both queue the Distribute Account under one name.
        var outbox = new PeerOutbox(TempDirectory.Create("outbox"), Gateway.Sealing.SpoolSeal.Ephemeral());
        for (var round = 0; round < 20; round++)
        {
            var id = "acct-" + round;
            using var start = new ManualResetEventSlim();
            var callers = Enumerable.Range(0, 4).Select(n => Task.Factory.StartNew(() =>
            {
                start.Wait();
                return outbox.Enqueue(new OutboundEntry { Id = id, Endpoint = "127.0.0.1:25", To = "foreground@s.test", CreatedUtc = DateTime.UtcNow },
                    stream => stream.Write(System.Text.Encoding.ASCII.GetBytes($"Subject: from caller {n}\r\n\r\n" + new string('x', 200_000))));
            }, TaskCreationOptions.LongRunning)).ToArray();
            start.Set();
            var queued = await Task.WhenAll(callers);
            Assert.Equal(1, queued.Count(q => q));
            using var message = outbox.OpenMessage(id)!;
            var text = new StreamReader(message).ReadToEnd();
            Assert.StartsWith("Subject: from caller ", text);
            Assert.Equal(200_000 + "Subject: from caller 0\r\n\r\n".Length, text.Length);
        }
        Assert.Equal(20, outbox.All().Count);
    }
}
