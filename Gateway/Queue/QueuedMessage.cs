using System.Text.Json.Serialization;
using Gateway.Smtp;

namespace Gateway.Queue;

public enum RecipientState
{
    /// <summary>Not delivered yet; retried at <see cref="QueuedRecipient.NextAttemptUtc"/>.</summary>
    Pending,
    /// <summary>Accepted by the next hop, or delivered to a local mailbox.</summary>
    Delivered,
    /// <summary>Permanently failed (5xx, or the queue lifetime ran out); the sender has been told if asked.</summary>
    Failed,
}

/// <summary>Per-recipient delivery state, saved with the envelope after every attempt.</summary>
public sealed class QueuedRecipient
{
    public required string Address { get; init; }
    public DsnNotify Notify { get; init; }
    public string? OriginalRecipient { get; init; }
    public RecipientState State { get; set; } = RecipientState.Pending;
    public int Attempts { get; set; }
    public DateTimeOffset NextAttemptUtc { get; set; }
    public DateTimeOffset? LastAttemptUtc { get; set; }
    /// <summary>The enhanced status code of the last outcome (RFC 3463), e.g. 4.4.1 or 5.1.1.</summary>
    public string? Status { get; set; }
    /// <summary>The remote server's reply or our reason, for logs and the DSN Diagnostic-Code.</summary>
    public string? Diagnostic { get; set; }
    public string? RemoteMta { get; set; }
    public bool DelayNotified { get; set; }
    /// <summary>Whether a DSN for the final state (failure, or success when asked) has been queued.</summary>
    public bool FinalReported { get; set; }
    /// <summary>The next hop took the message but does not do DSN (RFC 3461 "relayed").</summary>
    public bool Relayed { get; set; }
    /// <summary>An outside recipient whose message this courier holds for the pickup portal (split, content and ARM kept
    /// here): what is still to be delivered is their notification.</summary>
    public bool PortalHeld { get; set; }

    [JsonIgnore] public string Domain => Address[(Address.LastIndexOf('@') + 1)..].ToLowerInvariant();
}

/// <summary>The durable envelope of one queued message (the octets live beside it in a .eml file).</summary>
public sealed class QueuedMessage
{
    public required string Id { get; init; }
    public DateTimeOffset ArrivedUtc { get; init; }
    /// <summary>Reverse path; null for the null sender (bounces), which never get a DSN back.</summary>
    public string? Sender { get; init; }
    public DsnReturn Ret { get; init; }
    public string? EnvelopeId { get; init; }
    public BodyType Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    /// <summary>REQUIRETLS (RFC 8689): relayed only over TLS with a verified certificate, to a next hop that offers
    /// REQUIRETLS (and, by MX, whose MX hosts an MTA-STS policy vouches for); otherwise returned to the sender.</summary>
    public bool RequireTls { get; init; }
    public long Size { get; init; }
    public string? AuthenticatedUser { get; init; }
    public string? ClientAddress { get; init; }
    public string? ClientHelo { get; init; }
    public string? Listener { get; init; }
    /// <summary>Header lines (CRLF-terminated) delivered in front of the received octets: Received:, and any Message-ID:/Date: added on submission.</summary>
    public string PrependedHeaders { get; init; } = "";
    public required List<QueuedRecipient> Recipients { get; init; }
    /// <summary>A mailbox move (Registration Transfer): the folder and flags the user's message had; the recipient's
    /// courier files it there (only for the user's own mail to themselves).</summary>
    public string? FileInto { get; init; }
    public List<string>? Flags { get; init; }

    [JsonIgnore] public bool IsFinished => Recipients.All(r => r.State != RecipientState.Pending);

    /// <summary>
    /// When the message is next due. A message whose recipients are all final but which is still queued (its
    /// reports could not be queued, or a crash came before its removal) is due at once, to finish the job.
    /// </summary>
    [JsonIgnore] public DateTimeOffset NextAttemptUtc =>
        Recipients.Where(r => r.State == RecipientState.Pending).Select(r => r.NextAttemptUtc).DefaultIfEmpty(DateTimeOffset.MinValue).Min();
}
