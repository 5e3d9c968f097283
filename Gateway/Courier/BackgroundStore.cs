using LiteDB;

namespace Gateway.Courier;

/// <summary>One ARM as the Background keeps it for one local recipient: re-wrapped to that recipient, never in the clear.
/// Times are UTC; LiteDB may hand them back as local time, so readers call ToUniversalTime().</summary>
public sealed class ArmRecord
{
    /// <summary><c>MESSAGEID/recipient</c>.</summary>
    public string Id { get; set; } = "";
    public string MessageId { get; set; } = "";
    public string Recipient { get; set; } = "";
    public string Sender { get; set; } = "";
    public string? InternetMessageId { get; set; }
    public DateTime CreatedUtc { get; set; }
    /// <summary>The ARM signed by the Background and encrypted to the recipient's certificate (MIME).</summary>
    public byte[] SealedArm { get; set; } = Array.Empty<byte>();
    public DateTime? ExpiresUtc { get; set; }
    public int? MaxOpens { get; set; }
    public bool NoForward { get; set; }
    public bool ReceiptWanted { get; set; }
    public bool Revoked { get; set; }
    public int Opens { get; set; }
    public DateTime? FirstOpenedUtc { get; set; }
    public List<ReleaseEvent> Events { get; set; } = new();
}

/// <summary>A key release or a refused attempt, as the sender's status page and receipts show it.</summary>
public sealed class ReleaseEvent
{
    public string Id { get; set; } = Guid.NewGuid().ToString("N");
    public DateTime Utc { get; set; }
    public bool Released { get; set; }
    public string Detail { get; set; } = "";
    /// <summary>A receipt for this event is owed to the sender and not yet queued.</summary>
    public bool ReceiptDue { get; set; }
}

/// <summary>What the sender's courier remembers of a message it sent (for revocation and the status page).</summary>
public sealed class SentRecord
{
    public string Id { get; set; } = "";
    public string Sender { get; set; } = "";
    public string? InternetMessageId { get; set; }
    public List<string> Recipients { get; set; } = new();
    public DateTime CreatedUtc { get; set; }
    public string Restrictions { get; set; } = "";
    public bool Revoked { get; set; }
    public DateTime? RevokedUtc { get; set; }
}

/// <summary>
/// The Background's LiteDB file (<c>background/background.db</c>): ARMs per recipient, key releases, sent messages.
/// It never holds content, and a CEK only inside an ARM sealed to its recipient.
/// </summary>
/// <remarks>
/// <para>One process at a time has the store: it holds <c>background.db.lock</c> exclusively and opens the file in
/// Direct mode (<see cref="Gateway.Storage.LiteDbFiles"/>: the engine stays open, and a commit is durable once its
/// confirming page is synced to the log, instead of an engine opened, checkpointed and closed per transaction as in
/// LiteDB's shared mode). Admin verbs such as <c>gateway message revoke</c> open
/// it themselves only while no gateway has it (<see cref="TryOpen"/>); while one runs they ask it
/// (<see cref="SentMessageControl"/>).</para>
/// <para>Every transaction writes one small commit mark besides its changes, so that each commit produces exactly one
/// confirming page, which is what the durable wait counts.</para>
/// </remarks>
public sealed class BackgroundStore : IDisposable
{
    readonly FileStream _held;
    readonly LiteDatabase _db;
    readonly ILiteCollection<BsonDocument> _meta;
    readonly Lock _gate = new();
    long _issued;
    public ILiteCollection<ArmRecord> Arms { get; }
    public ILiteCollection<SentRecord> Sent { get; }

    /// <summary>Where the Background keeps its store in a data directory.</summary>
    public static string PathIn(Gateway.Platform.DataDirectory data) => Path.Combine(data.BackgroundDirectory, "background.db");

    /// <summary>Where requests to the running gateway's store wait (see <see cref="SentMessageControl"/>).</summary>
    public static string ControlDirectoryOf(string path) => Path.Combine(Path.GetDirectoryName(path) ?? "", "control");

    static readonly TimeSpan ConfirmWait = TimeSpan.FromSeconds(10);

    /// <summary>Opens the store for this process, waiting up to <paramref name="waitForHolder"/> (default 30 s) while
    /// another process (an admin verb) has it.</summary>
    public BackgroundStore(string path, TimeSpan? waitForHolder = null)
        : this(path, Hold(path, waitForHolder ?? TimeSpan.FromSeconds(30))
                     ?? throw new IOException($"the Background's store {path} is held by another process (a running gateway, or a 'gateway message' verb); fix: stop the other one, or wait for it"))
    {
    }

    BackgroundStore(string path, FileStream held)
    {
        _held = held;
        try
        {
            _db = Gateway.Storage.LiteDbFiles.Open(path);
            _meta = _db.GetCollection("meta");
            Arms = _db.GetCollection<ArmRecord>("arms");
            Sent = _db.GetCollection<SentRecord>("sent");
            Arms.EnsureIndex(a => a.MessageId);
            Arms.EnsureIndex(a => a.Recipient);
            Sent.EnsureIndex(s => s.Sender);
            Checkpoint(); // what the set-up wrote is on disk: from here on every commit is counted
        }
        catch
        {
            _db?.Dispose();
            held.Dispose();
            throw;
        }
    }

