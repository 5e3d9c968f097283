using LiteDB;

namespace Gateway.Courier;

public enum KeyReplacementState
{
    /// <summary>Asked for (<c>gateway rekey user</c>, or the certificate runs out soon); the Notice to Rekey is not sent yet.</summary>
    Requested,
    /// <summary>The Notice to Rekey is on its way to the user's Agent (through the Background).</summary>
    NoticeSent,
    /// <summary>The Agent sent the new certificate; the Foreground's half of Exchange Keys is on its way back.</summary>
    KeysExchanged,
    /// <summary>Rekeying Complete arrived and the Background was told (Background Key Replacement).</summary>
    Completed,
}

/// <summary>One user's Key Replacement as the Foreground drives it, with each step and its time.</summary>
public sealed class KeyReplacementRecord
{
    public string Id { get; set; } = "";
    public string Address { get; set; } = "";
    public string Reason { get; set; } = "";
    public KeyReplacementState State { get; set; }
    /// <summary>Serial numbers (hex) of the certificate replaced and of the new one.</summary>
    public string? OldSerial { get; set; }
    public string? NewSerial { get; set; }
    public List<TransferStep> Steps { get; set; } = new();
    public string? LastError { get; set; }
    /// <summary>For a Registration Transfer: the transfer, the courier the user moves to, where its elements listen, and
    /// the user's certificate made there (the Notice to Rekey carries them to the user's Agent).</summary>
    public string? TransferId { get; set; }
    public string? Courier { get; set; }
    public string? ForegroundEndpoint { get; set; }
    public string? BackgroundEndpoint { get; set; }
    public byte[]? NewCertificate { get; set; }
}

/// <summary>
/// The Foreground's Key Replacements (<c>foreground/rekeys.db</c>, LiteDB in shared mode so that <c>gateway rekey</c>
/// works on a running gateway): what was asked for, and every step with its time.
/// </summary>
public sealed class KeyReplacementStore : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<KeyReplacementRecord> _records;

    public KeyReplacementStore(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _records = _db.GetCollection<KeyReplacementRecord>("rekeys");
        _records.EnsureIndex(r => r.Address);
    }

    public static string PathIn(Gateway.Platform.DataDirectory data) => Path.Combine(data.ForegroundDirectory, "rekeys.db");

    public IReadOnlyList<KeyReplacementRecord> All() => _records.FindAll().OrderBy(r => r.Steps.FirstOrDefault()?.Utc).ToList();

    public KeyReplacementRecord? Find(string id) => _records.FindById(id);

    /// <summary>The address's Key Replacement under way (not completed), if any.</summary>
    public KeyReplacementRecord? Open(string address)
    {
        var key = address.ToLowerInvariant();
        return _records.Find(r => r.Address == key).FirstOrDefault(r => r.State != KeyReplacementState.Completed);
    }

    /// <summary>Asks for a Key Replacement of <paramref name="address"/>; one already under way is returned instead of a second
    /// (a Registration Transfer's is always made: the user leaves whatever else was under way).</summary>
    /// <param name="transfer">For a Registration Transfer: the record's transfer fields (Courier, endpoints, new certificate).</param>
    public KeyReplacementRecord Request(string address, string reason, string step, Action<KeyReplacementRecord>? transfer = null)
    {
        if (transfer is null && Open(address) is { } open) return open;
        var record = new KeyReplacementRecord
        {
            Id = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12)).ToLowerInvariant(),
            Address = address.ToLowerInvariant(), Reason = reason, State = KeyReplacementState.Requested,
            Steps = { new TransferStep { Step = step, Utc = DateTime.UtcNow } },
        };
        transfer?.Invoke(record);
        _records.Insert(record);
        _db.Checkpoint();
        return record;
    }

    /// <summary>Moves a Key Replacement on: its new state and the step that got it there, recorded durably.</summary>
    public void Advance(KeyReplacementRecord record, KeyReplacementState state, string step)
    {
        record.State = state;
        record.Steps.Add(new TransferStep { Step = step, Utc = DateTime.UtcNow });
        record.LastError = null;
        Save(record);
    }

    public void Save(KeyReplacementRecord record)
    {
        _records.Update(record);
        _db.Checkpoint();
    }

    public void Dispose() => _db.Dispose();
}
