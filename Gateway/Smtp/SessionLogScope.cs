using System.Collections;

namespace Gateway.Smtp;

/// <summary>
/// The log scope of one SMTP session: structured fields for the JSON formatter, and a compact
/// <c>session=… listener=… client=…</c> text for the single-line formatter.
/// </summary>
public sealed class SessionLogScope(string sessionId, string listener, string? client) : IReadOnlyList<KeyValuePair<string, object?>>
{
    readonly KeyValuePair<string, object?>[] _fields =
    {
        new("SessionId", sessionId),
        new("Listener", listener),
        new("Client", client),
    };

    public KeyValuePair<string, object?> this[int index] => _fields[index];
    public int Count => _fields.Length;
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_fields).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    public override string ToString() => $"session={sessionId} listener={listener} client={client}";
}
