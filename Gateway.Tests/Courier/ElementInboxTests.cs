using Gateway.Courier;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>An element's inbox: refused parts are set aside, then deleted after their retention; a sealed part file of
/// this host's is adopted without a copy.</summary>
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

    [Fact]
    public void An_adopted_part_is_the_staged_file_under_a_second_name_and_outlives_either_name()
    {
        var root = TempDirectory.Create("adopt");
        var seal = Gateway.Sealing.SpoolSeal.Ephemeral();
        var inbox = new ElementInbox(Path.Combine(root, "inbox"), seal);
        var staged = Path.Combine(root, "q1.content");
        seal.WriteAtomic(staged, s => s.Write("the content part"u8));

        Assert.True(inbox.TryAdopt("q1", staged));
        Assert.Equal(["q1"], inbox.Waiting());
        Assert.Equal("the content part"u8.ToArray(), inbox.Read("q1"));
        // A second hand-off of the same name (after a crash) leaves the waiting part as it is, as Put does.
        var other = Path.Combine(root, "q1.other");
        seal.WriteAtomic(other, s => s.Write("another build"u8));
        Assert.True(inbox.TryAdopt("q1", other));
        Assert.Equal("the content part"u8.ToArray(), inbox.Read("q1"));
        Assert.False(inbox.Put("q1", "a copy"u8.ToArray()));

        // The element is done with it: the Agent's name still reads until the Agent discards it, and the other way round.
        inbox.Remove("q1");
        Assert.Equal("the content part"u8.ToArray(), seal.ReadAllBytes(staged));
        Assert.True(inbox.TryAdopt("q2", staged));
        File.Delete(staged);
        Assert.Equal("the content part"u8.ToArray(), inbox.Read("q2"));
    }
}
