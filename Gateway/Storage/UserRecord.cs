namespace Gateway.Storage;

/// <summary>A local user: the mail address they log in with and receive at.</summary>
public sealed class UserRecord
{
    /// <summary>LiteDB key: the lower-cased address.</summary>
    public string Id { get; set; } = "";
    public string Address { get; set; } = "";
    public string PasswordHash { get; set; } = "";
    public DateTime CreatedUtc { get; set; }
    public DateTime PasswordChangedUtc { get; set; }
}
