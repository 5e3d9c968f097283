using LiteDB;

namespace Gateway.Storage;

/// <summary>
/// Opens a LiteDB database that this process alone writes (Direct mode) on its data and log files, with the fsyncs
/// LiteDB's write-ahead log needs and no more.
/// </summary>
/// <remarks>
/// <para>LiteDB 5's log writer, a task of its own, syncs the log whenever its queue runs empty; a transaction is queued
/// page by page, so it syncs after nearly every page. A small transaction cost about ten fsyncs, the larger part of an
/// IMAP APPEND (measured). A commit returns before the writer has written anything; <see cref="Confirmed"/> and
/// <see cref="WaitConfirmed"/> tell when a transaction's confirming page is on disk.</para>
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
    /// How many transactions' confirming pages the log has written and synced since <paramref name="db"/> was opened
    /// (-1 for a database not opened here). LiteDB 5 commits on a writer of its own: a commit returns before its pages
    /// are written, and is durable once its confirming page is, which <see cref="WaitConfirmed"/> waits for.
    /// </summary>
    public static long Confirmed(LiteDatabase db) => db is Database d ? d.Log.Confirmed : -1;

    /// <summary>Waits until at least <paramref name="count"/> confirming pages are written and synced; false when that
    /// did not happen in time (or the database was not opened here). A caller that serialises its writes counts its own:
    /// each transaction that changed something writes exactly one confirming page.</summary>
    public static bool WaitConfirmed(LiteDatabase db, long count, TimeSpan timeout) => db is Database d && d.Log.WaitConfirmed(count, timeout);

    /// <summary>The database, closing its files after LiteDB has finished with them.</summary>
    sealed class Database(DataFile data, LogFile log) : LiteDatabase(data, null, log)
    {
        public LogFile Log => log;

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
        readonly object _confirmedGate = new();
        bool _unsynced;
        long _confirmed;

        public long Confirmed { get { lock (_confirmedGate) return _confirmed; } }

        public bool WaitConfirmed(long count, TimeSpan timeout)
        {
            var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            lock (_confirmedGate)
            {
                while (_confirmed < count)
                {
                    var left = deadline - Environment.TickCount64;
                    if (left <= 0 || !Monitor.Wait(_confirmedGate, TimeSpan.FromMilliseconds(left))) return _confirmed >= count;
                }
                return true;
            }
        }

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
            if (!confirms) return;
            SyncIfNeeded();
            lock (_confirmedGate)
            {
                _confirmed++;
                Monitor.PulseAll(_confirmedGate);
            }
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
