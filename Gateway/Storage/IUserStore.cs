namespace Gateway.Storage;

/// <summary>Local users. LiteDB by default; a server database can stand behind the same interface.</summary>
public interface IUserStore
{
    UserRecord? Find(string address);
    IReadOnlyList<UserRecord> List();
    /// <summary>Adds a user; false if the address exists already.</summary>
    bool Add(string address, string passwordHash);
    bool SetPasswordHash(string address, string passwordHash);
    bool Remove(string address);
}
