using LiteDB;

namespace Gateway.Courier;

public enum TransferDirection { Incoming, Outgoing }

public enum TransferState
{
    /// <summary>New courier: an operator pre-authorised the transfer (<c>gateway transfer accept</c>); nothing arrived yet.</summary>
    Authorised,
    /// <summary>Old courier: an operator started it (<c>gateway transfer start</c>); the Transfer Subscription is not sent yet.</summary>
    Started,
    /// <summary>Old courier: the Transfer Subscription is on its way, or waits for the new courier's answer.</summary>
    SubscriptionSent,
    /// <summary>Old courier: the new courier sent its Configuration Update; the user's Agent is told it (Notice to Rekey)
    /// and accepts it (Exchange Keys, sent on). New courier: the account exists and the Configuration Update is sent;
    /// the user's Agent's Exchange Keys is awaited.</summary>
    Configured,
    /// <summary>Old courier: the new courier said Transfer Complete; the mailbox is moving there.</summary>
    Moving,
    /// <summary>Both: the user is served by the new courier; the old one holds nothing of theirs and reroutes their mail.</summary>
    Completed,
    /// <summary>Old courier: the new courier refused the Transfer Subscription; nothing changed.</summary>
    Refused,
}

/// <summary>One Registration Transfer as one courier sees it, with each step and its time.</summary>
public sealed class TransferRecord
{
    public string Id { get; set; } = "";
    public string Address { get; set; } = "";
    public TransferDirection Direction { get; set; }
    /// <summary>The other courier: where the user goes (outgoing) or comes from (incoming).</summary>
    public string Peer { get; set; } = "";
    public TransferState State { get; set; }
    public List<TransferStep> Steps { get; set; } = new();
    /// <summary>Old courier: the queue ids of the moved messages still to leave (the user's keys stay until they have).</summary>
    public List<string> Moving { get; set; } = new();
    public int Moved { get; set; }
    public string? LastError { get; set; }
}

public sealed class TransferStep
{
    public string Step { get; set; } = "";
    public DateTime Utc { get; set; }
}

/// <summary>
/// The Foreground's Registration Transfers (<c>foreground/transfers.db</c>, LiteDB in shared mode so that the
/// <c>gateway transfer</c> verbs work on a running gateway): pre-authorisations on the new courier, transfers started
/// on the old one, and every step with its time.
/// </summary>
public sealed class TransferStore : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<TransferRecord> _transfers;

    public TransferStore(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _transfers = _db.GetCollection<TransferRecord>("transfers");
        _transfers.EnsureIndex(t => t.Address);
    }

    public static string PathIn(Gateway.Platform.DataDirectory data) => Path.Combine(data.ForegroundDirectory, "transfers.db");

    public IReadOnlyList<TransferRecord> All() => _transfers.FindAll().OrderBy(t => t.Steps.FirstOrDefault()?.Utc).ToList();

    public TransferRecord? Find(string id) => _transfers.FindById(id);

    /// <summary>The open transfer of an address in one direction (neither completed nor refused), if any.</summary>
    public TransferRecord? Open(string address, TransferDirection direction)
    {
        var key = address.ToLowerInvariant();
        return _transfers.Find(t => t.Address == key && t.Direction == direction)
            .FirstOrDefault(t => t.State is not TransferState.Completed and not TransferState.Refused);
    }

    public TransferRecord Create(string address, TransferDirection direction, string peer, TransferState state, string step)
    {
        var record = new TransferRecord
        {
            Id = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12)).ToLowerInvariant(),
            Address = address.ToLowerInvariant(), Direction = direction, Peer = peer.ToLowerInvariant(), State = state,
            Steps = { new TransferStep { Step = step, Utc = DateTime.UtcNow } },
        };
        _transfers.Insert(record);
        _db.Checkpoint();
        return record;
    }

    /// <summary>Moves a transfer on: its new state and the step that got it there, recorded durably.</summary>
    public void Advance(TransferRecord record, TransferState state, string step, string? error = null)
    {
        record.State = state;
        record.Steps.Add(new TransferStep { Step = step, Utc = DateTime.UtcNow });
        record.LastError = error;
        Save(record);
    }

    public void Save(TransferRecord record)
    {
        _transfers.Update(record);
        _db.Checkpoint();
    }

    public void Dispose() => _db.Dispose();
}
