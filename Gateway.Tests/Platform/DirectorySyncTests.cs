using Gateway.Platform;
using Gateway.Tests.Support;

namespace Gateway.Tests.Platform;

/// <summary>Directory syncs in groups: writers that sync the same directory at once share fsyncs, and each returns only
/// after a sync that started after its own change.</summary>
public class DirectorySyncTests
{
    [Fact]
    public async Task Overlapping_calls_share_fsyncs_and_every_call_returns()
    {
        var directory = TempDirectory.Create("dir-sync");
        const int writers = 8, each = 40;
        var start = new Barrier(writers);
                var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < each; i++)
            {
                File.WriteAllText(Path.Combine(directory, $"{w}-{i}"), "x");
                DurableFile.SyncDirectory(directory);
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));
        var syncs = DurableFile.SyncsOf(directory);
        Assert.InRange(syncs, 1, writers * each - 1); // one fsync per call would be 320
        Assert.Equal(writers * each, Directory.GetFiles(directory).Length);
    }

    [Fact]
    public void A_directory_that_cannot_be_opened_fails_the_call()
    {
        var missing = Path.Combine(TempDirectory.Create("dir-sync-missing"), "gone");
        Assert.Contains("cannot open directory", Assert.Throws<IOException>(() => DurableFile.SyncDirectory(missing)).Message);
        Directory.CreateDirectory(missing);
        DurableFile.SyncDirectory(missing); // a later call, once the directory exists, syncs it
    }
}
