using System.Text.Json;
using Gateway.Platform;

namespace Gateway.Courier;

/// <summary>
/// The time of the newest Distribute Account an element on a host of its own has applied for each address, as its
/// sender stamped it. Distribute Accounts for one address can overtake each other on the way (an account told at
/// start and removed a moment later, with the first waiting for a retry or queued behind other mail): applied in
/// arrival order, the older one would undo the newer. With these times an element applies an account's messages in
/// the order they were sent and drops the ones that were overtaken. A removed account keeps its time here (its
/// tombstone), so a late "exists" cannot bring it back. Kept durably in one small file in the element's directory.
/// </summary>
public sealed class AccountVersions
{
    readonly string _path;
    readonly Lock _lock = new();
    readonly Dictionary<string, DateTimeOffset> _applied;

    public AccountVersions(string path)
    {
        _path = path;
        _applied = File.Exists(path)
            ? new(JsonSerializer.Deserialize<Dictionary<string, DateTimeOffset>>(File.ReadAllBytes(path)) ?? new(), StringComparer.OrdinalIgnoreCase)
            : new(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The file's place in an element's directory.</summary>
    public static string PathIn(string elementDirectory) => Path.Combine(elementDirectory, "accounts-applied.json");

    /// <summary>Whether a message about <paramref name="address"/> sent at <paramref name="sent"/> was overtaken by one
    /// applied already (sent later). Two sent at the same moment are both applied, in arrival order.</summary>
    public bool IsOvertaken(string address, DateTimeOffset sent)
    {
        lock (_lock) return _applied.TryGetValue(address, out var newest) && sent < newest;
    }

    /// <summary>Records that the message sent at <paramref name="sent"/> was applied (durably, before it leaves the inbox).</summary>
    public void Applied(string address, DateTimeOffset sent)
    {
        lock (_lock)
        {
            if (_applied.TryGetValue(address, out var newest) && newest >= sent) return;
            _applied[address.ToLowerInvariant()] = sent;
            DurableFile.WriteAllBytesAtomic(_path, JsonSerializer.SerializeToUtf8Bytes(_applied));
        }
    }
}
