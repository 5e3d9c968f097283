using LiteDB;

namespace Gateway.Storage;

/// <summary>
/// Users in a LiteDB file, opened in shared mode so that the admin CLI can change users while the gateway runs; look-ups
/// are served from memory (<see cref="SharedStoreCache{TValue}"/>: a change here applies at once, one by an admin verb
/// within a second).
/// </summary>
public sealed class LiteDbUserStore : IUserStore, IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<UserRecord> _users;
    readonly SharedStoreCache<UserRecord> _cache;

    public LiteDbUserStore(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _users = _db.GetCollection<UserRecord>("users");
        _users.EnsureIndex(u => u.CreatedUtc); // a write: creates the file on first start
        _cache = new SharedStoreCache<UserRecord>(_db.GetCollection("meta"));
    }

    static string Key(string address) => address.Trim().ToLowerInvariant();

    /// <summary>The user, or null. The record is shared with other callers: read it, do not change it.</summary>
    public UserRecord? Find(string address) => _cache.Get(Key(address), key => _users.FindById(key));

    public IReadOnlyList<UserRecord> List() => _users.FindAll().OrderBy(u => u.Id, StringComparer.Ordinal).ToList();

    public bool Add(string address, string passwordHash)
    {
        var key = Key(address);
        if (_users.FindById(key) is not null) return false;
        var now = DateTime.UtcNow;
        _users.Insert(new UserRecord { Id = key, Address = address.Trim(), PasswordHash = passwordHash, CreatedUtc = now, PasswordChangedUtc = now });
        _cache.Changed();
        return true;
    }

    public bool SetPasswordHash(string address, string passwordHash)
    {
        var user = _users.FindById(Key(address));
        if (user is null) return false;
        user.PasswordHash = passwordHash;
        user.PasswordChangedUtc = DateTime.UtcNow;
        var updated = _users.Update(user);
        _cache.Changed();
        return updated;
    }

    public bool Remove(string address)
    {
        var removed = _users.Delete(Key(address));
        _cache.Changed();
        return removed;
    }

    public void Dispose() => _db.Dispose();
}
