using Gateway.Tests.Support;

namespace Gateway.Tests.Smtp;

/// <summary>When the spool cannot be written, the client hears 452 4.3.1 (it keeps the message and retries) and the session goes on.</summary>
public class StorageFailureTests
{
    [Fact]
    public async Task Disk_full_during_data_gives_452_after_the_data_and_the_session_survives()
    {
        var spools = new FillingSpools(capacity: 1000);
        await using var s = new SessionHarness(spools);
        Assert.Equal(220, (await s.ReadReplyAsync()).Code);
        await s.CommandAsync("EHLO client.test");
        await s.CommandAsync("MAIL FROM:<a@example.org>");
        await s.CommandAsync("RCPT TO:<b@example.org>");
        Assert.Equal(354, (await s.CommandAsync("DATA")).Code);
        var big = string.Concat(Enumerable.Repeat("this line will not fit on the full disk\r\n", 200));
        var reply = await s.CommandAsync("Subject: too much\r\n\r\n" + big + ".");
        Assert.Equal(452, reply.Code);
        Assert.StartsWith("4.3.1", reply.Text);
        Assert.Empty(spools.Committed);

        // The same session can still deliver a message that fits.
        await s.CommandAsync("MAIL FROM:<a@example.org>");
        await s.CommandAsync("RCPT TO:<b@example.org>");
        await s.CommandAsync("DATA");
        Assert.Equal(250, (await s.CommandAsync("Subject: small\r\n\r\nfits\r\n.")).Code);
        Assert.Single(spools.Committed);
        Assert.Equal(2, spools.Disposed);
    }

    [Fact]
    public async Task Disk_full_during_bdat_gives_452_and_the_chunk_is_still_consumed()
    {
        var spools = new FillingSpools(capacity: 100);
        await using var s = new SessionHarness(spools);
        await s.ReadReplyAsync();
        await s.CommandAsync("EHLO client.test");
        await s.CommandAsync("MAIL FROM:<a@example.org>");
        await s.CommandAsync("RCPT TO:<b@example.org>");
        var chunk = new string('x', 500);
        await s.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}NOOP\r\n");
        var reply = await s.ReadReplyAsync();
        Assert.Equal(452, reply.Code);
        Assert.Equal(250, (await s.ReadReplyAsync()).Code); // NOOP: the chunk did not leak into the command stream
        Assert.Empty(spools.Committed);
    }
}
