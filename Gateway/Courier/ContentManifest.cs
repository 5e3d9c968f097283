using System.Text.Json;

namespace Gateway.Courier;

/// <summary>
/// What travels beside the content part, under the same signature: the message id, sender and recipients, and the
/// routing header fields (From, To, Cc, Date, Message-ID) that the recipient's mailbox shows before the message is
/// opened. Subject and everything else stay inside the encrypted content.
/// </summary>
public sealed record ContentManifest
{
    public const string MediaType = "application/vnd.gateway.manifest+json";
    public static readonly string[] RoutingHeaders = { "From", "To", "Cc", "Date", "Message-ID" };

    public required string MessageId { get; init; }
    public required string Sender { get; init; }
    public required IReadOnlyList<string> Recipients { get; init; }
    /// <summary>Routing header fields as name/value pairs, in the original order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = Array.Empty<KeyValuePair<string, string>>();
    /// <summary>A mailbox move: the folder and flags the sender's own message had. Honoured only for mail a user sends
    /// to themselves (their own signature), never for anyone else's mailbox.</summary>
    public string? Mailbox { get; init; }
    public IReadOnlyList<string>? Flags { get; init; }

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static ContentManifest Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<ContentManifest>(json, Json) ?? throw new FormatException("the manifest is empty");
            if (string.IsNullOrWhiteSpace(manifest.MessageId) || manifest.Recipients.Count == 0) throw new FormatException("the manifest names no message or no recipient");
            return manifest;
        }
        catch (JsonException ex)
        {
            throw new FormatException("the manifest is not valid JSON: " + ex.Message, ex);
        }
    }
}
