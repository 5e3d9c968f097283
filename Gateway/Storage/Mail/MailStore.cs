using LiteDB;

namespace Gateway.Storage.Mail;

/// <summary>
/// Users' mailboxes: metadata in LiteDB (<c>mail.db</c>), message octets in a <see cref="BlobStore"/>. Nothing taken
/// from a message rests in clear: its octets are sealed for the mailbox's owner, and its structure (envelope, header
/// fields, body layout) is kept sealed in its record; only what IMAP needs without a key (UIDs, flags, sizes, dates,
/// MODSEQs, folder names) is plain.
/// <para>UIDs are allocated per mailbox in strictly ascending order and never reused; every change to a mailbox's messages gets a
/// new MODSEQ (RFC 7162), and every expunge leaves an <see cref="ExpungeRecord"/> so other sessions learn of it.
/// Local delivery is idempotent per (queue id, recipient), so a delivery retried after a crash lands exactly once.</para>
/// </summary>
/// <remarks>
/// Every call into LiteDB, reads included, runs under one lock: LiteDB 5's page cache is not safe for two callers once
/// the file outgrows it (it can recycle a page a reader has found but not yet pinned; the engine then fails every
/// query, "pages in memory store must be non-shared"), and reads return lists, never a lazy query. LiteDB commits to its log on a writer of its own; every change waits until
/// that writer has written its transaction's confirming page and <see cref="LiteDbFiles"/> has synced the log after
/// it, so when a method returns its change survives a crash of the process or the machine. The data file is brought up
/// to date by LiteDB's own checkpoints (when the log reaches 1,000 pages, and on close), not after every change.
/// </remarks>
public sealed class MailStore : IDisposable
{
    /// <summary>Created for every user on first use (RFC 6154 special-use attributes).</summary>
    public static readonly IReadOnlyList<(string Name, string? SpecialUse)> DefaultMailboxes = new[]
    {
        ("INBOX", (string?)null), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive"),
    };

    public const char Separator = '/';

    // Opened again only once, by the upgrade's rebuild, before any listener serves the store.
    readonly string _databasePath;
    LiteDatabase _db;
    ILiteCollection<MailboxRecord> _mailboxes;
    ILiteCollection<MessageRecord> _messages;
    ILiteCollection<ExpungeRecord> _expunged;
    ILiteCollection<SubscriptionRecord> _subscriptions;
    ILiteCollection<BsonDocument> _recent;
    ILiteCollection<BsonDocument> _headers;
    readonly BlobStore _blobs;
    readonly Func<Stream, MessageDescription?>? _describe;
    readonly IMailboxSeal _seal;
    readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _owners = new();
    readonly Dictionary<string, long> _usage = new();
    readonly Lock _gate = new();

    /// <param name="seal">Seals each message for its owner, and what is kept about it.</param>
    /// <param name="describe">Computes a message's structure from its octets (the IMAP layer's parser), kept sealed in
    /// <see cref="MessageRecord.SealedStructure"/>, with the top-level header kept sealed beside it (<see cref="HeaderOf"/>).</param>
    public MailStore(string databasePath, string blobDirectory, IMailboxSeal seal, long quotaKilobytes = 0, Func<Stream, MessageDescription?>? describe = null)
    {
        _databasePath = databasePath;
        OpenDatabase();
        _seal = seal;
        _blobs = new BlobStore(blobDirectory, seal);
        QuotaKilobytes = quotaKilobytes;
        _describe = describe;
    }

    // LiteDB translates a LINQ predicate anew on every call (the larger part of an APPEND's CPU, measured); a predicate
    // written as text is parsed once, cached by LiteDB, and bound to its parameters on each use. Indexed fields only.
    const string ByUser = "$.User = @0", ByKey = "$.Key = @0", ByMailbox = "$.MailboxId = @0",
        ByDeliveryKey = "$.DeliveryKey = @0", ByBlob = "$.BlobId = @0";

    static BsonExpression Where(string predicate, BsonValue value) => BsonExpression.Create(predicate, value);

    // A mailbox id and a 32-bit number in one 64-bit index key. UIDs are 32-bit; a MODSEQ is kept below 2^32 here
    // (ChangedSince reads the whole mailbox if one ever gets there).
    const string UidIndex = "MailboxUid", UidKey = "$.MailboxId * 4294967296 + $.Uid";
    const string ModSeqIndex = "MailboxModSeq", ModSeqKey = "$.MailboxId * 4294967296 + $.ModSeq";
    const long KeySpan = 1L << 32;

