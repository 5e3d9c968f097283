using LiteDB;

namespace Gateway.Storage;

/// <summary>
/// Users in a LiteDB file, opened in shared mode so that the admin CLI can change users while the gateway runs.
/// </summary>
public sealed class LiteDbUserStore : IUserStore, IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<UserRecord> _users;

    public LiteDbUserStore(string path)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _users = _db.GetCollection<UserRecord>("users");
        _users.EnsureIndex(u => u.CreatedUtc); // a write: creates the file on first start
    }

    static string Key(string address) => address.Trim().ToLowerInvariant();

    public UserRecord? Find(string address) => _users.FindById(Key(address));

    public IReadOnlyList<UserRecord> List() => _users.FindAll().OrderBy(u => u.Id, StringComparer.Ordinal).ToList();

    public bool Add(string address, string passwordHash)
    {
        var key = Key(address);
        if (_users.FindById(key) is not null) return false;
        var now = DateTime.UtcNow;
        _users.Insert(new UserRecord { Id = key, Address = address.Trim(), PasswordHash = passwordHash, CreatedUtc = now, PasswordChangedUtc = now });
        return true;
    }

    public bool SetPasswordHash(string address, string passwordHash)
    {
        var user = _users.FindById(Key(address));
        if (user is null) return false;
        user.PasswordHash = passwordHash;
        user.PasswordChangedUtc = DateTime.UtcNow;
        return _users.Update(user);
    }

    public bool Remove(string address) => _users.Delete(Key(address));

    public void Dispose() => _db.Dispose();
}
