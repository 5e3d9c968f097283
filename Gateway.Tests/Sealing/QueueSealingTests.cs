using System.Text;
using Gateway.Platform;
using Gateway.Queue;
using Gateway.Sealing;
using Gateway.Smtp;
using Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Sealing;

/// <summary>The queue's files hold nothing in clear: a queued message, its envelope, and what recovery quarantines.</summary>
public sealed class QueueSealingTests
{
    static (MessageQueue Queue, string Root) Create()
    {
        var data = new DataDirectory(TempDirectory.Create("queue-seal"));
        data.EnsureCreated();
        return (new MessageQueue(data, SpoolSeal.Ephemeral(), NullLogger<MessageQueue>.Instance), data.Root);
    }

    [Fact]
    public async Task A_queued_message_and_its_envelope_are_sealed_and_read_back_whole()
    {
        var (queue, root) = Create();
        queue.Recover();
        var marker = "QUEUED" + Guid.NewGuid().ToString("N")[..12];
        var octets = Encoding.ASCII.GetBytes($"Subject: {marker}\r\n\r\n" + string.Concat(Enumerable.Repeat($"body {marker}\r\n", 20_000)));
        var queued = await queue.EnqueueAsync(new MemoryStream(octets), new SmtpMailbox("someone", "sender.test"),
            new[] { new SmtpRecipient(new SmtpMailbox("rcpt-" + marker, "far.test"), DsnNotify.Never, null) }, $"Received: by {marker}\r\n", CancellationToken.None);
        Assert.Empty(NothingRestsInClearTests.Leaks(root, new[] { marker }));

        await using var content = queue.OpenContent(queued);
        var all = new byte[content.Length];
        content.ReadExactly(all);
        Assert.Equal(Encoding.ASCII.GetBytes($"Received: by {marker}\r\n").Concat(octets).ToArray(), all);
        Assert.Equal("rcpt-" + marker + "@far.test", queue.Load(queued.Id)!.Recipients.Single().Address);
    }

    [Fact]
    public void An_unreadable_plain_entry_an_earlier_version_left_is_quarantined_sealed()
    {
        var (queue, root) = Create();
        var marker = "BROKEN" + Guid.NewGuid().ToString("N")[..12];
        File.WriteAllText(Path.Combine(queue.MessagesDirectory, "0000000000b00000000.json"), "{ not json " + marker);
        File.WriteAllText(Path.Combine(queue.MessagesDirectory, "0000000000b00000000.eml"), "Subject: " + marker + "\r\n\r\nbody\r\n");
        Assert.Empty(queue.Recover());
        var quarantined = Directory.GetFiles(Path.Combine(root, "queue", "corrupt"));
        Assert.Equal(2, quarantined.Length);
        Assert.All(quarantined, f => Assert.True(SpoolSeal.IsSealed(f)));
        Assert.Contains(marker, Encoding.ASCII.GetString(queue.Seal.ReadAllBytes(quarantined.Single(f => f.EndsWith(".eml")))));
        Assert.Empty(NothingRestsInClearTests.Leaks(root, new[] { marker }));
    }
}
