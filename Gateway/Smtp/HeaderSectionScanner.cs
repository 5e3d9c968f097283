namespace Gateway.Smtp;

/// <summary>
/// Watches message octets as they stream to the spool and notes which header fields the header section
/// (RFC 5322 2.1: up to the first empty line) contains, without buffering the message.
/// </summary>
public sealed class HeaderSectionScanner
{
    const int MaxNameLength = 32;
    readonly char[] _name = new char[MaxNameLength];
    int _nameLength;
    bool _atLineStart = true;
    bool _inName = true;
    bool _sawCrAtLineStart;

    public bool HeaderSectionEnded { get; private set; }
    public bool HasMessageId { get; private set; }
    public bool HasDate { get; private set; }
    public bool HasFrom { get; private set; }

    public void Feed(ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            if (HeaderSectionEnded) return;
            if (_atLineStart)
            {
                if (b == (byte)'\n' || (_sawCrAtLineStart && b == (byte)'\n')) { HeaderSectionEnded = true; return; }
                if (b == (byte)'\r') { _sawCrAtLineStart = true; continue; }
                _sawCrAtLineStart = false;
                _atLineStart = false;
                // A continuation line (folded header) starts with white space and names no field.
                _inName = b != (byte)' ' && b != (byte)'\t';
                _nameLength = 0;
            }
            if (b == (byte)'\n') { _atLineStart = true; continue; }
            if (!_inName) continue;
            if (b == (byte)':')
            {
                OnFieldName(new string(_name, 0, _nameLength).TrimEnd());
                _inName = false;
            }
            else if (_nameLength < MaxNameLength) _name[_nameLength++] = (char)b;
            else _inName = false;
        }
    }

    void OnFieldName(string name)
    {
        if (name.Equals("Message-ID", StringComparison.OrdinalIgnoreCase)) HasMessageId = true;
        else if (name.Equals("Date", StringComparison.OrdinalIgnoreCase)) HasDate = true;
        else if (name.Equals("From", StringComparison.OrdinalIgnoreCase)) HasFrom = true;
    }
}
