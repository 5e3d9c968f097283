using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Gateway.Imap;

/// <summary>
/// Reads a stream a line at a time through one 64 KiB buffer, keeping the stream offset of every line, so that MIME
/// boundaries can be found without holding a body in memory.
/// </summary>
/// <remarks>
/// A line ends after its LF (RFC 5322 2.1 lines end in CRLF; a bare LF is accepted too). A line longer than the
/// buffer is returned truncated to the buffer's size, but its offsets and line feeds still count exactly.
/// </remarks>
internal sealed class MimeLineReader : IDisposable
{
    const int BufferSize = 64 * 1024;

    readonly Stream _stream;
    byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    byte[]? _longLine;
    int _start, _end;    // unread octets are _buffer[_start.._end)
    long _bufferOffset;  // stream offset of _buffer[0]
    bool _eof;

    public MimeLineReader(Stream stream) => _stream = stream;

    public void Dispose()
    {
        if (_buffer.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    /// <summary>Offset of the next unread octet.</summary>
    public long Position => _bufferOffset + _start;

    /// <summary>Line feeds read so far.</summary>
    public long LineFeeds { get; private set; }

    /// <summary>Length of the line break that ended the last line read: 2 (CRLF), 1 (LF) or 0 (none: end of stream).</summary>
    public int LastNewline { get; private set; }

    /// <summary>The next line including its line break; false at the end of the stream. The span lives until the next call.</summary>
    public bool ReadLine(out ReadOnlySpan<byte> line, out long lineStart)
    {
        lineStart = Position;
        var searched = 0;
        while (true)
        {
            var unread = _buffer.AsSpan(_start, _end - _start);
            var lf = unread[searched..].IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var length = searched + lf + 1;
                line = unread[..length];
                _start += length;
                LineFeeds++;
                LastNewline = length >= 2 && line[length - 2] == '\r' ? 2 : 1;
                return true;
            }
            searched = unread.Length;
            if (_eof)
            {
                line = unread;
                _start = _end;
                LastNewline = 0;
                return !unread.IsEmpty;
            }
            if (_start > 0)
            {
                unread.CopyTo(_buffer);
                _bufferOffset += _start;
                _end -= _start;
                _start = 0;
            }
            if (_end == BufferSize)
            {
                line = ReadLongLine();
                return true;
            }
            Fill();
        }
    }

    /// <summary>The buffer is full of one line: keep a copy of what is there as the line, and skip to the line's end.</summary>
    ReadOnlySpan<byte> ReadLongLine()
    {
        _longLine ??= new byte[BufferSize];
        _buffer.AsSpan(0, BufferSize).CopyTo(_longLine);
        var last = _buffer[BufferSize - 1];
        while (true)
        {
            _bufferOffset += _end;
            _start = _end = 0;
            Fill();
            if (_eof)
            {
                LastNewline = 0;
                return _longLine;
            }
            var lf = _buffer.AsSpan(0, _end).IndexOf((byte)'\n');
            if (lf >= 0)
            {
                _start = lf + 1;
                LineFeeds++;
                LastNewline = (lf > 0 ? _buffer[lf - 1] : last) == '\r' ? 2 : 1;
                return _longLine;
            }
            last = _buffer[_end - 1];
        }
    }

    /// <summary>Moves to the end of the stream; counts its line feeds only if asked (otherwise it may seek past them).</summary>
    public void SkipToEnd(bool countLines)
    {
        LineFeeds += _buffer.AsSpan(_start, _end - _start).Count((byte)'\n');
        _bufferOffset += _end;
        _start = _end = 0;
        LastNewline = 0;
        if (_eof) return;
        if (!countLines && _stream.CanSeek)
        {
            _bufferOffset = _stream.Seek(0, SeekOrigin.End);
            _eof = true;
            return;
        }
        int read;
        while ((read = _stream.Read(_buffer, 0, BufferSize)) > 0)
        {
            LineFeeds += _buffer.AsSpan(0, read).Count((byte)'\n');
            _bufferOffset += read;
        }
        _eof = true;
    }

    void Fill()
    {
        var read = _stream.Read(_buffer, _end, BufferSize - _end);
        if (read == 0) _eof = true;
        else _end += read;
    }
}

/// <summary>
/// Builds a <see cref="MessageStructure"/> in one pass over a message (RFC 5322 2.1: header, blank line, body;
/// RFC 2046 5.1.1: multipart bodies split at boundary lines). Nothing but header fields is kept in memory.
/// </summary>
internal sealed class MessageStructureParser
{
    /// <summary>Deeper nesting is treated as opaque content rather than recursed into.</summary>
    const int MaxDepth = 64;

