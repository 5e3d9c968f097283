using LiteDB;
using LiteDB.Engine;

namespace Gateway.Storage;

/// <summary>
/// Opens a LiteDB database that this process alone writes (Direct mode) on its data and log files, with the fsyncs
/// LiteDB's write-ahead log needs and no more.
/// </summary>
/// <remarks>
/// <para>LiteDB 5 syncs its log after every page: its log writer runs inline on the committing thread, drains a queue
/// of one page and syncs. A small transaction cost about ten fsyncs, the larger part of an IMAP APPEND (measured).</para>
/// <para>Here the log is synced only where recovery depends on it: before a transaction's confirming page (LiteDB
/// replays a transaction whose last page is marked confirmed, so its other pages must be on disk first), after that
/// page (the transaction is durable), before anything is written to the data file (a checkpoint copies from a log
/// that must survive a crash in the middle of the copy), and when the log is emptied (transaction ids start again
/// after a checkpoint, so an old log must never lie under a new one). The data file is synced when LiteDB flushes it
/// (the end of a checkpoint).</para>
/// </remarks>
public static class LiteDbFiles
{
    /// <summary>The log file LiteDB keeps beside <paramref name="dataPath"/> ("mail.db" → "mail-log.db").</summary>
    public static string LogPathOf(string dataPath) =>
        Path.Combine(Path.GetDirectoryName(dataPath) ?? "", Path.GetFileNameWithoutExtension(dataPath) + "-log" + Path.GetExtension(dataPath));

    /// <param name="observe">Told of every page write, sync and truncation as it happens ("log-write", "log-confirm",
    /// "log-sync", "log-truncate", "data-write", "data-sync"): for tests of the order above.</param>
    public static LiteDatabase Open(string dataPath, Action<string>? observe = null)
    {
        var log = new LogFile(LogPathOf(dataPath), observe);
        DataFile? data = null;
        try
        {
            data = new DataFile(dataPath, log, observe);
            return new Database(data, log);
        }
        catch
        {
            data?.Dispose();
            log.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Returns once every transaction committed so far is durable: LiteDB's log writer has written its pages (and the
    /// log file synced them, see above). The cheap way to make a commit durable; a checkpoint does it too, but copies
    /// the log into the data file, syncs both and empties LiteDB's page cache, on every call.
    /// </summary>
    public static void WaitDurable(LiteDatabase db)
    {
        if (db is Database { WaitForLogWriter: { } wait }) wait();
        else db.Checkpoint();
    }

    /// <summary>Whether <see cref="WaitDurable"/> can wait for LiteDB's log writer itself (this LiteDB version's
    /// internals are as expected) instead of falling back to a checkpoint.</summary>
    public static bool WaitsForLogWriter(LiteDatabase db) => db is Database { WaitForLogWriter: not null };

    // LiteDB 5 has no public way to wait for its log writer; its checkpoint waits through these members.
    static readonly System.Reflection.FieldInfo? EngineField = typeof(LiteDatabase).GetField("_engine", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);

    static Action? LogWriterWait(LiteDatabase db)
    {
        const System.Reflection.BindingFlags Private = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic;
        const System.Reflection.BindingFlags Public = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public;
        if (EngineField?.GetValue(db) is not LiteEngine engine) return null;
        var disk = typeof(LiteEngine).GetField("_disk", Private)?.GetValue(engine);
        if (disk?.GetType().GetProperty("Queue", Public)?.GetValue(disk) is not { } lazy) return null;
        var value = lazy.GetType().GetProperty("Value", Public);
        var wait = value?.PropertyType.GetMethod("Wait", Public, Type.EmptyTypes);
        if (value is null || wait is null) return null;
        return () => wait.Invoke(value.GetValue(lazy), null);
    }

    /// <summary>The database, closing its files after LiteDB has finished with them.</summary>
    sealed class Database : LiteDatabase
    {
        readonly DataFile data;
        readonly LogFile log;

        public Database(DataFile data, LogFile log) : base(data, null, log)
        {
            this.data = data;
            this.log = log;
            WaitForLogWriter = LogWriterWait(this);
        }

        public Action? WaitForLogWriter { get; }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (!disposing) return;
            data.Dispose();
            log.Dispose();
        }
    }

    const int PageSize = 8192;
    const int IsConfirmedOffset = 18; // LiteDB 5 page header: P_IS_CONFIRMED

    /// <summary>A database file; what is written reaches the operating system at once (no buffer of our own).</summary>
    abstract class PageFile(string path) : Stream
    {
        protected readonly FileStream Inner = new(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0, FileOptions.RandomAccess);

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => true;
        public override long Length => Inner.Length;
        public override long Position { get => Inner.Position; set => Inner.Position = value; }
        public override int Read(byte[] buffer, int offset, int count) => Inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => Inner.Seek(offset, origin);
        public override void SetLength(long value) => Inner.SetLength(value);
        public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);
        public override void Flush() { }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Inner.Dispose();
            base.Dispose(disposing);
        }
    }

    sealed class LogFile(string path, Action<string>? observe) : PageFile(path)
    {
        readonly Lock _gate = new();
        bool _unsynced;

        public void SyncIfNeeded()
        {
            lock (_gate)
            {
                if (!_unsynced) return;
                Inner.Flush(flushToDisk: true);
                _unsynced = false;
                observe?.Invoke("log-sync");
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            var confirms = count == PageSize && buffer[offset + IsConfirmedOffset] != 0;
            if (confirms) SyncIfNeeded();
            lock (_gate)
            {
                Inner.Write(buffer, offset, count);
                _unsynced = true;
                observe?.Invoke(confirms ? "log-confirm" : "log-write");
            }
            if (confirms) SyncIfNeeded();
        }

        public override void SetLength(long value)
        {
            lock (_gate)
            {
                Inner.SetLength(value);
                _unsynced = true;
                observe?.Invoke("log-truncate");
            }
            SyncIfNeeded();
        }
    }

    sealed class DataFile(string path, LogFile log, Action<string>? observe) : PageFile(path)
    {
        public override void Write(byte[] buffer, int offset, int count)
        {
            log.SyncIfNeeded();
            Inner.Write(buffer, offset, count);
            observe?.Invoke("data-write");
        }

        public override void SetLength(long value)
        {
            log.SyncIfNeeded();
            Inner.SetLength(value);
        }

        public override void Flush()
        {
            Inner.Flush(flushToDisk: true);
            observe?.Invoke("data-sync");
        }
    }
}
