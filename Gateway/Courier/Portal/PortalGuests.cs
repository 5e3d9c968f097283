using LiteDB;

namespace Gateway.Courier.Portal;

/// <summary>An outside recipient this courier holds mail for (read through the pickup portal).</summary>
public sealed class PortalGuest
{
    /// <summary>The lower-cased address.</summary>
    public string Id { get; set; } = "";
    // UTC ticks: LiteDB gives DateTime values back in local time.
    public long CreatedTicks { get; set; }
}

/// <summary>
/// The outside recipients the pickup portal serves: addresses no courier serves, for which this courier keeps the content
/// part (Foreground) and the ARM (Background) as it does for a local user, so that splitting, key release, restrictions,
/// receipts and sealing at rest work unchanged. A guest has a certificate from this courier's CA (the parts are
/// re-wrapped to it) and a mailbox, but no password: a guest never logs in over SMTP or IMAP, receives no mail from the
/// Internet here, and is no user (<see cref="Storage.IUserStore"/>). Kept in <c>agent/guests.db</c>.
/// </summary>
public sealed class PortalGuests : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<PortalGuest> _guests;
    readonly Lock _gate = new();

    public PortalGuests(string path)
    {
        _db = Gateway.Storage.LiteDbFiles.Open(path);
        _guests = _db.GetCollection<PortalGuest>("guests");
    }

    public static string PathIn(Platform.DataDirectory data) => Path.Combine(data.AgentDirectory, "guests.db");

    public bool Contains(string address)
    {
        lock (_gate) return _guests.FindById(address.ToLowerInvariant()) is not null;
    }

    /// <summary>Records the address as a guest (once); durable when this returns.</summary>
    public void Add(string address, DateTimeOffset nowUtc)
    {
        var id = address.ToLowerInvariant();
        lock (_gate)
        {
            if (_guests.FindById(id) is not null) return;
            _guests.Insert(new PortalGuest { Id = id, CreatedTicks = nowUtc.UtcTicks });
            _db.Checkpoint();
        }
    }

    /// <summary>Forgets a guest (registered as a user, or removed by the operator).</summary>
    public bool Remove(string address)
    {
        lock (_gate)
        {
            var removed = _guests.Delete(address.ToLowerInvariant());
            if (removed) _db.Checkpoint();
            return removed;
        }
    }

    public IReadOnlyList<PortalGuest> List()
    {
        lock (_gate) return _guests.FindAll().OrderBy(g => g.Id, StringComparer.Ordinal).ToList();
    }

    public void Dispose() => _db.Dispose();
}