    /// <summary>A header field longer than this is cut (its offsets stay exact).</summary>
    const int MaxFieldOctets = 256 * 1024;

    /// <summary>Where an entity's content stopped: at a boundary line of <see cref="Boundary"/> (an index into the open
    /// boundaries; -1 for the end of the stream), <see cref="Closing"/> when it was a close-delimiter. <see cref="Offset"/>
    /// excludes the line break before the boundary line, which belongs to the boundary (RFC 2046 5.1.1).</summary>
    readonly record struct End(int Boundary, bool Closing, long Offset, long LineFeeds);

    /// <summary>The header fields of one entity that BODYSTRUCTURE and ENVELOPE need, first occurrence each.</summary>
    sealed class EntityHeader(bool isMessage)
    {
        public string? ContentType, Encoding, Id, Description, Md5, Disposition, Language, Location;
        public readonly EnvelopeFields? Envelope = isMessage ? new EnvelopeFields() : null;

        public void Offer(string name, string value)
        {
            if (name.Length > 8 && name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                switch (name.AsSpan(8))
                {
                    case var n when n.Equals("Type", StringComparison.OrdinalIgnoreCase): ContentType ??= value; break;
                    case var n when n.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase): Encoding ??= value; break;
                    case var n when n.Equals("ID", StringComparison.OrdinalIgnoreCase): Id ??= value; break;
                    case var n when n.Equals("Description", StringComparison.OrdinalIgnoreCase): Description ??= value; break;
                    case var n when n.Equals("MD5", StringComparison.OrdinalIgnoreCase): Md5 ??= value; break;
                    case var n when n.Equals("Disposition", StringComparison.OrdinalIgnoreCase): Disposition ??= value; break;
                    case var n when n.Equals("Language", StringComparison.OrdinalIgnoreCase): Language ??= value; break;
                    case var n when n.Equals("Location", StringComparison.OrdinalIgnoreCase): Location ??= value; break;
                }
                return;
            }
            Envelope?.Offer(name, value);
        }
    }

    readonly MimeLineReader _reader;
    readonly List<byte[]> _boundaries = new();
    byte[] _field = new byte[1024];
    int _fieldLength;

    MessageStructureParser(Stream stream) => _reader = new MimeLineReader(stream);

