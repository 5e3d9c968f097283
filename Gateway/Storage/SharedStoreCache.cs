using LiteDB;

namespace Gateway.Storage;

/// <summary>
/// Reads from a LiteDB file opened in shared mode (so that admin verbs can change it while the gateway runs), served
/// from memory: shared mode opens the file for every operation, and the mail path looks up the same few records for
/// every message. Every writer of the file calls <see cref="Changed"/>, which stores a new generation mark in the file
/// and clears this copy at once; a change made by another process is seen within <see cref="Recheck"/>, when the mark
/// is read again. Absent records are remembered too.
/// </summary>
public sealed class SharedStoreCache<TValue> where TValue : class
{
    public static readonly TimeSpan Recheck = TimeSpan.FromSeconds(1);
    const string MarkId = "generation";

    readonly ILiteCollection<BsonDocument> _meta;
    readonly Lock _gate = new();
    readonly Dictionary<string, TValue?> _values = new(StringComparer.Ordinal);
    long _version;
    string? _seenMark;
    long? _checkedTicks; // when the mark was last read (Environment.TickCount64); never yet: null

    /// <param name="meta">A collection of the same file for the generation mark.</param>
    public SharedStoreCache(ILiteCollection<BsonDocument> meta) => _meta = meta;

    /// <summary>The value for <paramref name="key"/>, loaded from the file when this copy has none.</summary>
    public TValue? Get(string key, Func<string, TValue?> load)
    {
        long version;
        lock (_gate)
        {
            var now = Environment.TickCount64;
            if (_checkedTicks is not { } checkedAt || now - checkedAt >= (long)Recheck.TotalMilliseconds)
            {
                var mark = _meta.FindById(MarkId)?["mark"].AsString;
                _checkedTicks = now;
                if (mark != _seenMark)
                {
                    _seenMark = mark;
                    Clear();
                }
            }
            if (_values.TryGetValue(key, out var hit)) return hit;
            version = _version;
        }
        var value = load(key);
        lock (_gate)
            if (_version == version) _values[key] = value; // not when a change came in meanwhile: it could be stale
        return value;
    }

    /// <summary>After a write to the file: a new mark for other processes, and this copy cleared.</summary>
    public void Changed()
    {
        var mark = Guid.NewGuid().ToString("N");
        _meta.Upsert(new BsonDocument { ["_id"] = MarkId, ["mark"] = mark });
        lock (_gate)
        {
            Clear();
            _seenMark = mark;
            _checkedTicks = Environment.TickCount64;
        }
    }

    /// <summary>The current mark (for copies of the whole file kept elsewhere).</summary>
    public string? Mark() => _meta.FindById(MarkId)?["mark"].AsString;

    void Clear()
    {
        _values.Clear();
        _version++;
    }
}