    /// <summary>The store, or null when another process (a running gateway) has it.</summary>
    public static BackgroundStore? TryOpen(string path) => Hold(path, TimeSpan.Zero) is { } held ? new BackgroundStore(path, held) : null;

    static FileStream? Hold(string path, TimeSpan wait)
    {
        Gateway.Platform.DurableFile.CreatePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return Gateway.Platform.ProcessLock.TryHold(path + ".lock", wait);
    }

    void Checkpoint()
    {
        _db.Checkpoint();
        _issued = Gateway.Storage.LiteDbFiles.Confirmed(_db);
    }

    /// <summary>
    /// Runs a change in a transaction and makes it durable (its confirming page synced to the log) before returning.
    /// Group commit: changes that arrive while another commit is under way wait for it and then go together, in one
    /// transaction, the first of them doing the work for all; each still returns only once its own
    /// change is durable. A change that throws is not mixed with the others: the group is rolled back and each of its
    /// changes is run again in a transaction of its own, so only the one that failed fails (changes touch only this
    /// store, so running one again after a rollback is safe).
    /// </summary>
    public T Write<T>(Func<T> change)
    {
        var mine = new PendingChange(() => change());
        lock (_waiting) _waiting.Add(mine);
        lock (_gate)
        {
            if (!mine.Done)
            {
                List<PendingChange> group;
                lock (_waiting)
                {
                    group = new List<PendingChange>(_waiting);
                    _waiting.Clear();
                }
                CommitGroup(group);
            }
        }
        if (mine.Error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(mine.Error);
        return (T)mine.Result!;
    }

    sealed class PendingChange(Func<object?> run)
    {
        public Func<object?> Run => run;
        public object? Result;
        public Exception? Error;
        public volatile bool Done;
    }

    readonly List<PendingChange> _waiting = new();

    void CommitGroup(List<PendingChange> group)
    {
        try
        {
            if (!TryCommit(group) && group.Count > 1)
                foreach (var change in group) TryCommit([change]);
        }
        catch (Exception ex)
        {
            // The store itself failed (not one change): every change of the group is told.
            foreach (var change in group) change.Error ??= ex;
        }
        finally
        {
            foreach (var change in group) change.Done = true;
        }
    }

    /// <summary>Runs the changes in one transaction; false (rolled back, the failing change's error kept) when one threw.</summary>
    bool TryCommit(IReadOnlyList<PendingChange> changes)
    {
        _db.BeginTrans();
        var results = new object?[changes.Count];
        for (var i = 0; i < changes.Count; i++)
        {
            try
            {
                results[i] = changes[i].Run();
            }
            catch (Exception ex)
            {
                _db.Rollback();
                if (changes.Count == 1) changes[i].Error = ex;
                return false;
            }
        }
        try
        {
            _meta.Upsert(new BsonDocument { ["_id"] = "commit", ["utc"] = DateTime.UtcNow });
            _db.Commit();
        }
        catch
        {
            _db.Rollback();
            throw;
        }
        // Under the gate: commits are counted in the order LiteDB's writer confirms them.
        if (!Gateway.Storage.LiteDbFiles.WaitConfirmed(_db, ++_issued, ConfirmWait)) Checkpoint();
        for (var i = 0; i < changes.Count; i++)
        {
            changes[i].Result = results[i];
            changes[i].Error = null;
        }
        return true;
    }

    /// <summary>Revokes a sent message: no recipient's Agent gets its key from now on. Returns the record, or null if
    /// unknown (or, when <paramref name="sender"/> is given, not that sender's).</summary>
    public SentRecord? Revoke(string messageId, string? sender, DateTime nowUtc) => Write(() =>
    {
        var sent = Sent.FindById(messageId);
        if (sent is null || (sender is not null && !string.Equals(sent.Sender, sender, StringComparison.OrdinalIgnoreCase))) return null;
        sent.Revoked = true;
        sent.RevokedUtc ??= nowUtc;
        Sent.Update(sent);
        foreach (var arm in Arms.Find(a => a.MessageId == messageId).ToList())
        {
            arm.Revoked = true;
            Arms.Update(arm);
        }
        return sent;
    });

    /// <summary>A sender's messages, newest first.</summary>
    public IReadOnlyList<SentRecord> SentBy(string sender, int limit = int.MaxValue) =>
        Sent.Find(s => s.Sender == sender.ToLowerInvariant()).OrderByDescending(s => s.CreatedUtc).Take(limit).ToList();

    /// <summary>All sent messages, newest first.</summary>
    public IReadOnlyList<SentRecord> AllSent(int limit) => Sent.FindAll().OrderByDescending(s => s.CreatedUtc).Take(limit).ToList();

    /// <summary>The per-recipient ARM records of one message.</summary>
    public IReadOnlyList<ArmRecord> ArmsOf(string messageId) => Arms.Find(a => a.MessageId == messageId).OrderBy(a => a.Recipient).ToList();

    public void Dispose()
    {
        _db.Dispose();
        _held.Dispose();
    }
}
