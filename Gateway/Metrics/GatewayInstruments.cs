using System.Diagnostics.Metrics;

namespace Gateway.Metrics;

/// <summary>
/// The gateway's measurements, as <see cref="System.Diagnostics.Metrics"/> instruments of one meter ("Gateway"): the
/// components record, knowing nothing of who reads them; <see cref="PrometheusExposition"/> listens and serves them
/// at <c>/metrics</c> (any other listener, e.g. dotnet-counters, can read them too). Tags stay few and bounded:
/// listener names, outcome kinds, never addresses.
/// </summary>
public static class GatewayInstruments
{
    public const string MeterName = "Gateway";
    static readonly Meter Meter = new(MeterName);

    /// <summary>SMTP sessions ended, by listener and whether TLS was in use at the end (tags: listener, tls = yes|no).</summary>
    public static readonly Counter<long> SmtpSessions = Meter.CreateCounter<long>("gateway_smtp_sessions", description: "SMTP sessions ended, by listener and TLS");
    /// <summary>Messages answered 250 after DATA (tag: listener).</summary>
    public static readonly Counter<long> SmtpAccepted = Meter.CreateCounter<long>("gateway_smtp_messages_accepted", description: "Messages accepted (250 after DATA, written with fsync)");
    /// <summary>Messages refused after DATA (tags: listener, class = 4xx|5xx).</summary>
    public static readonly Counter<long> SmtpRefused = Meter.CreateCounter<long>("gateway_smtp_messages_refused", description: "Messages refused after DATA");
    /// <summary>IMAP sessions ended (tag: tls).</summary>
    public static readonly Counter<long> ImapSessions = Meter.CreateCounter<long>("gateway_imap_sessions", description: "IMAP sessions ended");
    /// <summary>Recipient outcomes of delivery attempts (tag: outcome = delivered|deferred|bounced|expired).</summary>
    public static readonly Counter<long> Deliveries = Meter.CreateCounter<long>("gateway_delivery_outcomes", description: "Recipient outcomes of delivery attempts");
    /// <summary>Seconds from acceptance to delivery, per delivered recipient.</summary>
    public static readonly Histogram<double> DeliveryLatency = Meter.CreateHistogram<double>("gateway_delivery_latency_seconds", "s",
        "Seconds from acceptance to delivery, per delivered recipient");
    /// <summary>Key releases by the Background: a recipient opening a protected message (tag: result = released|refused).</summary>
    public static readonly Counter<long> KeyReleases = Meter.CreateCounter<long>("gateway_key_releases", description: "Keys asked for by recipients' Agents (opens), released or refused");
}
