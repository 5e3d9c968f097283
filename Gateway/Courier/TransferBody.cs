using System.Text.Json;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// The payload of a Registration Transfer message between two Foregrounds (inside the Inter-Courier envelope: signed
/// by the sending Foreground, encrypted to the receiving one). A Transfer Subscription carries the account (password
/// hash, creation time) and the user's key and certificate, so that mail encrypted to the old key can still be opened
/// where the user goes; a Configuration Update the new courier's endpoints and the user's new certificate; a Transfer
/// Complete only the ids.
/// </summary>
public sealed record TransferBody
{
    public const string MediaType = "application/vnd.gateway.transfer+json";

    /// <summary>The old courier's id of this transfer; every answer names it.</summary>
    public string TransferId { get; init; } = "";
    public string Address { get; init; } = "";
    public string? PasswordHash { get; init; }
    public DateTime? CreatedUtc { get; init; }
    /// <summary>DER of the user's certificate (old courier: the one to keep; new courier: the new one).</summary>
    public byte[]? Certificate { get; init; }
    /// <summary>PKCS#8 of the user's private key (Transfer Subscription only).</summary>
    public byte[]? PrivateKey { get; init; }
    public Gateway.Crypto.KeyAlgorithm? KeyAlgorithm { get; init; }
    public string? ForegroundEndpoint { get; init; }
    public string? BackgroundEndpoint { get; init; }

    public MimePart ToPart() => CourierMime.Part(MediaType, JsonSerializer.SerializeToUtf8Bytes(this));

    public static TransferBody From(MimeEntity payload)
    {
        if (payload is not MimePart { ContentType.MimeType: MediaType } part) throw new PartRejectedException("the transfer message carries no transfer body");
        try { return JsonSerializer.Deserialize<TransferBody>(CourierMime.Decode(part)) ?? throw new PartRejectedException("the transfer body is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the transfer body is not valid: " + ex.Message, ex); }
    }
}
