namespace Gateway.Delivery;

public enum OutcomeKind { Delivered, TransientFailure, PermanentFailure }

/// <summary>What became of one recipient in one delivery attempt.</summary>
public sealed record RecipientOutcome(string Address, OutcomeKind Kind, string Status, string Diagnostic, string? RemoteMta = null, bool Relayed = false)
{
    public static RecipientOutcome Transient(string address, string status, string diagnostic, string? remoteMta = null) =>
        new(address, OutcomeKind.TransientFailure, status, diagnostic, remoteMta);

    public static RecipientOutcome Permanent(string address, string status, string diagnostic, string? remoteMta = null) =>
        new(address, OutcomeKind.PermanentFailure, status, diagnostic, remoteMta);
}

/// <summary>A failure that applies to every recipient of an attempt (DNS, connection, TLS policy).</summary>
public sealed class DeliveryException(bool permanent, string status, string diagnostic, string? remoteMta = null) : Exception(diagnostic)
{
    public bool Permanent { get; } = permanent;
    public string Status { get; } = status;
    public string Diagnostic { get; } = diagnostic;
    public string? RemoteMta { get; } = remoteMta;
}
