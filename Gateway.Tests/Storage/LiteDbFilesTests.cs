using Gateway.Storage;
using Gateway.Tests.Support;
using LiteDB;

namespace Gateway.Tests.Storage;

/// <summary>
/// LiteDB on files synced as its write-ahead log needs: the order of writes and syncs a recovery depends on, what a
/// crash leaves (the files as they are at that moment, copied while the database is open), and files written by
/// LiteDB's own file mode opening unchanged.
/// </summary>
public sealed class LiteDbFilesTests
{
    static BsonDocument Doc(int i) => new() { ["_id"] = i, ["text"] = new string((char)('a' + i % 26), 3000) };

    [Fact]
    public void Every_transaction_is_synced_before_and_after_its_confirming_page_and_the_log_before_the_data_file()
    {
        var path = Path.Combine(TempDirectory.Create("litedb-files"), "store.db");
        var events = new List<string>();
        using (var db = LiteDbFiles.Open(path, e => { lock (events) events.Add(e); }))
        {
            var items = db.GetCollection("items");
            db.BeginTrans();
            for (var i = 0; i < 20; i++) items.Insert(Doc(i)); // several pages in one transaction
            db.Commit();
            items.Insert(Doc(100)); // a transaction of its own
            db.Checkpoint();
            items.Insert(Doc(101));
        }

        List<string> trace;
        lock (events) trace = events.ToList();
        Assert.Contains("log-confirm", trace);
        Assert.Contains("data-write", trace);
        Assert.True(trace.Count(e => e == "log-sync") < trace.Count(e => e is "log-write" or "log-confirm"), string.Join(",", trace)); // not a sync per page

        var logUnsynced = false;
        var afterConfirmOrTruncate = false;
        for (var i = 0; i < trace.Count; i++)
        {
            switch (trace[i])
            {
                case "log-write":
                    Assert.False(afterConfirmOrTruncate, $"a log page written before the sync that must follow a confirming page or a truncation (event {i}: {string.Join(",", trace)})");
                    logUnsynced = true;
                    break;
                case "log-confirm":
                    Assert.False(logUnsynced, $"a confirming page written while earlier pages were not synced (event {i}: {string.Join(",", trace)})");
                    Assert.False(afterConfirmOrTruncate);
                    afterConfirmOrTruncate = true;
                    break;
                case "log-truncate":
                    afterConfirmOrTruncate = true;
                    break;
                case "log-sync":
                    logUnsynced = false;
                    afterConfirmOrTruncate = false;
                    break;
                case "data-write":
                    Assert.False(logUnsynced || afterConfirmOrTruncate, $"the data file written before the log was synced (event {i}: {string.Join(",", trace)})");
                    break;
            }
        }
        Assert.False(afterConfirmOrTruncate, "the last confirming page or truncation was never synced");

        using var again = LiteDbFiles.Open(path);
        Assert.Equal(22, again.GetCollection("items").Count());
    }

    [Fact]
    public void A_crash_keeps_what_a_checkpoint_made_durable_and_each_transaction_whole_or_not_at_all()
    {
        var path = Path.Combine(TempDirectory.Create("litedb-files"), "store.db");
        var crashDir = TempDirectory.Create("litedb-crash");
        var crashes = 0;
        // The files as a kill -9 at this instant leaves them, opened again.
        List<int> CrashNow(LiteDatabase _)
        {
            var copy = Path.Combine(crashDir, $"crash{++crashes}.db");
            File.Copy(path, copy);
            if (File.Exists(LiteDbFiles.LogPathOf(path))) File.Copy(LiteDbFiles.LogPathOf(path), LiteDbFiles.LogPathOf(copy));
            using var recovered = LiteDbFiles.Open(copy);
            return recovered.GetCollection("items").FindAll().Select(d => d["_id"].AsInt32).Order().ToList();
        }

        using var db = LiteDbFiles.Open(path);
        var items = db.GetCollection("items");
        items.Insert(Doc(1));
        db.Checkpoint();
        Assert.Equal(new[] { 1 }, CrashNow(db));

        var mark = LiteDbFiles.Confirmed(db);
        db.BeginTrans();
        for (var i = 2; i < 12; i++) items.Insert(Doc(i));
        db.Commit();
        var afterCommit = CrashNow(db); // LiteDB's log writer may still be at it: all of the transaction or none
        Assert.True(afterCommit.SequenceEqual(new[] { 1 }) || afterCommit.SequenceEqual(Enumerable.Range(1, 11)), string.Join(",", afterCommit));
        // The stores' durability point: the transaction's confirming page written and the log synced after it.
        Assert.True(LiteDbFiles.WaitConfirmed(db, mark + 1, TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(1, 11), CrashNow(db));

        for (var i = 12; i < 15; i++) items.Insert(Doc(i)); // single-operation transactions: one confirmation each
        Assert.True(LiteDbFiles.WaitConfirmed(db, mark + 4, TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(1, 14), CrashNow(db));
        Assert.Equal(mark + 4, LiteDbFiles.Confirmed(db));

        db.BeginTrans(); // a transaction that changes nothing writes no confirming page
        Assert.False(items.Delete(999));
        db.Commit();
        Assert.False(LiteDbFiles.WaitConfirmed(db, mark + 5, TimeSpan.FromMilliseconds(200)));
        db.Checkpoint(); // a checkpoint writes none either: the count stays the writes'
        Assert.Equal(mark + 4, LiteDbFiles.Confirmed(db));
        Assert.Equal(Enumerable.Range(1, 14), CrashNow(db));

        db.BeginTrans();
        for (var i = 50; i < 60; i++) items.Insert(Doc(i)); // never committed: nothing of it may come back
        Assert.Equal(Enumerable.Range(1, 14), CrashNow(db));
        db.Rollback();
    }

    [Fact]
    public void Files_written_by_LiteDB_file_mode_open_unchanged_and_the_other_way_round()
    {
        var path = Path.Combine(TempDirectory.Create("litedb-files"), "store.db");
        using (var stock = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }))
        {
            stock.GetCollection("items").Insert(Doc(1));
            stock.GetCollection("items").EnsureIndex("n", "LENGTH($.text)");
        }
        using (var db = LiteDbFiles.Open(path))
        {
            Assert.Equal(1, db.GetCollection("items").Count());
            db.GetCollection("items").Insert(Doc(2));
        }
        using var back = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
        Assert.Equal(new[] { 1, 2 }, back.GetCollection("items").FindAll().Select(d => d["_id"].AsInt32).Order());
    }
}
