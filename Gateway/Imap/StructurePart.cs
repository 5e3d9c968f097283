using System.Text.Json.Serialization;

namespace Gateway.Imap;

/// <summary>A header field or a MIME parameter: a name and its raw, unfolded value.</summary>
public sealed class HeaderField
{
    public HeaderField() { }

    public HeaderField(string name, string value)
    {
        Name = name;
        Value = value;
    }

    public string Name { get; set; } = "";

    public string Value { get; set; } = "";
}

/// <summary>
/// One MIME entity of a stored message (RFC 2045 2.4): where its header and body lie in the message file, and the
/// header fields BODYSTRUCTURE reports. A plain serializable node (public get/set properties, parameterless
/// constructor) so that a <see cref="MessageStructure"/> can be stored once and never re-parsed.
/// </summary>
/// <remarks>
/// <para>The top-level message is a part too: its <see cref="Envelope"/> is set. A message/rfc822 part has its
/// encapsulated message in <see cref="Message"/> (RFC 2046 5.2.1); a multipart has its <see cref="Parts"/>
/// (RFC 2046 5.1). Offsets count octets from the start of the message file.</para>
/// <para>Type, subtype, parameter names, disposition type and transfer encoding are stored upper-case; parameter
/// values and the other fields are raw header text (unfolded, not decoded).</para>
/// </remarks>
public sealed class StructurePart
{
    /// <summary>Offset of the first header line (for a part of a multipart: just after the boundary line).</summary>
    public long HeaderStart { get; set; }

    /// <summary>Offset just after the header's terminating blank line, which is where the body starts.</summary>
    public long HeaderEnd { get; set; }

    /// <summary>Offset just after the body. Inside a multipart, the line break before the next boundary belongs to the
    /// boundary (RFC 2046 5.1.1), not to the body.</summary>
    public long BodyEnd { get; set; }

    /// <summary>Lines (line feeds) in the body; kept for TEXT and MESSAGE/RFC822 parts (RFC 3501 7.4.2), otherwise 0.</summary>
    public long Lines { get; set; }

    /// <summary>Media type, upper-case ("TEXT"); text/plain when the header has no valid Content-Type (RFC 2045 5.2).</summary>
    public string Type { get; set; } = "TEXT";

    /// <summary>Media subtype, upper-case ("PLAIN").</summary>
    public string Subtype { get; set; } = "PLAIN";

    /// <summary>Content-Type parameters, names upper-case, values raw; null when there are none.</summary>
    public List<HeaderField>? Parameters { get; set; }

    /// <summary>Content-ID (RFC 2045 7), raw.</summary>
    public string? Id { get; set; }

    /// <summary>Content-Description (RFC 2045 8), raw.</summary>
    public string? Description { get; set; }

    /// <summary>Content-Transfer-Encoding (RFC 2045 6.1), upper-case; null means 7BIT.</summary>
    public string? Encoding { get; set; }

    /// <summary>Content-MD5 (RFC 1864), raw.</summary>
    public string? Md5 { get; set; }

    /// <summary>Content-Disposition type (RFC 2183), upper-case.</summary>
    public string? Disposition { get; set; }

    /// <summary>Content-Disposition parameters, names upper-case.</summary>
    public List<HeaderField>? DispositionParameters { get; set; }

    /// <summary>Content-Language tags (RFC 3282).</summary>
    public List<string>? Languages { get; set; }

    /// <summary>Content-Location (RFC 2557 4.2), raw.</summary>
    public string? Location { get; set; }

    /// <summary>The body parts of a multipart (RFC 2046 5.1); null for any other type.</summary>
    public List<StructurePart>? Parts { get; set; }

    /// <summary>The encapsulated message of a message/rfc822 part (RFC 2046 5.2.1).</summary>
    public StructurePart? Message { get; set; }

    /// <summary>The ENVELOPE (RFC 3501 7.4.2) when this entity is a message: the top-level one or an encapsulated one.</summary>
    public string? Envelope { get; set; }

    /// <summary>Octets in the body: the body size BODYSTRUCTURE reports (RFC 3501 7.4.2).</summary>
    [JsonIgnore, LiteDB.BsonIgnore]
    public long BodySize => BodyEnd - HeaderEnd;

    [JsonIgnore, LiteDB.BsonIgnore]
    public bool IsMultipart => Parts is not null;

    /// <summary>The value of a Content-Type parameter (case-insensitive name), or null.</summary>
    public string? Parameter(string name)
    {
        if (Parameters is null) return null;
        foreach (var p in Parameters)
            if (p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) return p.Value;
        return null;
    }
}
