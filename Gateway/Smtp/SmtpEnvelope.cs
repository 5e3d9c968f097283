namespace Gateway.Smtp;

/// <summary>DSN NOTIFY values (RFC 3461 4.1). None means the parameter was absent (the MTA's default applies).</summary>
[Flags]
public enum DsnNotify
{
    None = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>DSN RET (RFC 3461 4.3).</summary>
public enum DsnReturn { Unspecified, Full, Headers }

/// <summary>The BODY parameter (RFC 6152, RFC 3030).</summary>
public enum BodyType { Unspecified, SevenBit, EightBitMime, BinaryMime }

public sealed record SmtpRecipient(SmtpMailbox Mailbox, DsnNotify Notify, string? OriginalRecipient);

/// <summary>Everything the SMTP transaction learnt about a message, handed to the store on commit.</summary>
public sealed class SmtpEnvelope
{
    /// <summary>The reverse path; null for the null sender <c>&lt;&gt;</c>.</summary>
    public SmtpMailbox? Sender { get; init; }
    public required IReadOnlyList<SmtpRecipient> Recipients { get; init; }
    public DsnReturn Ret { get; init; }
    public string? EnvelopeId { get; init; }
    public BodyType Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    /// <summary>MAIL FROM carried REQUIRETLS (RFC 8689).</summary>
    public bool RequireTls { get; init; }
    public long Size { get; init; }
    /// <summary>Header lines (each ending in CRLF) that go in front of the received bytes: Received:, and on submission a missing Message-ID:/Date:.</summary>
    public required string PrependedHeaders { get; init; }
    public required SmtpSessionInfo Session { get; init; }
}
