using Gateway.Courier;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>The Background store's group commit: changes that arrive together share a transaction, each returns only
/// once it is stored, and a change that fails fails alone.</summary>
public class BackgroundStoreGroupCommitTests
{
    [Fact]
    public async Task Concurrent_changes_are_all_stored_and_a_failing_one_fails_alone()
    {
        var path = Path.Combine(TempDirectory.Create("background-group"), "background.db");
        using (var store = new BackgroundStore(path))
        {
            store.Write(() => { store.Arms.Insert(new ArmRecord { Id = "m/counter", MessageId = "m", Recipient = "r@a.test" }); return 0; });
            var start = new ManualResetEventSlim();
            var tasks = Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            {
                start.Wait();
                return store.Write(() =>
                {
                    if (i % 10 == 7) throw new InvalidOperationException("change " + i + " fails");
                    var counter = store.Arms.FindById("m/counter");
                    counter.Opens++;
                    store.Arms.Update(counter);
                    store.Arms.Insert(new ArmRecord { Id = "m/" + i, MessageId = "m", Recipient = i + "@a.test" });
                    return i;
                });
            })).ToList();
            start.Set();
            foreach (var (task, i) in tasks.Select((t, i) => (t, i)))
            {
                if (i % 10 == 7)
                    Assert.Equal("change " + i + " fails", (await Assert.ThrowsAsync<InvalidOperationException>(() => task)).Message);
                else
                    Assert.Equal(i, await task);
            }
        }
        // Reopened: exactly the 36 changes that succeeded, each once.
        using var reopened = new BackgroundStore(path);
        Assert.Equal(36, reopened.Arms.FindById("m/counter").Opens);
        Assert.Equal(37, reopened.Arms.Count());
        Assert.Null(reopened.Arms.FindById("m/7"));
        Assert.NotNull(reopened.Arms.FindById("m/8"));
    }

    [Fact]
    public void One_process_at_a_time_has_the_store_and_a_commit_is_written_when_it_returns()
    {
        var path = Path.Combine(TempDirectory.Create("background-holder"), "background.db");
        using (var store = new BackgroundStore(path))
        {
            Assert.Null(BackgroundStore.TryOpen(path));
            var waited = System.Diagnostics.Stopwatch.StartNew();
            var refused = Assert.Throws<IOException>(() => new BackgroundStore(path, TimeSpan.FromMilliseconds(300)));
            Assert.Contains("held by another process", refused.Message);
            Assert.InRange(waited.ElapsedMilliseconds, 250, 10_000);
            store.Write(() => { store.Sent.Insert(new SentRecord { Id = "m1", Sender = "a@a.test" }); return 0; });
            // Read while the store is still open, from copies of its two files: the commit is in them already (a
            // Direct-mode LiteDB commit returns before its writer has written anything; the store waits for it).
            var copy = Path.Combine(TempDirectory.Create("background-copy"), "background.db");
            File.Copy(path, copy);
            var log = Gateway.Storage.LiteDbFiles.LogPathOf(path);
            if (File.Exists(log)) File.Copy(log, Gateway.Storage.LiteDbFiles.LogPathOf(copy));
            using var read = new LiteDB.LiteDatabase(new LiteDB.ConnectionString { Filename = copy, Connection = LiteDB.ConnectionType.Direct });
            Assert.NotNull(read.GetCollection<SentRecord>("sent").FindById("m1"));
        }
        using var next = BackgroundStore.TryOpen(path);
        Assert.NotNull(next);
        Assert.Equal("a@a.test", next.Sent.FindById("m1").Sender);
    }
}
