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
