using MimeKit;
using MimeKit.Utils;

namespace Gateway.Imap;

/// <summary>
/// The searchable text of a stored message for SEARCH (RFC 3501 6.4.4): header fields decoded from RFC 2047
/// encoded-words and text parts decoded from their transfer encoding and charset. Matching is a case-insensitive
/// substring test. The header is read on first use; the body is parsed (without loading attachments into memory)
/// only when a BODY or TEXT key needs it.
/// </summary>
public sealed class MessageSearchText(Stream stored) : IDisposable
{
    HeaderList? _headers;
    MimeMessage? _message;

    HeaderList Headers()
    {
        if (_headers is not null) return _headers;
        stored.Seek(0, SeekOrigin.Begin);
        _headers = HeaderList.Load(stored);
        return _headers;
    }

    /// <summary>The Date: header (for SENTBEFORE/SENTON/SENTSINCE), null when missing or unreadable.</summary>
    public DateTimeOffset? Date =>
        Headers()[HeaderId.Date] is { } text && DateUtils.TryParse(text, out var date) ? date : null;

    /// <summary>HEADER field string: an empty string matches every message that has the field.</summary>
    public bool HeaderContains(string field, string text) =>
        Headers().Where(h => h.Field.Equals(field, StringComparison.OrdinalIgnoreCase)).Any(h => Matches(h, text));

    public bool AnyHeaderContains(string text) => Headers().Any(h => Matches(h, text));

    static bool Matches(Header header, string text) =>
        text.Length == 0 || header.Value.Contains(text, StringComparison.OrdinalIgnoreCase)
        || System.Text.Encoding.UTF8.GetString(header.RawValue).Contains(text, StringComparison.OrdinalIgnoreCase);

    public ValueTask<bool> BodyContainsAsync(string text)
    {
        if (_message is null)
        {
            stored.Seek(0, SeekOrigin.Begin);
            // persistent: part contents stay in the file and are decoded on demand, so big attachments are not loaded.
            _message = new MimeParser(stored, MimeFormat.Entity, persistent: true).ParseMessage();
        }
        foreach (var entity in _message.BodyParts)
        {
            if (entity is TextPart part && part.Text.Contains(text, StringComparison.OrdinalIgnoreCase)) return ValueTask.FromResult(true);
            if (entity is MessagePart { Message: { } inner } && inner.BodyParts.OfType<TextPart>().Any(p => p.Text.Contains(text, StringComparison.OrdinalIgnoreCase)))
                return ValueTask.FromResult(true);
        }
        return ValueTask.FromResult(false);
    }

    public void Dispose()
    {
        _message?.Dispose();
        stored.Dispose();
    }
}