    static BsonExpression KeyBetween(string key, int mailboxId, ulong first, ulong last) =>
        BsonExpression.Create(key + " BETWEEN @0 AND @1", mailboxId * KeySpan + (long)first, mailboxId * KeySpan + (long)last);

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_db), nameof(_mailboxes), nameof(_messages), nameof(_expunged), nameof(_subscriptions), nameof(_recent), nameof(_headers))]
    void OpenDatabase()
    {
        _db = LiteDbFiles.Open(_databasePath);
        _mailboxes = _db.GetCollection<MailboxRecord>("mailboxes");
        _messages = _db.GetCollection<MessageRecord>("messages");
        _expunged = _db.GetCollection<ExpungeRecord>("expunged");
        _subscriptions = _db.GetCollection<SubscriptionRecord>("subscriptions");
        _recent = _db.GetCollection("recent");
        _headers = _db.GetCollection("headers"); // by (mailbox, UID): see HeaderKey
        _mailboxes.EnsureIndex(m => m.Key, unique: true);
        _mailboxes.EnsureIndex(m => m.User);
        _messages.EnsureIndex(m => m.MailboxId);
        // Not unique in LiteDB's sense (it counts every null as a duplicate): uniqueness comes from the check made
        // under the store's lock in AppendAsync; Direct mode means no other process writes this file.
        _messages.EnsureIndex(m => m.DeliveryKey);
        _messages.EnsureIndex(m => m.BlobId);
        _expunged.EnsureIndex(e => e.MailboxId);
        // One mailbox's messages in UID order and in MODSEQ order, and its expunges in MODSEQ order: a session reads
        // what changed since it last looked, and a FETCH the messages it names, instead of the whole mailbox.
        _messages.EnsureIndex(UidIndex, UidKey);
        _messages.EnsureIndex(ModSeqIndex, ModSeqKey);
        _expunged.EnsureIndex(ModSeqIndex, ModSeqKey);
        _subscriptions.EnsureIndex(s => s.User);
        Checkpoint(); // whatever the set-up wrote is on disk: from here on every write is counted
    }

    // Durability. LiteDB commits on a log writer of its own, in order; a transaction is durable once its confirming
    // page is written and synced (LiteDbFiles syncs the log around it and counts them). Every write here runs under the
    // store's lock and counts the confirmation it will produce (_issued); a durable write waits until the count reaches
    // its own. A write that need not be durable (a \Recent claim) is counted and not waited for: the next durable
    // write waits for it too.
    static readonly TimeSpan ConfirmWait = TimeSpan.FromSeconds(10);
    long _issued;

    /// <summary>Commits the open transaction and returns once it is durable. <paramref name="changed"/> false: the
    /// transaction wrote nothing, so there is no confirmation to wait for. Call under the lock.</summary>
    void CommitDurably(bool changed = true)
    {
        _db.Commit();
        ForgetReads(); // mailbox records may have changed: the next Sync and FETCH read them again
        if (changed) WaitDurable(++_issued);
    }

    /// <summary>Waits until LiteDB's writer has confirmed the write that got <paramref name="ticket"/>. Should that not
    /// happen in time (a database not opened through LiteDbFiles, or a write that changed nothing after all), a
    /// checkpoint, which waits for the writer and syncs the data file, makes sure instead, and the count starts again
    /// from what was confirmed. Call under the lock.</summary>
    void WaitDurable(long ticket)
    {
        if (!LiteDbFiles.WaitConfirmed(_db, ticket, ConfirmWait)) Checkpoint();
    }

    /// <summary>A checkpoint (LiteDB's writer drained, the data file synced) for writes made without counting (the
    /// upgrade at start): the count starts again from what was confirmed. Call under the lock.</summary>
    void Checkpoint()
    {
        _db.Checkpoint();
        // The writer's queue is empty now: every confirmation still to come has come. A ticket given to a write that
        // produced none (which only costs that write a checkpoint) must not shift every later ticket.
        _issued = LiteDbFiles.Confirmed(_db);
        ForgetReads();
    }

    // What Sync needs to see that nothing changed, without the lock: (HIGHESTMODSEQ, UIDNEXT) per mailbox, filled by
    // Get under the lock, cleared by every commit under the lock (and filled again only once the lock is free, after
    // the commit is durable), so it never shows a change before it is durable, nor an old state after a newer one was read.
    readonly System.Collections.Concurrent.ConcurrentDictionary<int, (ulong HighestModSeq, uint UidNext)> _peeks = new();

    /// <summary>The mailbox's HIGHESTMODSEQ and UIDNEXT as last read, without touching the database; null when not known
    /// (then <see cref="Get"/>).</summary>
    public (ulong HighestModSeq, uint UidNext)? Peek(int mailboxId) => _peeks.TryGetValue(mailboxId, out var seen) ? seen : null;

    public BlobStore Blobs => _blobs;

    /// <summary>The owner of a mailbox (its records never change owner).</summary>
    public string OwnerOf(int mailboxId) => _owners.GetOrAdd(mailboxId, id => (Get(id) ?? throw new MailboxException("the mailbox no longer exists", "NONEXISTENT")).User);

    /// <summary>The message's octets, opened for its owner: a seekable stream, streamed from the sealed file.</summary>
    public Stream OpenContent(MessageRecord message) => _blobs.Open(OwnerOf(message.MailboxId), message.BlobId, message.SealedKey);

    /// <summary>The message's stored structure (JSON), opened for its owner; null when none was stored.</summary>
    public string? StructureOf(MessageRecord message)
    {
        if (message.SealedStructure is { } sealedStructure)
            return System.Text.Encoding.UTF8.GetString(_seal.OpenValue(OwnerOf(message.MailboxId), "structure\n" + message.BlobId, sealedStructure));
        return message.Structure;
    }

    /// <summary>The message's top-level header section (its blank line included), opened for its owner; null when none
    /// was kept (a message stored by an earlier version, or a header over <see cref="MaxKeptHeader"/> octets).</summary>
    public byte[]? HeaderOf(MessageRecord message)
    {
        if (!message.HeaderKept) return null;
        BsonDocument? kept;
        lock (_gate) kept = _headers.FindById(HeaderKey(message.MailboxId, message.Uid));
        return OpenHeader(message, kept?["Sealed"].AsBinary);
    }

    /// <summary>The kept headers of a mailbox's messages with UIDs from <paramref name="first"/> to <paramref name="last"/>,
    /// still sealed, by UID: one range read for a FETCH of many (open each with <see cref="OpenHeader"/>).</summary>
    public IReadOnlyDictionary<uint, byte[]> SealedHeadersOf(int mailboxId, uint first, uint last)
    {
        if (first > last) return new Dictionary<uint, byte[]>();
        lock (_gate)
            return _headers.Find(HeadersBetween(mailboxId, first, last))
                .ToDictionary(d => (uint)(d["_id"].AsInt64 - mailboxId * KeySpan), d => d["Sealed"].AsBinary);
    }

    // Kept headers are keyed by (mailbox, UID) as one 64-bit number, so a FETCH reads a range of them at once, and they
    // go with their message in the same transaction.
    static long HeaderKey(int mailboxId, uint uid) => mailboxId * KeySpan + uid;

    static BsonExpression HeadersBetween(int mailboxId, uint first, uint last) => KeyBetween("_id", mailboxId, first, last);

    /// <summary>A kept header (<see cref="SealedHeadersOf"/>) opened for the message's owner; null when none.</summary>
    public byte[]? OpenHeader(MessageRecord message, byte[]? sealedHeader) =>
        sealedHeader is null ? null : _seal.OpenValue(OwnerOf(message.MailboxId), "header\n" + message.BlobId, sealedHeader);

    /// <summary>Headers up to this size are kept beside the structure, so a FETCH of header fields opens no message file.</summary>
    public const int MaxKeptHeader = 64 * 1024;

    /// <summary>Storage limit per user in KiB; 0 means none.</summary>
    public long QuotaKilobytes { get; }

    /// <summary>Raised (outside the store's lock) after any change to a mailbox's messages or flags, with the mailbox id.</summary>
    public event Action<int>? MailboxChanged;

    static string KeyOf(string user, string name) => user.ToLowerInvariant() + "/" + Normalise(name);

    /// <summary>INBOX is case-insensitive (RFC 3501 5.1); every other name is kept as given.</summary>
    public static string Normalise(string name) =>
        name.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX"
        : name.StartsWith("INBOX" + Separator, StringComparison.OrdinalIgnoreCase) ? "INBOX" + name[5..] : name;

    // ---- mailboxes ----------------------------------------------------------------------------------------------

    /// <summary>The user's mailboxes, creating the default set on first use.</summary>
    public IReadOnlyList<MailboxRecord> Mailboxes(string user)
    {
        var key = user.ToLowerInvariant();
        lock (_gate)
        {
            var existing = _mailboxes.Find(Where(ByUser, key)).OrderBy(m => m.Name == "INBOX" ? 0 : 1).ThenBy(m => m.Id).ToList();
            if (existing.Count > 0) return existing;
            // One transaction: a new user's first delivery should not pay a log write per folder.
            _db.BeginTrans();
            foreach (var (name, specialUse) in DefaultMailboxes)
            {
                InsertMailbox(user, name, specialUse);
                UpsertSubscription(user, name);
            }
            CommitDurably();
        }
        return Mailboxes(user);
    }

    public MailboxRecord? Find(string user, string name)
    {
        var key = KeyOf(user, name);
        lock (_gate)
        {
            if (_mailboxes.FindOne(Where(ByKey, key)) is { } found) return found;
            Mailboxes(user); // a new user's default set
            return _mailboxes.FindOne(Where(ByKey, key));
        }
    }

    public MailboxRecord? Get(int mailboxId)
    {
        lock (_gate)
        {
            var mailbox = _mailboxes.FindById(mailboxId);
            if (mailbox is not null) _peeks[mailboxId] = (mailbox.HighestModSeq, mailbox.UidNext);
            return mailbox;
        }
    }

    /// <summary>CREATE (RFC 3501 6.3.3): also creates missing superior names, as the RFC recommends.</summary>
    public MailboxRecord Create(string user, string name, string? specialUse = null)
    {
        name = Normalise(name.TrimEnd(Separator));
        if (name.Length == 0 || name.Split(Separator).Any(p => p.Length == 0))
            throw new MailboxException($"'{name}' is not a valid mailbox name", "CANNOT");
        Mailboxes(user);
        lock (_gate)
        {
            if (_mailboxes.Exists(m => m.Key == KeyOf(user, name))) throw new MailboxException($"mailbox {name} already exists", "ALREADYEXISTS");
            var parts = name.Split(Separator);
            _db.BeginTrans();
            for (var i = 1; i < parts.Length; i++)
            {
                var parent = string.Join(Separator, parts[..i]);
                if (!_mailboxes.Exists(m => m.Key == KeyOf(user, parent))) InsertMailbox(user, parent, null);
            }
            var created = InsertMailbox(user, name, specialUse);
            CommitDurably();
            return created;
        }
    }

    MailboxRecord InsertMailbox(string user, string name, string? specialUse)
    {
        var mailbox = new MailboxRecord
        {
            User = user.ToLowerInvariant(),
            Name = Normalise(name),
            Key = KeyOf(user, name),
            // Seconds since the epoch, larger than any earlier mailbox of the same name had (RFC 3501 2.3.1.1).
            UidValidity = NextUidValidity(),
            SpecialUse = specialUse,
        };
        _mailboxes.Insert(mailbox);
        return mailbox;
    }

    uint _lastUidValidity;

    uint NextUidValidity()
    {
        var now = (uint)Math.Max(1, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        _lastUidValidity = Math.Max(now, _lastUidValidity + 1);
        return _lastUidValidity;
    }

    /// <summary>DELETE (RFC 3501 6.3.4): INBOX cannot be deleted; a mailbox with children must lose them first.</summary>
    public void Delete(string user, string name)
    {
        var mailbox = Find(user, name) ?? throw new MailboxException($"mailbox {name} does not exist", "NONEXISTENT");
        if (mailbox.Name == "INBOX") throw new MailboxException("INBOX cannot be deleted", "CANNOT");
        var prefix = mailbox.Key + Separator;
        lock (_gate)
        {
            if (_mailboxes.Exists(m => m.Key.StartsWith(prefix))) throw new MailboxException($"mailbox {name} has children; delete them first", "INUSE");
            var removed = _messages.Find(m => m.MailboxId == mailbox.Id).ToList();
            _db.BeginTrans();
            _messages.DeleteMany(m => m.MailboxId == mailbox.Id);
            _headers.DeleteMany(HeadersBetween(mailbox.Id, 0, uint.MaxValue));
            _expunged.DeleteMany(e => e.MailboxId == mailbox.Id);
            _mailboxes.Delete(mailbox.Id);
            CommitDurably();
            AdjustUsage(user, -removed.Sum(m => m.Size));
            DeleteUnreferencedBlobs(removed);
        }
        MailboxChanged?.Invoke(mailbox.Id);
    }

    /// <summary>
    /// Removes every mailbox of <paramref name="user"/> with its messages, subscriptions and unshared blobs (a user
    /// who moved to another courier, after the mailbox was moved there). Returns how many messages were removed.
    /// </summary>
    public int DeleteUser(string user)
    {
        var key = user.ToLowerInvariant();
        List<MessageRecord> removed;
        List<int> ids;
        lock (_gate)
        {
            var mailboxes = _mailboxes.Find(m => m.User == key).ToList();
            ids = mailboxes.Select(m => m.Id).ToList();
            removed = ids.SelectMany(id => _messages.Find(m => m.MailboxId == id)).ToList();
            _db.BeginTrans();
            foreach (var id in ids)
            {
                _messages.DeleteMany(m => m.MailboxId == id);
                _headers.DeleteMany(HeadersBetween(id, 0, uint.MaxValue));
                _expunged.DeleteMany(e => e.MailboxId == id);
                _mailboxes.Delete(id);
            }
            var subscriptions = _subscriptions.DeleteMany(x => x.User == key);
            CommitDurably(changed: ids.Count > 0 || subscriptions > 0);
            _usage.Remove(key);
            DeleteUnreferencedBlobs(removed);
        }
        foreach (var id in ids) MailboxChanged?.Invoke(id);
        return removed.Count;
    }

    /// <summary>
    /// RENAME (RFC 3501 6.3.5): children move with their parent; renaming INBOX moves its messages to the new
    /// mailbox and leaves INBOX empty. Renamed mailboxes keep their UIDs, so their UIDVALIDITY is kept too.
    /// </summary>
    public void Rename(string user, string from, string to)
    {
        to = Normalise(to.TrimEnd(Separator));
        var source = Find(user, from) ?? throw new MailboxException($"mailbox {from} does not exist", "NONEXISTENT");
        if (to.Length == 0 || to.Split(Separator).Any(p => p.Length == 0)) throw new MailboxException($"'{to}' is not a valid mailbox name", "CANNOT");
        if (Find(user, to) is not null) throw new MailboxException($"mailbox {to} already exists", "ALREADYEXISTS");
        if (source.Name == "INBOX")
        {
            var target = Create(user, to);
            var uids = Messages(source.Id).Select(m => m.Uid).ToList();
            Copy(source.Id, uids, target.Id, move: true);
            return;
        }
        if (to.StartsWith(source.Name + Separator, StringComparison.Ordinal)) throw new MailboxException("a mailbox cannot be moved inside itself", "CANNOT");
        lock (_gate)
        {
            var prefix = source.Key + Separator;
            var moving = _mailboxes.Find(m => m.Key == source.Key || m.Key.StartsWith(prefix)).ToList();
            _db.BeginTrans();
            foreach (var m in moving)
            {
                m.Name = to + m.Name[source.Name.Length..];
                m.Key = KeyOf(user, m.Name);
                _mailboxes.Update(m);
            }
            var parts = to.Split(Separator);
            for (var i = 1; i < parts.Length; i++)
            {
                var parent = string.Join(Separator, parts[..i]);
                if (!_mailboxes.Exists(m => m.Key == KeyOf(user, parent))) InsertMailbox(user, parent, null);
            }
            CommitDurably();
        }
    }

    public IReadOnlyList<string> Subscriptions(string user)
    {
        Mailboxes(user);
        var key = user.ToLowerInvariant();
        lock (_gate) return _subscriptions.Find(s => s.User == key).Select(s => s.Name).ToList();
    }

    public void Subscribe(string user, string name)
    {
        lock (_gate)
        {
            UpsertSubscription(user, name);
            WaitDurable(++_issued);
        }
    }

    /// <summary>Within a transaction, or as one of its own. Call under the lock.</summary>
    void UpsertSubscription(string user, string name)
    {
        name = Normalise(name);
        _subscriptions.Upsert(new SubscriptionRecord { Id = KeyOf(user, name), User = user.ToLowerInvariant(), Name = name });
    }

    public void Unsubscribe(string user, string name)
    {
        lock (_gate)
        {
            if (_subscriptions.Delete(KeyOf(user, name))) WaitDurable(++_issued);
        }
    }

    // ---- messages -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Adds a message (APPEND or local delivery). With a <paramref name="deliveryKey"/>, a second call with the same key
    /// returns the message stored the first time instead of adding it again. Durable when it returns.
    /// </summary>
    /// <exception cref="QuotaExceededException">The user's quota does not leave room for it.</exception>
    public async Task<MessageRecord> AppendAsync(string user, string mailboxName, Stream content, IEnumerable<string>? flags = null,
        DateTime? internalDateUtc = null, string? deliveryKey = null, CancellationToken cancellationToken = default)
    {
        var request = new AppendRequest(user, mailboxName, () => content, flags, internalDateUtc, deliveryKey);
        var result = (await AppendManyAsync(new[] { request }, cancellationToken))[0];
        if (result.Error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(result.Error);
        return result.Message!;
    }

    /// <summary>
    /// Adds several messages in one transaction (local delivery of a message to many recipients), grouped with what other
    /// callers append at the same time (<see cref="RecordGrouped"/>).
    /// Each request succeeds or fails on its own: a full mailbox or a missing folder fails that request only.
    /// Durable when it returns, like <see cref="AppendAsync"/>.
    /// </summary>
    public async Task<IReadOnlyList<AppendResult>> AppendManyAsync(IReadOnlyList<AppendRequest> requests, CancellationToken cancellationToken = default)
    {
        var results = new AppendResult[requests.Count];
        var blobs = new WrittenBlob?[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            if (r.DeliveryKey is not null && DeliveredAs(r.DeliveryKey) is { } already)
            {
                results[i] = new AppendResult(already, null);
                continue;
            }
            await using var content = r.OpenContent();
            if (!content.CanSeek) throw new ArgumentException("message content for the store must be seekable (its length is sealed first)");
            var start = content.Position;
            var size = content.Length - start;
            var description = _describe?.Invoke(content);
            byte[]? header = null;
            if (description is { HeaderLength: > 0 and <= MaxKeptHeader })
            {
                content.Position = start;
                header = new byte[description.HeaderLength];
                content.ReadExactly(header);
            }
            content.Position = start;
            try
            {
                var (blobId, sealedKey) = await _blobs.PutAsync(r.User, content, size, cancellationToken);
                var sealedStructure = description is null ? null : _seal.SealValue(r.User, "structure\n" + blobId, System.Text.Encoding.UTF8.GetBytes(description.Structure));
                var sealedHeader = header is null ? null : _seal.SealValue(r.User, "header\n" + blobId, header);
                blobs[i] = new WrittenBlob(blobId, size, sealedKey, sealedStructure, sealedHeader);
            }
            catch (MailboxSealException ex)
            {
                results[i] = new AppendResult(null, ex);
            }
        }

        Platform.CrashPoint.Hit("mailbox-after-blob");
        var mine = new PendingAppends(requests, blobs, results);
        RecordGrouped(mine);
        var changed = mine.Changed;
        Platform.CrashPoint.Hit("mailbox-after-record");
        // Blobs of failed requests that nothing else references.
        var orphans = Enumerable.Range(0, requests.Count).Where(i => results[i].Error is not null && blobs[i] is not null).Select(i => blobs[i]!.Value.Id).ToList();
        if (orphans.Count > 0)
            lock (_gate) DeleteUnreferencedBlobs(orphans);
        foreach (var id in changed) MailboxChanged?.Invoke(id);
        return results;
    }

    /// <summary>A message's sealed file, written before its record, with what the record keeps of it.</summary>
    readonly record struct WrittenBlob(string Id, long Size, byte[] SealedKey, byte[]? SealedStructure, byte[]? SealedHeader);

    /// <summary>One caller's appends, their blobs written, waiting to be recorded.</summary>
    sealed class PendingAppends(IReadOnlyList<AppendRequest> requests, WrittenBlob?[] blobs, AppendResult[] results)
    {
        public IReadOnlyList<AppendRequest> Requests => requests;
        public WrittenBlob?[] Blobs => blobs;
        public AppendResult[] Results => results;
        public HashSet<int> Changed { get; } = new();
        public Exception? Error;
        public volatile bool Done;
    }

    readonly List<PendingAppends> _waitingAppends = new();

    /// <summary>
    /// Group commit: appends that arrive while another caller's are being recorded wait for it, then go together in
    /// one transaction and one wait for its confirming page, the first of them doing the work for all (sixteen APPENDs
    /// in flight, or the Foreground storing parts for several messages). Each caller still returns only once its own
    /// messages are durable. A failure of the store itself (not of one request) rolls the group back and records each
    /// caller's appends on their own, so only the one that failed fails.
    /// </summary>
    void RecordGrouped(PendingAppends mine)
    {
        lock (_waitingAppends) _waitingAppends.Add(mine);
        lock (_gate)
        {
            if (!mine.Done)
            {
                List<PendingAppends> group;
                lock (_waitingAppends)
                {
                    group = new List<PendingAppends>(_waitingAppends);
                    _waitingAppends.Clear();
                }
                try
                {
                    if (!TryRecord(group) && group.Count > 1)
                        foreach (var one in group) TryRecord([one]);
                }
                finally
                {
                    foreach (var pending in group) pending.Done = true;
                }
            }
        }
        if (mine.Error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(mine.Error);
    }

    /// <summary>Records the group's messages in one transaction; false (rolled back, the error kept when it was alone) when
    /// the store failed. Each request succeeds or fails on its own otherwise. Call under the lock.</summary>
    bool TryRecord(IReadOnlyList<PendingAppends> group)
    {
        // What this attempt decides, kept apart until it is durable: a group that fails is tried again one by one.
        var decided = group.Select(p => (AppendResult?[])new AppendResult?[p.Requests.Count]).ToList();
        var changed = group.Select(_ => new HashSet<int>()).ToList();
        var sizes = new Dictionary<string, long>();
        try
        {
            // Mailboxes (and a new user's default set) before the transaction: Mailboxes() commits on its own.
            var targets = group.Select(p => Enumerable.Range(0, p.Requests.Count)
                .Select(i => p.Blobs[i] is null ? null : Find(p.Requests[i].User, p.Requests[i].Mailbox)).ToArray()).ToList();
            _db.BeginTrans();
            try
            {
                for (var g = 0; g < group.Count; g++)
                {
                    var pending = group[g];
                    for (var i = 0; i < pending.Requests.Count; i++)
                    {
                        if (pending.Blobs[i] is not { } blob) continue;
                        var r = pending.Requests[i];
                        try
                        {
                            if (r.DeliveryKey is not null && _messages.FindOne(Where(ByDeliveryKey, r.DeliveryKey)) is { } raced)
                            {
                                decided[g][i] = new AppendResult(raced, null);
                                continue;
                            }
                            var mailbox = targets[g][i] ?? throw new MailboxException($"mailbox {r.Mailbox} does not exist", "TRYCREATE");
                            var userKey = r.User.ToLowerInvariant();
                            CheckQuota(r.User, blob.Size + sizes.GetValueOrDefault(userKey));
                            // The blob was written outside the lock; an expunge of the last other copy may have removed it since.
                            if (!File.Exists(_blobs.PathOf(blob.Id))) throw new IOException("the stored message file vanished before it was recorded; try again");
                            mailbox = _mailboxes.FindById(mailbox.Id)!; // the latest UIDNEXT, if an earlier request used it
                            var message = new MessageRecord
                            {
                                MailboxId = mailbox.Id,
                                Uid = mailbox.UidNext,
                                ModSeq = mailbox.HighestModSeq + 1,
                                Flags = NormaliseFlags(r.Flags ?? Array.Empty<string>()),
                                InternalDateUtc = r.InternalDateUtc ?? DateTime.UtcNow,
                                Size = blob.Size,
                                BlobId = blob.Id,
                                SealedKey = blob.SealedKey,
                                DeliveryKey = r.DeliveryKey,
                                SealedStructure = blob.SealedStructure,
                                HeaderKept = blob.SealedHeader is not null,
                                ProtectedId = r.ProtectedId,
                            };
                            _messages.Insert(message);
                            if (blob.SealedHeader is { } sealedHeader) _headers.Upsert(new BsonDocument { ["_id"] = HeaderKey(mailbox.Id, message.Uid), ["Sealed"] = sealedHeader });
                            mailbox.UidNext++;
                            mailbox.HighestModSeq = message.ModSeq;
                            _mailboxes.Update(mailbox);
                            sizes[userKey] = sizes.GetValueOrDefault(userKey) + blob.Size;
                            changed[g].Add(mailbox.Id);
                            decided[g][i] = new AppendResult(message, null);
                        }
                        catch (Exception ex) when (ex is MailboxException or QuotaExceededException or IOException)
                        {
                            decided[g][i] = new AppendResult(null, ex);
                        }
                    }
                }
                CommitDurably(changed: changed.Any(c => c.Count > 0));
            }
            catch
            {
                _db.Rollback();
                throw;
            }
        }
        catch (Exception ex)
        {
            if (group.Count == 1) group[0].Error = ex;
            return false;
        }
        foreach (var (user, size) in sizes) AdjustUsage(user, size);
        for (var g = 0; g < group.Count; g++)
        {
            for (var i = 0; i < group[g].Requests.Count; i++)
                if (decided[g][i] is { } result) group[g].Results[i] = result;
            group[g].Changed.UnionWith(changed[g]);
            group[g].Error = null;
        }
        return true;
    }

    /// <summary>
    /// At start, before anything is appended: removes blob files no record refers to (a sealed one an append wrote
    /// before a crash kept its record from being committed; a plain one the upgrade replaced before a crash kept it
    /// from removing it) and temporary files. Returns how many.
    /// </summary>
    public int RemoveOrphanBlobs()
    {
        lock (_gate) return _blobs.RemoveTemporaryFiles() + DeleteUnreferencedBlobs(_blobs.StoredIds());
    }

    /// <summary>
    /// The upgrade from a version that stored mail plain: every legacy message is sealed for its owner (its blob
    /// written sealed under a new name, its structure sealed into its record), in batches; a batch's records are
    /// made durable before its plain files are removed, so a crash at any point leaves either the plain message still
    /// recorded (sealed again at the next start) or the sealed one, never neither; plain files a crash left without a
    /// record go with <see cref="RemoveOrphanBlobs"/>. When all are sealed the database is rebuilt, so no freed page
    /// keeps the old structures.
    /// Returns how many messages were sealed; owners without a certificate yet are left for a later start.
    /// </summary>
    public async Task<int> SealLegacyAsync(Action<int, int> progress, Action<string> warn, CancellationToken cancellationToken = default)
    {
        var meta = _db.GetCollection("meta");
        if (meta.FindById("sealed") is not null) return 0;
        var legacy = _messages.Find(m => m.SealedKey == null).ToList();
        var groups = legacy.GroupBy(m => (Owner: OwnerOf(m.MailboxId), m.BlobId)).ToList();
        var sealedCount = 0;
        var skipped = 0;
        const int Batch = 64;
        for (var start = 0; start < groups.Count; start += Batch)
        {
            var batch = groups.Skip(start).Take(Batch).ToList();
            var done = new List<(string Owner, string OldBlob, string NewBlob, byte[] Key, byte[]? Structure, List<long> Ids)>();
            foreach (var group in batch)
            {
                var (owner, oldBlob) = group.Key;
                try
                {
                    await using var plain = _blobs.Open(owner, oldBlob, sealedKey: null);
                    var structure = group.First().Structure ?? _describe?.Invoke(plain)?.Structure;
                    plain.Position = 0;
                    var (newBlob, key) = await _blobs.PutAsync(owner, plain, plain.Length, cancellationToken);
                    var sealedStructure = structure is null ? null : _seal.SealValue(owner, "structure\n" + newBlob, System.Text.Encoding.UTF8.GetBytes(structure));
                    done.Add((owner, oldBlob, newBlob, key, sealedStructure, group.Select(m => m.Id).ToList()));
                }
                catch (MailboxSealException ex) { skipped++; warn(ex.Message); }
                catch (FileNotFoundException) { skipped++; warn($"the stored file of message(s) {string.Join(", ", group.Select(m => m.Id))} of {owner} is missing; left as it is"); }
            }
            lock (_gate)
            {
                _db.BeginTrans();
                foreach (var d in done)
                    foreach (var id in d.Ids)
                    {
                        var message = _messages.FindById(id);
                        if (message is null || message.SealedKey is not null) continue; // expunged or sealed meanwhile
                        message.BlobId = d.NewBlob;
                        message.SealedKey = d.Key;
                        message.SealedStructure = d.Structure;
                        message.Structure = null;
                        _messages.Update(message);
                        sealedCount++;
                    }
                _db.Commit();
                Checkpoint();
                Platform.CrashPoint.Hit("upgrade-after-commit");
                DeleteUnreferencedBlobs(done.Select(d => d.OldBlob).Concat(done.Select(d => d.NewBlob)));
            }
            progress(Math.Min(start + Batch, groups.Count), groups.Count);
        }
        if (skipped > 0) return sealedCount;
        lock (_gate)
        {
            // Always, not only when this run sealed something: a run killed after its last batch left the old pages behind.
            // LiteDB rebuilds only a database it opened by file name: closed here, rebuilt, and opened again.
            _db.Dispose();
            using (var file = new LiteDatabase(new ConnectionString { Filename = _databasePath, Connection = ConnectionType.Direct }))
                file.Rebuild();
            OpenDatabase();
            meta = _db.GetCollection("meta");
            meta.Upsert(new BsonDocument { ["_id"] = "sealed", ["utc"] = DateTime.UtcNow });
            Checkpoint();
        }
        return sealedCount;
    }

    /// <summary>The mailbox's messages in UID order.</summary>
    public IReadOnlyList<MessageRecord> Messages(int mailboxId)
    {
        lock (_gate)
        {
            if (_listed.TryGetValue(mailboxId, out var listed)) return listed;
            var read = _messages.Find(Where(ByMailbox, mailboxId)).OrderBy(m => m.Uid).ToArray();
            if (_listedCount + read.Length > MaxListed)
            {
                _listed.Clear();
                _listedCount = 0;
            }
            if (read.Length <= MaxListed)
            {
                _listed[mailboxId] = read;
                _listedCount += read.Length;
            }
            return read;
        }
    }

    // The records of the mailboxes listed since the last commit, in UID order: a session that selects a mailbox lists
    // it, and its FETCH, SEARCH and polls then read the records from here instead of decoding them again from LiteDB's
    // pages (most of a FETCH of header fields, measured). Every commit empties it (under the lock, like the peeks), so
    // it never shows a state older than the database's. The records are shared: nothing outside the store changes
    // them, and the store changes only records it read afresh (StoreFlags). At most MaxListed records in all.
    readonly Dictionary<int, MessageRecord[]> _listed = new();
    int _listedCount;
    const int MaxListed = 100_000;

    /// <summary>Forgets what reads kept (the peeks, the listed records): called by every commit and checkpoint, under the lock.</summary>
    void ForgetReads()
    {
        _peeks.Clear();
        _listed.Clear();
        _listedCount = 0;
    }

    MessageRecord? DeliveredAs(string deliveryKey)
    {
        lock (_gate) return _messages.FindOne(Where(ByDeliveryKey, deliveryKey));
    }

    /// <summary>The mailbox's messages with UIDs from <paramref name="first"/> to <paramref name="last"/>, in UID order.</summary>
    public IReadOnlyList<MessageRecord> Messages(int mailboxId, uint first, uint last)
    {
        if (first > last) return Array.Empty<MessageRecord>();
        lock (_gate)
        {
            if (!_listed.TryGetValue(mailboxId, out var listed)) return Read(mailboxId, first, last);
            var from = LowerBound(listed, first);
            var to = last == uint.MaxValue ? listed.Length : LowerBound(listed, last + 1);
            return new ArraySegment<MessageRecord>(listed, from, to - from);
        }
    }

    /// <summary>The first index in <paramref name="records"/> (in UID order) whose UID is at least <paramref name="uid"/>.</summary>
    static int LowerBound(MessageRecord[] records, uint uid)
    {
        int low = 0, high = records.Length;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (records[middle].Uid < uid) low = middle + 1;
            else high = middle;
        }
        return low;
    }

    /// <summary>The records from LiteDB itself, each a new object (for a change to make to them). Call under the lock.</summary>
    List<MessageRecord> Read(int mailboxId, uint first, uint last) =>
        _messages.Find(KeyBetween(UidKey, mailboxId, first, last)).Where(m => m.MailboxId == mailboxId).OrderBy(m => m.Uid).ToList();

    /// <summary>The mailbox's messages among <paramref name="uids"/>, in UID order.</summary>
    public IReadOnlyList<MessageRecord> Messages(int mailboxId, IReadOnlyCollection<uint> uids)
    {
        if (uids.Count == 0) return Array.Empty<MessageRecord>();
        var set = uids as IReadOnlySet<uint> ?? uids.ToHashSet();
        return Messages(mailboxId, uids.Min(), uids.Max()).Where(m => set.Contains(m.Uid)).ToList();
    }

    /// <summary>The mailbox's messages added or changed after <paramref name="modSeq"/> (RFC 7162), in UID order.</summary>
    public IReadOnlyList<MessageRecord> ChangedSince(MailboxRecord mailbox, ulong modSeq)
    {
        if (modSeq >= mailbox.HighestModSeq) return Array.Empty<MessageRecord>();
        lock (_gate)
        {
            var found = mailbox.HighestModSeq < KeySpan
                ? _messages.Find(KeyBetween(ModSeqKey, mailbox.Id, modSeq + 1, mailbox.HighestModSeq))
                : _messages.Find(Where(ByMailbox, mailbox.Id));
            return found.Where(m => m.MailboxId == mailbox.Id && m.ModSeq > modSeq).OrderBy(m => m.Uid).ToList();
        }
    }

    /// <summary>Expunges recorded after <paramref name="modSeq"/> (RFC 7162 QRESYNC's VANISHED (EARLIER)), in UID order.</summary>
    public IReadOnlyList<ExpungeRecord> ExpungedSince(int mailboxId, ulong modSeq)
    {
        var highest = Get(mailboxId)?.HighestModSeq ?? 0;
        if (modSeq >= highest) return Array.Empty<ExpungeRecord>();
        lock (_gate)
        {
            var found = highest < KeySpan
                ? _expunged.Find(KeyBetween(ModSeqKey, mailboxId, modSeq + 1, highest))
                : _expunged.Find(Where(ByMailbox, mailboxId));
            return found.Where(e => e.MailboxId == mailboxId && e.ModSeq > modSeq).OrderBy(e => e.Uid).ToList();
        }
    }

    /// <summary>
    /// STORE (RFC 3501 6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3): messages whose MODSEQ is above it are
    /// left alone and reported in <c>Modified</c>. Returns the messages whose flags changed, with their new MODSEQ.
    /// </summary>
    public (IReadOnlyList<MessageRecord> Changed, IReadOnlyList<uint> Modified) StoreFlags(int mailboxId, IReadOnlyCollection<uint> uids,
        FlagOperation operation, IEnumerable<string> flags, ulong? unchangedSince = null)
    {
        var wanted = NormaliseFlags(flags);
        var changed = new List<MessageRecord>();
        var modified = new List<uint>();
        var set = uids as IReadOnlySet<uint> ?? uids.ToHashSet();
        lock (_gate)
        {
            var mailbox = Get(mailboxId) ?? throw new MailboxException("the mailbox no longer exists", "NONEXISTENT");
            var modSeq = mailbox.HighestModSeq;
            _db.BeginTrans();
            // Read afresh, not from the listed records: these are changed here, and a failed commit must leave no trace.
            foreach (var message in set.Count == 0 ? [] : Read(mailboxId, set.Min(), set.Max()).Where(m => set.Contains(m.Uid)))
            {
                if (unchangedSince is { } limit && message.ModSeq > limit) { modified.Add(message.Uid); continue; }
                var next = operation switch
                {
                    FlagOperation.Replace => wanted,
                    FlagOperation.Add => NormaliseFlags(message.Flags.Concat(wanted)),
                    _ => message.Flags.Where(f => !wanted.Contains(f, StringComparer.OrdinalIgnoreCase)).ToList(),
                };
                if (SameFlags(next, message.Flags)) continue;
                message.Flags = next;
                message.ModSeq = ++modSeq;
                _messages.Update(message);
                changed.Add(message);
            }
            if (changed.Count > 0)
            {
                mailbox.HighestModSeq = modSeq;
                _mailboxes.Update(mailbox);
            }
            CommitDurably(changed: changed.Count > 0);
        }
        if (changed.Count > 0) MailboxChanged?.Invoke(mailboxId);
        return (changed, modified);
    }

    /// <summary>
    /// EXPUNGE (RFC 3501 6.4.3): removes the messages flagged \Deleted, or only those among <paramref name="onlyUids"/>
    /// (UID EXPUNGE, RFC 4315). Returns the removed UIDs in ascending order.
    /// </summary>
    public IReadOnlyList<uint> Expunge(int mailboxId, IReadOnlySet<uint>? onlyUids = null)
    {
        var doomed = Messages(mailboxId)
            .Where(m => m.Flags.Contains("\\Deleted", StringComparer.OrdinalIgnoreCase) && (onlyUids is null || onlyUids.Contains(m.Uid)))
            .Select(m => m.Uid).ToHashSet();
        return Remove(mailboxId, doomed);
    }

    IReadOnlyList<uint> Remove(int mailboxId, IReadOnlySet<uint> uids)
    {
        if (uids.Count == 0) return Array.Empty<uint>();
        List<MessageRecord> removed;
        lock (_gate)
        {
            var mailbox = Get(mailboxId) ?? throw new MailboxException("the mailbox no longer exists", "NONEXISTENT");
            removed = Messages(mailboxId, uids).ToList();
            if (removed.Count == 0) return Array.Empty<uint>();
            var modSeq = mailbox.HighestModSeq + 1;
            _db.BeginTrans();
            foreach (var m in removed)
            {
                _messages.Delete(m.Id);
                _headers.Delete(HeaderKey(mailboxId, m.Uid));
                _expunged.Insert(new ExpungeRecord { MailboxId = mailboxId, Uid = m.Uid, ModSeq = modSeq });
            }
            mailbox.HighestModSeq = modSeq;
            _mailboxes.Update(mailbox);
            CommitDurably();
            AdjustUsage(mailbox.User, -removed.Sum(m => m.Size));
            DeleteUnreferencedBlobs(removed);
        }
        MailboxChanged?.Invoke(mailboxId);
        return removed.Select(m => m.Uid).ToList();
    }

    /// <summary>
    /// COPY (RFC 3501 6.4.7) or MOVE (RFC 6851): the copies get new UIDs in the target, in the order of the source UIDs
    /// (the mapping is what UIDPLUS's COPYUID reports). The octets are not duplicated: copies share the blob.
    /// A MOVE removes the originals in the same call, after the copies are durable.
    /// </summary>
    public IReadOnlyList<(uint Source, uint Target)> Copy(int sourceId, IReadOnlyCollection<uint> uids, int targetId, bool move)
    {
        var set = uids as IReadOnlySet<uint> ?? uids.ToHashSet();
        var mapping = new List<(uint, uint)>();
        lock (_gate)
        {
            var source = Get(sourceId) ?? throw new MailboxException("the mailbox no longer exists", "NONEXISTENT");
            var target = Get(targetId) ?? throw new MailboxException("the target mailbox does not exist", "TRYCREATE");
            var originals = Messages(sourceId, set);
            if (originals.Count == 0) return mapping;
            // Messages are sealed for their owner: a copy shares the sealed blob, which only that owner's key opens.
            if (source.User != target.User) throw new MailboxException("messages cannot be copied to another user's mailbox", "CANNOT");
            var added = move && sourceId != targetId ? 0 : originals.Sum(m => m.Size);
            if (added > 0) CheckQuota(target.User, added);
            var headers = SealedHeadersOf(sourceId, originals[0].Uid, originals[^1].Uid); // the seal is bound to the blob, which the copy shares
            _db.BeginTrans();
            try
            {
                foreach (var original in originals)
                {
                    var copy = new MessageRecord
                    {
                        MailboxId = targetId,
                        Uid = target.UidNext++,
                        ModSeq = ++target.HighestModSeq,
                        Flags = original.Flags.ToList(),
                        InternalDateUtc = original.InternalDateUtc,
                        Size = original.Size,
                        BlobId = original.BlobId,
                        SealedKey = original.SealedKey,
                        Structure = original.Structure,
                        SealedStructure = original.SealedStructure,
                        HeaderKept = headers.ContainsKey(original.Uid),
                        ProtectedId = original.ProtectedId,
                    };
                    _messages.Insert(copy);
                    if (headers.TryGetValue(original.Uid, out var sealedHeader))
                        _headers.Insert(new BsonDocument { ["_id"] = HeaderKey(targetId, copy.Uid), ["Sealed"] = sealedHeader });
                    mapping.Add((original.Uid, copy.Uid));
                }
                _mailboxes.Update(target);
                CommitDurably();
            }
            catch
            {
                _db.Rollback();
                throw;
            }
            AdjustUsage(target.User, originals.Sum(m => m.Size));
        }
        MailboxChanged?.Invoke(targetId);
        if (move) Remove(sourceId, set);
        return mapping;
    }

    /// <summary>
    /// RFC 3501 2.3.2 \Recent: a message is recent in exactly one session, the first to see it. Returns the highest UID
    /// already claimed before this call; UIDs above it (and below <paramref name="uidNext"/>) are recent for the caller.
    /// </summary>
    public uint ClaimRecent(int mailboxId, uint uidNext)
    {
        lock (_gate)
        {
            var doc = _recent.FindById(mailboxId);
            var claimed = doc is null ? 0u : (uint)doc["Claimed"].AsInt64;
            if (uidNext - 1 > claimed)
            {
                // Counted, not waited for: a claim lost in a crash makes a message recent once more, nothing worse.
                _recent.Upsert(new BsonDocument { ["_id"] = mailboxId, ["Claimed"] = (long)(uidNext - 1) });
                _issued++;
            }
            return claimed;
        }
    }

    /// <summary>Blobs are shared by copies; the file goes when the last message using it is gone. Call under the lock.</summary>
    int DeleteUnreferencedBlobs(IEnumerable<MessageRecord> removed) => DeleteUnreferencedBlobs(removed.Select(m => m.BlobId));

    /// <summary>Deletes the files of those blobs no message uses; returns how many went.</summary>
    int DeleteUnreferencedBlobs(IEnumerable<string> blobIds)
    {
        var deleted = 0;
        foreach (var blobId in blobIds.Distinct())
        {
            if (_messages.Exists(Where(ByBlob, blobId))) continue;
            var path = _blobs.PathOf(blobId);
            if (!File.Exists(path)) continue;
            try
            {
                File.Delete(path);
                deleted++;
            }
            catch (IOException) { /* an open reader on another platform; left for a later pass */ }
        }
        return deleted;
    }

    // ---- quota --------------------------------------------------------------------------------------------------

    /// <summary>Octets stored in all of the user's mailboxes (RFC 9208 STORAGE counts them in KiB).</summary>
    public long UsedBytes(string user)
    {
        var key = user.ToLowerInvariant();
        lock (_gate)
        {
            if (_usage.TryGetValue(key, out var used)) return used;
            var ids = _mailboxes.Find(Where(ByUser, key)).Select(m => m.Id).ToList();
            used = ids.Sum(id => _messages.Find(Where(ByMailbox, id)).Sum(m => m.Size));
            _usage[key] = used;
            return used;
        }
    }

    void AdjustUsage(string user, long delta)
    {
        var key = user.ToLowerInvariant();
        if (_usage.TryGetValue(key, out var used)) _usage[key] = used + delta;
    }

    void CheckQuota(string user, long adding)
    {
        if (QuotaKilobytes <= 0) return;
        var used = UsedBytes(user);
        if (used + adding > QuotaKilobytes * 1024) throw new QuotaExceededException((used + 1023) / 1024, QuotaKilobytes);
    }

    // ---- flags --------------------------------------------------------------------------------------------------

    static readonly string[] SystemFlags = { "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft" };

    /// <summary>System flags in their canonical case, keywords as given, no duplicates (case-insensitive), no \Recent.</summary>
    public static List<string> NormaliseFlags(IEnumerable<string> flags)
    {
        var result = new List<string>();
        foreach (var flag in flags)
        {
            var canonical = SystemFlags.FirstOrDefault(s => s.Equals(flag, StringComparison.OrdinalIgnoreCase)) ?? flag;
            if (canonical.Equals("\\Recent", StringComparison.OrdinalIgnoreCase)) continue;
            if (!result.Contains(canonical, StringComparer.OrdinalIgnoreCase)) result.Add(canonical);
        }
        return result;
    }

    static bool SameFlags(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) =>
        a.Count == b.Count && a.All(f => b.Contains(f, StringComparer.OrdinalIgnoreCase));

    public void Dispose() => _db.Dispose();
}
