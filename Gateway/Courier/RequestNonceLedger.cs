using LiteDB;

namespace Gateway.Courier;

/// <summary>
/// The nonces of signed requests the Background has answered (key releases, status pages), kept on disk
/// (<c>background/request-nonces.db</c>) so that a request recorded and sent again after a restart is still a replay.
/// A nonce is kept for twice the time a request is fresh (<see cref="SignedRequestGuard.MaxSkew"/>); after that its
/// request is refused as too old anyway.
/// </summary>
public sealed class RequestNonceLedger : IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<BsonDocument> _seen;
    int _sinceSweep;

    public RequestNonceLedger(string path)
    {
        _db = Gateway.Storage.LiteDbFiles.Open(path);
        _seen = _db.GetCollection("nonces");
        _seen.EnsureIndex("at");
    }

    public static string PathIn(Gateway.Platform.DataDirectory data) => Path.Combine(data.BackgroundDirectory, "request-nonces.db");

    /// <summary>Records a nonce; false when it was recorded before (a replay). The record is on disk before this returns.</summary>
    public bool TryRecord(string nonce, DateTimeOffset createdUtc, DateTimeOffset nowUtc)
    {
        lock (_db)
        {
            if (++_sinceSweep >= 256)
            {
                _sinceSweep = 0;
                _seen.DeleteMany(Query.LT("at", nowUtc.UtcDateTime - SignedRequestGuard.MaxSkew * 2));
            }
            try
            {
                // Committed to LiteDB's log before Insert returns, which a restart replays.
                _seen.Insert(new BsonDocument { ["_id"] = nonce, ["at"] = createdUtc.UtcDateTime });
                return true;
            }
            catch (LiteException ex) when (ex.ErrorCode == LiteException.INDEX_DUPLICATE_KEY)
            {
                return false;
            }
        }
    }

    public void Dispose() => _db.Dispose();
}