    public static MessageStructure Parse(Stream message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.CanSeek) message.Seek(0, SeekOrigin.Begin);
        var parser = new MessageStructureParser(message);
        try
        {
            var structure = new MessageStructure();
            parser.ParseEntity(structure.Root, isMessage: true, digestChild: false, countLines: false, depth: 0, structure.HeaderFields);
            structure.Size = parser._reader.Position;
            structure.Root.BodyEnd = structure.Size;
            return structure;
        }
        finally
        {
            parser._reader.Dispose();
        }
    }

    /// <param name="countLines">Whether an enclosing entity needs the line count (a message/rfc822 part), so that the end
    /// of the stream may not be reached by seeking.</param>
    End ParseEntity(StructurePart part, bool isMessage, bool digestChild, bool countLines, int depth, List<HeaderField>? allFields)
    {
        part.HeaderStart = _reader.Position;
        var header = new EntityHeader(isMessage);
        var cut = ReadHeader(header, allFields);
        Describe(part, header, digestChild);
        if (header.Envelope is not null) part.Envelope = ImapEnvelope.Format(header.Envelope);

        if (cut is { } early)
        {
            // No blank line: the header runs to the boundary or to the end; the body is empty.
            part.HeaderEnd = part.BodyEnd = Math.Max(early.Offset, part.HeaderStart);
            return early;
        }
        part.HeaderEnd = _reader.Position;
        var bodyLineFeeds = _reader.LineFeeds;

        End end;
        var boundary = part.Type == "MULTIPART" && depth < MaxDepth ? part.Parameter("BOUNDARY") : null;
        if (!string.IsNullOrEmpty(boundary))
        {
            part.Parts = new();
            _boundaries.Add(Encoding.UTF8.GetBytes(boundary));
            var own = _boundaries.Count - 1;
            var digest = part.Subtype == "DIGEST";
            end = Scan(countLines); // the preamble
            while (end.Boundary == own && !end.Closing)
            {
                var child = new StructurePart();
                part.Parts.Add(child);
                end = ParseEntity(child, isMessage: false, digest, countLines, depth + 1, null);
            }
            _boundaries.RemoveAt(own);
            if (end.Boundary == own) end = Scan(countLines); // the epilogue, up to an enclosing boundary
        }
        else if (part.Type == "MESSAGE" && part.Subtype == "RFC822" && depth < MaxDepth && part.Encoding is null or "7BIT" or "8BIT" or "BINARY")
        {
            // RFC 2046 5.2.1: only an unencoded message/rfc822 can be looked into.
            part.Message = new StructurePart();
            end = ParseEntity(part.Message, isMessage: true, digestChild: false, countLines: true, depth + 1, null);
        }
        else
        {
            end = Scan(countLines || part.Type == "TEXT");
        }

        part.BodyEnd = Math.Max(end.Offset, part.HeaderEnd);
        if (part.Type == "TEXT" || part.Message is not null) part.Lines = Math.Max(0, end.LineFeeds - bodyLineFeeds);
        return end;
    }

    /// <summary>Reads header lines up to and including the blank line. Returns null then, or where the header was cut
    /// short by a boundary line or the end of the stream.</summary>
    End? ReadHeader(EntityHeader header, List<HeaderField>? allFields)
    {
        _fieldLength = 0;
        while (true)
        {
            var previousNewline = _reader.LastNewline;
            var lineFeeds = _reader.LineFeeds;
            if (!_reader.ReadLine(out var line, out var lineStart))
            {
                Flush(header, allFields);
                return new End(-1, false, _reader.Position, _reader.LineFeeds);
            }
            if (line[0] == '\n' || (line.Length == 2 && line[0] == '\r' && line[1] == '\n'))
            {
                Flush(header, allFields);
                return null;
            }
            if (_boundaries.Count > 0 && IsBoundary(line, out var index, out var closing))
            {
                Flush(header, allFields);
                return new End(index, closing, lineStart - previousNewline, lineFeeds - (previousNewline > 0 ? 1 : 0));
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                if (_fieldLength > 0) Append(line); // a continuation line (RFC 5322 2.2.3)
            }
            else
            {
                Flush(header, allFields);
                Append(line);
            }
        }
    }

    /// <summary>Skips content lines up to a boundary line of any open multipart, or to the end of the stream.</summary>
    End Scan(bool countLines)
    {
        if (_boundaries.Count == 0)
        {
            _reader.SkipToEnd(countLines);
            return new End(-1, false, _reader.Position, _reader.LineFeeds);
        }
        while (true)
        {
            var previousNewline = _reader.LastNewline;
            var lineFeeds = _reader.LineFeeds;
            if (!_reader.ReadLine(out var line, out var lineStart))
                return new End(-1, false, _reader.Position, _reader.LineFeeds);
            if (line[0] == '-' && IsBoundary(line, out var index, out var closing))
                return new End(index, closing, lineStart - previousNewline, lineFeeds - (previousNewline > 0 ? 1 : 0));
        }
    }

    /// <summary>
    /// Whether <paramref name="line"/> is <c>"--" boundary</c> (a delimiter, possibly with trailing white space) or
    /// <c>"--" boundary "--"</c> (the close-delimiter) of an open multipart, innermost first (RFC 2046 5.1.1).
    /// </summary>
    bool IsBoundary(ReadOnlySpan<byte> line, out int index, out bool closing)
    {
        index = -1;
        closing = false;
        if (line.Length < 3 || line[0] != '-' || line[1] != '-') return false;
        var rest = line[2..];
        for (var b = _boundaries.Count - 1; b >= 0; b--)
        {
            var boundary = _boundaries[b];
            if (!rest.StartsWith(boundary)) continue;
            var after = rest[boundary.Length..];
            if (after.StartsWith("--"u8)) closing = true;
            else if (!after.TrimEnd(" \t\r\n"u8).IsEmpty) continue;
            index = b;
            return true;
        }
        return false;
    }

    void Append(ReadOnlySpan<byte> line)
    {
        var room = MaxFieldOctets - _fieldLength;
        if (room <= 0) return;
        if (line.Length > room) line = line[..room];
        if (_fieldLength + line.Length > _field.Length)
            Array.Resize(ref _field, Math.Max(_field.Length * 2, _fieldLength + line.Length));
        line.CopyTo(_field.AsSpan(_fieldLength));
        _fieldLength += line.Length;
    }

    /// <summary>Hands the collected header field to <paramref name="header"/> (and <paramref name="allFields"/>).</summary>
    void Flush(EntityHeader header, List<HeaderField>? allFields)
    {
        if (_fieldLength == 0) return;
        var field = _field.AsSpan(0, _fieldLength);
        _fieldLength = 0;
        var colon = field.IndexOf((byte)':');
        if (colon <= 0) return; // not a header field
        var nameOctets = field[..colon].TrimEnd(" \t"u8);
        if (nameOctets.IsEmpty) return;
        var name = Encoding.Latin1.GetString(nameOctets);
        if (allFields is null && header.Envelope is null && !name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)) return;
        var value = Unfold(field[(colon + 1)..]);
        header.Offer(name, value);
        allFields?.Add(new HeaderField(name, value));
    }

    /// <summary>
    /// A field body unfolded (RFC 5322 2.2.3: line breaks before white space removed) and trimmed. Octets are read as
    /// UTF-8 (RFC 6532) when they are valid UTF-8, otherwise as Latin-1 so that no octet is lost.
    /// </summary>
    static string Unfold(ReadOnlySpan<byte> body)
    {
        var buffer = body.Length <= 1024 ? stackalloc byte[body.Length] : new byte[body.Length];
        var length = 0;
        for (var i = 0; i < body.Length; i++)
        {
            // Drop LF and the CR of CRLF; a bare CR inside a line is content and stays.
            var b = body[i];
            if (b == '\n' || (b == '\r' && (i + 1 == body.Length || body[i + 1] == '\n'))) continue;
            buffer[length++] = b;
        }
        var value = buffer[..length].Trim(" \t"u8);
        return Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : Encoding.Latin1.GetString(value);
    }

    /// <summary>Fills in the entity's content description from its header (RFC 2045, RFC 2183, RFC 3282, RFC 2557).</summary>
    static void Describe(StructurePart part, EntityHeader header, bool digestChild)
    {
        if (header.ContentType is { } contentType
            && MimeHeaderSyntax.TryParseContentType(contentType, out var type, out var subtype, out var parameters))
        {
            part.Type = type;
            part.Subtype = subtype;
            part.Parameters = parameters;
        }
        else if (digestChild)
        {
            // RFC 2046 5.1.5: in a multipart/digest the default is message/rfc822.
            part.Type = "MESSAGE";
            part.Subtype = "RFC822";
        }
        if (header.Encoding is { } encoding) part.Encoding = MimeHeaderSyntax.ParseToken(encoding)?.ToUpperInvariant();
        part.Id = header.Id;
        part.Description = header.Description;
        part.Md5 = header.Md5;
        if (header.Disposition is { } disposition
            && MimeHeaderSyntax.TryParseDisposition(disposition, out var dispositionType, out var dispositionParameters))
        {
            part.Disposition = dispositionType;
            part.DispositionParameters = dispositionParameters;
        }
        if (header.Language is { } language) part.Languages = MimeHeaderSyntax.ParseLanguages(language);
        // RFC 2557 4.2: a folded URL has its white space removed.
        if (header.Location is { } location) part.Location = string.Concat(location.Where(c => c is not (' ' or '\t')));
    }
}
