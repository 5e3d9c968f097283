using Gateway.Courier;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>An element's inbox: refused parts are set aside, then deleted after their retention.</summary>
public class ElementInboxTests
{
    [Fact]
    public void Refused_parts_are_kept_for_their_retention_and_then_deleted()
    {
        var directory = TempDirectory.Create("inbox");
        var inbox = new ElementInbox(directory, Gateway.Sealing.SpoolSeal.Ephemeral());
        Assert.True(inbox.Put("old-part", "refused long ago"u8.ToArray()));
        Assert.True(inbox.Put("new-part", "refused just now"u8.ToArray()));
        inbox.Reject("old-part");
        inbox.Reject("new-part");
        var rejected = Path.Combine(directory, "rejected");
        File.SetLastWriteTimeUtc(Path.Combine(rejected, "old-part.part"), DateTime.UtcNow.AddDays(-15));
        Assert.Empty(inbox.Waiting());

        Assert.Equal(1, inbox.ExpireRejected(DateTime.UtcNow.AddDays(-14)));
        Assert.False(File.Exists(Path.Combine(rejected, "old-part.part")));
        Assert.True(File.Exists(Path.Combine(rejected, "new-part.part")));
        Assert.Equal(0, inbox.ExpireRejected(DateTime.UtcNow.AddDays(-14)));
    }
}

/// <summary>An element in the Agent's process: a part it takes at once never reaches its inbox; one it declines waits
/// there whole, from the part's own start.</summary>
public class ElementAtHandTests
{
    static (ElementInbox Inbox, string Directory) NewInbox()
    {
        var directory = TempDirectory.Create("inbox");
        return (new ElementInbox(directory, Gateway.Sealing.SpoolSeal.Ephemeral()), directory);
    }

    /// <summary>"HEAD" before the part, as in the Agent's outbox (the ARM before the content part), and the stream at the part.</summary>
    static MemoryStream AtPart(string part)
    {
        var stream = new MemoryStream(System.Text.Encoding.ASCII.GetBytes("HEAD" + part), writable: false);
        stream.Position = 4;
        return stream;
    }

    [Fact]
    public async Task A_part_taken_at_once_is_read_from_its_start_and_never_written_to_the_inbox()
    {
        var (inbox, directory) = NewInbox();
        string? offered = null;
        IElementDrop drop = new ElementAtHand(inbox, async (name, part, _) =>
        {
            // Read twice, as an element that parses it and reads its content again may.
            offered = await new StreamReader(part).ReadToEndAsync();
            part.Position = 0;
            Assert.Equal(offered, await new StreamReader(part).ReadToEndAsync());
            return true;
        });
        await drop.HandOnAsync("q1", AtPart("the part"), CancellationToken.None);
        Assert.Equal("the part", offered);
        Assert.Empty(inbox.Waiting());
        Assert.Empty(Directory.EnumerateFiles(directory));
    }

    [Fact]
    public async Task A_declined_part_waits_in_the_inbox_whole_and_a_waiting_one_is_not_offered_again()
    {
        var (inbox, _) = NewInbox();
        var offers = 0;
        IElementDrop drop = new ElementAtHand(inbox, async (name, part, _) =>
        {
            offers++;
            await new StreamReader(part).ReadToEndAsync(); // read to its end, then declined
            return false;
        });
        await drop.HandOnAsync("q2", AtPart("declined part"), CancellationToken.None);
        Assert.Equal(1, offers);
        Assert.Equal(new[] { "q2" }, inbox.Waiting());
        Assert.Equal("declined part", System.Text.Encoding.ASCII.GetString(inbox.Read("q2")!));

        // Handed on again (the Agent after a crash): it waits already, so the element's worker has it; not offered twice.
        await drop.HandOnAsync("q2", AtPart("declined part"), CancellationToken.None);
        Assert.Equal(1, offers);
        Assert.Equal(new[] { "q2" }, inbox.Waiting());

        // What other writers drop (a Distribute Account, a part from another courier) goes to the inbox, never offered.
        drop.Drop("ic-1", new MemoryStream("from a peer"u8.ToArray()));
        Assert.Equal(1, offers);
        Assert.Contains("ic-1", inbox.Waiting());
    }
}
