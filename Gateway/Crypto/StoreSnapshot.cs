namespace Gateway.Crypto;

/// <summary>
/// A parsed copy of what a shared LiteDB store holds (certificates, CRLs), so that every signature check does not
/// re-read and re-parse the whole store. Each change made through the store writes a new generation mark and
/// drops the copy at once; a change made by another process (an admin verb) is noticed by comparing the mark, at
/// most <c>recheck</c> after it was made.
/// </summary>
public sealed class StoreSnapshot<T>(Func<string?> readGeneration, Func<T> load, TimeSpan recheck) where T : class
{
    readonly Lock _gate = new();
    T? _value;
    string? _generation;
    DateTime _checkedUtc;
    bool _stale = true;

    public T Get()
    {
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            if (!_stale && _value is not null && now - _checkedUtc < recheck) return _value;
            var generation = readGeneration();
            _checkedUtc = now;
            if (_stale || _value is null || generation != _generation)
            {
                _value = load();
                _generation = generation;
                _stale = false;
            }
            return _value;
        }
    }

    /// <summary>Drops the copy: the next <see cref="Get"/> loads it again.</summary>
    public void Invalidate()
    {
        lock (_gate) _stale = true;
    }
}
