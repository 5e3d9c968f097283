using LiteDB;

namespace Gateway.Storage.Mail;

/// <summary>
/// Users' mailboxes: metadata in LiteDB (<c>mail.db</c>), message octets in a <see cref="BlobStore"/>. UIDs are
/// allocated per mailbox in strictly ascending order and never reused; every change bumps the mailbox's MODSEQ.
/// Local delivery is idempotent per (queue id, recipient), so a delivery retried after a crash lands exactly once.
/// </summary>
public sealed class MailStore : IDisposable
{
    /// <summary>Created for every user on first use (RFC 6154 special-use attributes).</summary>
    public static readonly IReadOnlyList<(string Name, string? SpecialUse)> DefaultMailboxes = new[]
    {
        ("INBOX", (string?)null), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive"),
    };

    readonly LiteDatabase _db;
    readonly ILiteCollection<MailboxRecord> _mailboxes;
    readonly ILiteCollection<MessageRecord> _messages;
    readonly BlobStore _blobs;
    readonly Lock _gate = new();

    public MailStore(string databasePath, string blobDirectory)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = databasePath, Connection = ConnectionType.Direct });
        _mailboxes = _db.GetCollection<MailboxRecord>("mailboxes");
        _messages = _db.GetCollection<MessageRecord>("messages");
        _mailboxes.EnsureIndex(m => m.Key, unique: true);
        _mailboxes.EnsureIndex(m => m.User);
        _messages.EnsureIndex(m => m.MailboxId);
        // Not unique in LiteDB's sense (it counts every null as a duplicate): uniqueness comes from the check made
        // under the store's lock in AppendAsync; Direct mode means no other process writes this file.
        _messages.EnsureIndex(m => m.DeliveryKey);
        _blobs = new BlobStore(blobDirectory);
    }

    public BlobStore Blobs => _blobs;

    static string KeyOf(string user, string name) =>
        user.ToLowerInvariant() + "/" + (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX" : name);

    /// <summary>The user's mailboxes, creating the default set on first use.</summary>
    public IReadOnlyList<MailboxRecord> Mailboxes(string user)
    {
        lock (_gate)
        {
            var key = user.ToLowerInvariant();
            var existing = _mailboxes.Find(m => m.User == key).OrderBy(m => m.Id).ToList();
            if (existing.Count > 0) return existing;
            foreach (var (name, specialUse) in DefaultMailboxes) Create(user, name, specialUse);
            return _mailboxes.Find(m => m.User == key).OrderBy(m => m.Id).ToList();
        }
    }

    public MailboxRecord? Find(string user, string name)
    {
        Mailboxes(user);
        return _mailboxes.FindOne(m => m.Key == KeyOf(user, name));
    }

    public MailboxRecord Create(string user, string name, string? specialUse = null)
    {
        lock (_gate)
        {
            var mailbox = new MailboxRecord
            {
                User = user.ToLowerInvariant(),
                Name = name.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX" : name,
                Key = KeyOf(user, name),
                // Seconds since the epoch, always larger than any earlier mailbox of the same name had (RFC 3501 2.3.1.1).
                UidValidity = (uint)Math.Max(1, DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
                SpecialUse = specialUse,
            };
            _mailboxes.Insert(mailbox);
            return mailbox;
        }
    }

    /// <summary>
    /// Adds a message (APPEND or local delivery). With a <paramref name="deliveryKey"/>, a second call with the same key
    /// returns the message stored the first time instead of adding it again.
    /// </summary>
    public async Task<MessageRecord> AppendAsync(string user, string mailboxName, Stream content, IEnumerable<string>? flags = null,
        DateTime? internalDateUtc = null, string? deliveryKey = null, CancellationToken cancellationToken = default)
    {
        if (deliveryKey is not null && _messages.FindOne(m => m.DeliveryKey == deliveryKey) is { } already) return already;
        var (blobId, size) = await _blobs.PutAsync(content, cancellationToken);
        lock (_gate)
        {
            if (deliveryKey is not null && _messages.FindOne(m => m.DeliveryKey == deliveryKey) is { } raced) return raced;
            var mailbox = Find(user, mailboxName) ?? throw new InvalidOperationException($"no mailbox {mailboxName} for {user}");
            _db.BeginTrans();
            try
            {
                var message = new MessageRecord
                {
                    MailboxId = mailbox.Id,
                    Uid = mailbox.UidNext,
                    ModSeq = mailbox.HighestModSeq + 1,
                    Flags = flags?.Distinct(StringComparer.OrdinalIgnoreCase).ToList() ?? new List<string>(),
                    InternalDateUtc = internalDateUtc ?? DateTime.UtcNow,
                    Size = size,
                    BlobId = blobId,
                    DeliveryKey = deliveryKey,
                };
                _messages.Insert(message);
                mailbox.UidNext++;
                mailbox.HighestModSeq = message.ModSeq;
                _mailboxes.Update(mailbox);
                // Not yet proven durable: LiteDB's writer queue flushes its log on a background thread, so before local
                // delivery relies on this store, Commit must be followed by a forced flush (see the issue 4 notes).
                _db.Commit();
                return message;
            }
            catch
            {
                _db.Rollback();
                throw;
            }
        }
    }

    public IReadOnlyList<MessageRecord> Messages(int mailboxId) =>
        _messages.Find(m => m.MailboxId == mailboxId).OrderBy(m => m.Uid).ToList();

    public void Dispose() => _db.Dispose();
}
