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
}
