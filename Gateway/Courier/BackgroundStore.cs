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
public sealed class BackgroundStore : IDisposable
{
    readonly LiteDatabase _db;
    readonly Lock _gate = new();
    public ILiteCollection<ArmRecord> Arms { get; }
    public ILiteCollection<SentRecord> Sent { get; }

    public BackgroundStore(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
        Arms = _db.GetCollection<ArmRecord>("arms");
        Sent = _db.GetCollection<SentRecord>("sent");
        Arms.EnsureIndex(a => a.MessageId);
        Arms.EnsureIndex(a => a.Recipient);
        Sent.EnsureIndex(s => s.Sender);
    }

    /// <summary>Runs a change under the store's lock in one transaction and makes it durable before returning.</summary>
    public T Write<T>(Func<T> change)
    {
        lock (_gate)
        {
            _db.BeginTrans();
            T result;
            try
            {
                result = change();
                _db.Commit();
            }
            catch
            {
                _db.Rollback();
                throw;
            }
            _db.Checkpoint();
            return result;
        }
    }

    public void Dispose() => _db.Dispose();
}
