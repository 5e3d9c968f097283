using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Courier;

/// <summary>
/// The Access Restrictions Message (ARM): what the Background carries instead of content. It names the message,
/// carries its CEK and the sender's restrictions, and binds itself to exactly one content part by that part's
/// SHA-256, so that an ARM replayed for another message opens nothing. It travels as <c>application/json</c>
/// inside S/MIME: signed by the sender, encrypted hop by hop.
/// </summary>
public sealed record AccessRestrictionsMessage
{
    public const string MediaType = "application/vnd.gateway.arm+json";
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    /// <summary>The courier message id: the content part's KEK identifier.</summary>
    public required string MessageId { get; init; }
    /// <summary>The RFC 5322 Message-ID of the user's message, for receipts and the status page.</summary>
    public string? InternetMessageId { get; init; }
    public required byte[] Cek { get; init; }
    public required byte[] ContentDigest { get; init; }
    public required string Sender { get; init; }
    public required IReadOnlyList<string> Recipients { get; init; }
    public DateTimeOffset CreatedUtc { get; init; }
    public AccessRestrictions Restrictions { get; init; } = AccessRestrictions.None;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <exception cref="FormatException">Not an ARM this version understands.</exception>
    public static AccessRestrictionsMessage Parse(ReadOnlySpan<byte> json)
    {
        AccessRestrictionsMessage? arm;
        try
        {
            arm = JsonSerializer.Deserialize<AccessRestrictionsMessage>(json, Json);
        }
        catch (JsonException ex)
        {
            throw new FormatException("the ARM is not valid JSON: " + ex.Message, ex);
        }
        if (arm is null) throw new FormatException("the ARM is empty");
        if (arm.Version != CurrentVersion) throw new FormatException($"ARM version {arm.Version} is not supported (this courier reads {CurrentVersion})");
        if (arm.Cek.Length != ContentPart.CekBytes) throw new FormatException("the ARM's CEK is not an AES-256 key");
        if (arm.ContentDigest.Length != 32) throw new FormatException("the ARM's content digest is not a SHA-256");
        if (string.IsNullOrWhiteSpace(arm.MessageId) || arm.Recipients.Count == 0) throw new FormatException("the ARM names no message or no recipient");
        return arm;
    }

    /// <summary>The ARM as the MIME part that is signed and encrypted for each hop.</summary>
    public MimeKit.MimePart ToEntity() => CourierMime.Part(MediaType, ToJson());

    /// <summary>Reads the ARM from an opened entity.</summary>
    /// <exception cref="PartRejectedException">The entity is not an ARM part.</exception>
    /// <exception cref="FormatException">It is, but not one this version understands.</exception>
    public static AccessRestrictionsMessage FromEntity(MimeKit.MimeEntity entity) =>
        entity is MimeKit.MimePart { ContentType.MimeType: MediaType } part && part.Content is not null
            ? Parse(CourierMime.Decode(part))
            : throw new PartRejectedException("the signed entity is not an ARM");

    /// <summary>The same ARM without its key, for logs and stores that must never hold a CEK.</summary>
    public override string ToString() => $"ARM {MessageId} from {Sender} to {Recipients.Count} recipient(s), restrictions: {Restrictions}";
}
