namespace Gateway.Configuration;

/// <summary>
/// The whole configuration of one Gateway process, bound from the <c>Gateway</c> section.
/// Every property has an embedded default so that a first start with no configuration works.
/// </summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>The name this courier announces in greetings, EHLO and Received: headers.</summary>
    public string Hostname { get; set; } = DefaultHostname();

    /// <summary>Where queues, stores and generated certificates live. <c>GATEWAY_DATA_DIR</c> overrides it.</summary>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>The mail domains this courier serves (accepts mail for on the delivery port).</summary>
    public List<string> Domains { get; set; } = new();

    public List<ListenerOptions> Listeners { get; set; } = new();

    /// <summary>
    /// The courier roles this process runs: "agent", "foreground", "background". Empty: all three (one process). A
    /// split courier runs "agent" and "foreground" on one host and "background" on another, or each of the three on a
    /// host of its own; they reach each other only over SMTP and HTTPS, with S/MIME, as two couriers do.
    /// </summary>
    public List<string> Roles { get; set; } = new();

    public const string AgentRole = "agent";
    public const string ForegroundRole = "foreground";
    public const string BackgroundRole = "background";

    /// <summary>Whether this process runs <paramref name="role"/> (<see cref="AgentRole"/>, ...).</summary>
    public bool Runs(string role) => Roles.Count == 0 || Roles.Contains(role, StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether this process runs that element.</summary>
    public bool Runs(Gateway.Crypto.CourierElement element) => Runs(element == Gateway.Crypto.CourierElement.Foreground ? ForegroundRole : BackgroundRole);

    /// <summary>Whether this process can run the pickup portal: the Agent (the outside recipient's reader), the Foreground
    /// and the Background (which keep the content and the ARM) all here, and an HTTPS listener for the links.</summary>
    public bool PortalAvailable => Runs(AgentRole) && Runs(ForegroundRole) && Runs(BackgroundRole) && !string.IsNullOrWhiteSpace(Web.Endpoint);

    /// <summary>How mail to outside recipients leaves by default: <see cref="CourierOptions.Outside"/>, or when it is empty
    /// the pickup portal where it can run, else S/MIME or TLS.</summary>
    public OutsideDelivery EffectiveOutside => Courier.Outside ?? (PortalAvailable ? OutsideDelivery.SmimeOrPortal : OutsideDelivery.SmimeOrTls);

    public TlsOptions Tls { get; set; } = new();

    public SmtpLimitsOptions Limits { get; set; } = new();

    public DeliveryOptions Delivery { get; set; } = new();

    public WebOptions Web { get; set; } = new();

    public CryptoOptions Crypto { get; set; } = new();

    public ImapOptions Imap { get; set; } = new();
    /// <summary>The courier roles: the Agent's split of local users' mail into content part and ARM, restrictions policy.</summary>
    public CourierOptions Courier { get; set; } = new();

    /// <summary>Static routes (like Postfix transport maps): a domain, or "*", to a next hop.</summary>
    public List<RouteOptions> Routes { get; set; } = new();

    /// <summary>How long a graceful shutdown waits for in-flight SMTP transactions.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 30;

    internal static string DefaultHostname()
    {
        try { return System.Net.Dns.GetHostName().ToLowerInvariant(); }
        catch { return "localhost"; }
    }

    /// <summary>The listeners used when the configuration names none.</summary>
    internal static List<ListenerOptions> DefaultListeners() => new()
    {
        new() { Name = "delivery", Endpoint = "0.0.0.0:2525", Role = ListenerRole.Delivery, Tls = TlsMode.StartTls },
        new() { Name = "submission", Endpoint = "0.0.0.0:2587", Role = ListenerRole.Submission, Tls = TlsMode.StartTls },
        new() { Name = "submissions", Endpoint = "0.0.0.0:2465", Role = ListenerRole.Submission, Tls = TlsMode.Implicit },
        new() { Name = "imap", Endpoint = "0.0.0.0:2143", Role = ListenerRole.Imap, Tls = TlsMode.StartTls },
        new() { Name = "imaps", Endpoint = "0.0.0.0:2993", Role = ListenerRole.Imap, Tls = TlsMode.Implicit },
    };
}

public enum ListenerRole
{
    /// <summary>Port 25 semantics: MX for the served domains and peer couriers; no relaying.</summary>
    Delivery,
    /// <summary>Port 587/465 semantics (RFC 6409): AUTH required, relaying for authenticated users.</summary>
    Submission,
    /// <summary>IMAP4rev1 (RFC 3501) for local users; LOGIN and AUTHENTICATE only over TLS.</summary>
    Imap,
}

public enum TlsMode
{
    /// <summary>No TLS offered (only sensible on loopback test listeners).</summary>
    None,
    /// <summary>STARTTLS offered (RFC 3207).</summary>
    StartTls,
    /// <summary>TLS from the first byte (RFC 8314).</summary>
    Implicit,
}

public sealed class ListenerOptions
{
    public string Name { get; set; } = "";
    /// <summary>address:port, e.g. <c>0.0.0.0:2525</c> or <c>[::]:2525</c>.</summary>
    public string Endpoint { get; set; } = "";
    public ListenerRole Role { get; set; } = ListenerRole.Delivery;
    public TlsMode Tls { get; set; } = TlsMode.StartTls;
    /// <summary>
    /// The port mail programs reach this listener at, when a NAT or port redirect maps another one onto
    /// <see cref="Endpoint"/> (e.g. 993 -> 2993). Client autoconfiguration (Thunderbird autoconfig, Outlook
    /// Autodiscover) announces it; empty means the endpoint's own port.
    /// </summary>
    public int? PublicPort { get; set; }
}

/// <summary>Limits of the IMAP server (RFC 3501, RFC 2087 QUOTA).</summary>
public sealed class ImapOptions
{
    /// <summary>Longest command line (without literals), in octets.</summary>
    public int MaxLineLength { get; set; } = 64 * 1024;
    /// <summary>Largest literal a client may send (APPEND size); larger announcements get a BAD without being read.</summary>
    public long MaxLiteralSize { get; set; } = 50L * 1024 * 1024;
    /// <summary>Autologout timer: an idle authenticated session is closed after this many minutes (RFC 3501 5.4: at least 30).</summary>
    public int IdleTimeoutMinutes { get; set; } = 30;
    /// <summary>Concurrent IMAP sessions per user (Thunderbird opens up to 5 by default).</summary>
    public int MaxConnectionsPerUser { get; set; } = 20;
    /// <summary>Storage quota per user in KiB (RFC 2087 STORAGE); 0 means unlimited.</summary>
    public long QuotaKilobytes { get; set; } = 1024 * 1024;
}

/// <summary>Key material choices.</summary>
public sealed class CryptoOptions
{
    /// <summary>Key type of users' S/MIME certificates: EcP256 (default, ECDSA/ECDH) or Rsa3072 (for old mail clients).</summary>
    public Gateway.Crypto.KeyAlgorithm UserKeyAlgorithm { get; set; } = Gateway.Crypto.KeyAlgorithm.EcP256;
}

/// <summary>The HTTPS listener: CRL publication and health now; registration, status and autoconfig pages later.</summary>
public sealed class WebOptions
{
    /// <summary>address:port of the HTTPS listener; empty switches it off.</summary>
    public string Endpoint { get; set; } = "0.0.0.0:8443";
    /// <summary>The URL others reach it at (goes into certificates as the CRL location). Default: https://HOSTNAME:PORT.</summary>
    public string? PublicUrl { get; set; }
    /// <summary>Networks (CIDR) whose clients may read <c>/metrics</c>; empty switches it off. Unset: this host only
    /// (<see cref="MetricsNetworks"/>). Not initialised here: configuration binding would add to the list, not replace it.</summary>
    public List<string>? MetricsAllowedNetworks { get; set; }

    public IReadOnlyList<string> MetricsNetworks => MetricsAllowedNetworks ?? new List<string> { "127.0.0.0/8", "::1/128" };
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) or PFX file. Empty: a self-signed certificate is generated in the data directory.</summary>
    public string? CertificatePath { get; set; }
    /// <summary>PEM private key, when <see cref="CertificatePath"/> is a PEM without the key.</summary>
    public string? KeyPath { get; set; }
    /// <summary>Password of the PFX or of an encrypted PEM key.</summary>
    public string? Password { get; set; }
}

public sealed class SmtpLimitsOptions
{
    /// <summary>Largest message accepted, in octets (advertised with SIZE and enforced on the stream).</summary>
    public long MaxMessageSize { get; set; } = 35 * 1024 * 1024;
    /// <summary>Longest command or text line, including CRLF (RFC 5321 4.5.3.1.4 and 4.5.3.1.6).</summary>
    public int MaxLineLength { get; set; } = 1000;
    public int MaxRecipients { get; set; } = 100;
    /// <summary>Seconds a client has to send a complete command line.</summary>
    public int CommandTimeoutSeconds { get; set; } = 300;
    /// <summary>The time budget for one DATA or BDAT request: it starts at this many seconds, is spent while waiting for
    /// octets and earned back at 1 s per <see cref="MinDataRateBytesPerSecond"/> octets received, never above this
    /// (see <see cref="Smtp.TransferDeadline"/>). Also the longest silence tolerated.</summary>
    public int DataTimeoutSeconds { get; set; } = 180;
    /// <summary>The slowest message transfer tolerated, in octets per second (Postfix's smtpd_min_data_rate); a client
    /// trickling slower runs out of <see cref="DataTimeoutSeconds"/> and is cut off. 0: only silence is timed.</summary>
    public int MinDataRateBytesPerSecond { get; set; } = 500;
    /// <summary>NOOP, RSET, VRFY, EXPN and HELP tolerated between two accepted messages before the session is closed
    /// (Postfix's smtpd_junk_command_limit): they would otherwise keep a connection open for ever without mail.</summary>
    public int MaxJunkCommands { get; set; } = 100;
    public int MaxConnections { get; set; } = 2000;
    public int MaxConnectionsPerAddress { get; set; } = 20;
    /// <summary>Unknown or out-of-sequence commands tolerated before the session is closed.</summary>
    public int MaxBadCommands { get; set; } = 10;
    /// <summary>Failed AUTH attempts from one address (or for one account) before a lockout.</summary>
    public int MaxAuthFailures { get; set; } = 5;
    public int AuthLockoutSeconds { get; set; } = 300;
    /// <summary>Delay added to every failed AUTH reply, multiplied by the failure count.</summary>
    public int AuthFailureDelayMilliseconds { get; set; } = 1000;
}

public sealed class DeliveryOptions
{
    /// <summary>DNS servers (address or address:port) for MX lookups; empty uses the system resolver.</summary>
    public List<string> DnsServers { get; set; } = new();
    /// <summary>TCP port used when delivering to an MX host (25 in production; tests point it elsewhere).</summary>
    public int MxPort { get; set; } = 25;
    /// <summary>Outbound TLS: Opportunistic (STARTTLS when offered) or Required (fail and retry without it).</summary>
    public OutboundTls Tls { get; set; } = OutboundTls.Opportunistic;
    public int ConcurrentDeliveries { get; set; } = 8;
    /// <summary>Seconds an outbound connection stays open for the next message to the same next hop; 0 closes after each message.</summary>
    public int ConnectionReuseSeconds { get; set; } = 5;
    public int FirstRetrySeconds { get; set; } = 60;
    public int MaxRetrySeconds { get; set; } = 3600;
    /// <summary>A message not delivered after this long is bounced.</summary>
    public int MaxQueueAgeSeconds { get; set; } = 5 * 24 * 3600;
    /// <summary>After this long undelivered, the sender gets one "delayed" DSN.</summary>
    public int DelayWarningSeconds { get; set; } = 4 * 3600;
    public int ConnectTimeoutSeconds { get; set; } = 30;
    public int CommandTimeoutSeconds { get; set; } = 300;
    /// <summary>Honour recipient domains' MTA-STS policies (RFC 8461) for mail sent by MX: under an enforced policy,
    /// only the MX hosts it names, over TLS with a verified certificate, or not at all (the message waits).</summary>
    public bool MtaSts { get; set; } = true;
    /// <summary>The port MTA-STS policies are fetched from (<c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c>);
    /// RFC 8461 fixes 443, change it only to test.</summary>
    public int MtaStsPolicyPort { get; set; } = 443;
    /// <summary>A PEM file of certificate authorities trusted for outbound TLS (Tls = Verify, MTA-STS) besides the
    /// system's: a private PKI. Empty: the system's only.</summary>
    public string? TrustedCertificatesPath { get; set; }
}

public enum OutboundTls
{
    /// <summary>No STARTTLS (test setups only).</summary>
    None,
    /// <summary>STARTTLS when the server offers it; the certificate is not verified.</summary>
    Opportunistic,
    /// <summary>STARTTLS must succeed; delivery is deferred otherwise.</summary>
    Required,
    /// <summary>STARTTLS must succeed and the certificate must verify against the system roots.</summary>
    Verify,
}

public sealed class RouteOptions
{
    /// <summary>A domain (<c>example.org</c>), a subdomain wildcard (<c>.example.org</c>) or <c>*</c> for everything.</summary>
    public string Domain { get; set; } = "";
    /// <summary>Next hop host name or address; MX is not looked up for it.</summary>
    public string Host { get; set; } = "";
    public int Port { get; set; } = 25;
    /// <summary>Overrides <see cref="DeliveryOptions.Tls"/> for this route; empty inherits it.</summary>
    public OutboundTls? Tls { get; set; }
    /// <summary>Implicit TLS to the next hop (port 465 style).</summary>
    public bool ImplicitTls { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
}

/// <summary>Restrictions a policy level imposes; unset fields leave the level above in force.</summary>
public sealed class RestrictionPolicyOptions
{
    /// <summary>Messages stop opening this many days after they are sent.</summary>
    public int? ExpiresAfterDays { get; set; }
    /// <summary>Opens allowed per recipient.</summary>
    public int? MaxOpens { get; set; }
    public bool? NoForward { get; set; }
    public bool? ReceiptWanted { get; set; }
}

/// <summary>How mail from local users leaves for recipients no courier serves (the Internet at large).</summary>
public enum OutsideDelivery
{
    /// <summary>S/MIME to the recipient's approved certificate when one is known, else plain over TLS that must succeed.</summary>
    SmimeOrTls,
    /// <summary>S/MIME to the recipient's approved certificate only; without one the message is held, then bounced.</summary>
    Smime,
    /// <summary>Plain, but only over TLS (STARTTLS must succeed; Verify when the route asks for it).</summary>
    Tls,
    /// <summary>Never delivered outside: held in the queue, then bounced with the reason.</summary>
    Hold,
    /// <summary>The content and its ARM stay at this courier; the recipient gets a notification with a link to the
    /// pickup portal, where they prove their address and read the message under the sender's restrictions.</summary>
    Portal,
    /// <summary>S/MIME to the recipient's approved certificate when one is known, else the pickup portal (the default
    /// when the Agent, Foreground and Background run in one process).</summary>
    SmimeOrPortal,
}

/// <summary>The pickup portal for outside recipients (<c>Courier:Portal</c>).</summary>
public sealed class PortalOptions
{
    /// <summary>Whether the notification names the original subject (it carries no content otherwise).</summary>
    public bool ShowSubject { get; set; }
    /// <summary>Days a pickup link works when the message itself does not expire sooner.</summary>
    public double LinkDays { get; set; } = 30;
    /// <summary>Days a browser the recipient chose to trust skips the code for their address (0: never remembered).</summary>
    public double TrustedBrowserDays { get; set; } = 30;
    /// <summary>Minutes a proven address stays proven in one browser without "remember" (and a view's attachments stay
    /// downloadable).</summary>
    public int SessionMinutes { get; set; } = 30;
    /// <summary>Remote images and other remote content in HTML mail are blocked; true shows https images as sent.</summary>
    public bool AllowRemoteImages { get; set; }
}

public sealed class CourierOptions
{
    /// <summary>
    /// Split local users' submissions into a content part (Foreground) and an ARM (Background). When false, mail
    /// between local users is stored as submitted (a plain relay, used as the benchmark baseline).
    /// </summary>
    public bool Split { get; set; } = true;
    /// <summary>On first start without a courier CA, make this courier the Root of its own network (a standalone courier).</summary>
    public bool CreateRootOnFirstStart { get; set; } = true;
    /// <summary>Days a part for an unknown local recipient is held before the sender is told (DSN) and it is removed (fractions allowed).</summary>
    public double PendingDays { get; set; } = 7;
    /// <summary>Seconds between two looks at the held parts (recipients who have become users get them).</summary>
    public int PendingCheckSeconds { get; set; } = 60;
    /// <summary>Days a part an element refused (a forged or broken message) is kept in its inbox's <c>rejected/</c> for
    /// the operator to look at before it is deleted (fractions allowed).</summary>
    public double RejectedRetentionDays { get; set; } = 14;
    /// <summary>How many of the Agent's parts the Foreground, and the Background, each handle at once (their other
    /// traffic, such as accounts, Introductions and Key Replacement messages, is handled one at a time, alone).</summary>
    public int ElementConcurrency { get; set; } = 4;
    /// <summary>Hours an Inter-Courier message (and a Distribute Account or Key Replacement message between this courier's
    /// hosts) may have travelled: an older one is refused as a replay. Keep it above the senders' Delivery:MaxQueueAgeSeconds.</summary>
    public double InterCourierMaxAgeHours { get; set; } = 168;
    /// <summary>Policy for every sender; Domains and Users override it field by field (global, then domain, then user).</summary>
    public RestrictionPolicyOptions Restrictions { get; set; } = new();
    public Dictionary<string, RestrictionPolicyOptions> DomainRestrictions { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, RestrictionPolicyOptions> UserRestrictions { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>How local users' mail reaches recipients outside (not served by any courier). Never plaintext without TLS.
    /// Empty: <see cref="OutsideDelivery.SmimeOrPortal"/> when the Agent, Foreground and Background run in this process,
    /// else <see cref="OutsideDelivery.SmimeOrTls"/> (see <see cref="EffectiveOutside"/>).</summary>
    public OutsideDelivery? Outside { get; set; }
    /// <summary>The pickup portal for outside recipients.</summary>
    public PortalOptions Portal { get; set; } = new();
    /// <summary>Per recipient domain, overriding <see cref="Outside"/>.</summary>
    public Dictionary<string, OutsideDelivery> OutsideDomains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// host:port where peer couriers reach this courier's Foreground and Background (its delivery listener as seen from
    /// them). Empty: the host name and the port of the first Delivery listener.
    /// </summary>
    public string? Endpoint { get; set; }
    /// <summary>
    /// host:port where peer couriers reach this courier's Background, when it is not <see cref="Endpoint"/> (another
    /// delivery listener, or the Background's own host): the two parts of a message then arrive on different paths.
    /// Empty: the same as <see cref="Endpoint"/>.
    /// </summary>
    public string? BackgroundEndpoint { get; set; }
    /// <summary>
    /// With the Background on another host (Roles without "background"): the https:// address of its web listener,
    /// where the Agent asks for recipients' ARMs (<c>/courier/key-release</c>).
    /// </summary>
    public string? BackgroundUrl { get; set; }
    /// <summary>
    /// With the Foreground on another host (Roles with "agent" but without "foreground"): the https:// address of its web
    /// listener, where the Agent asks which addresses the courier network serves (<c>/courier/reach</c>) and where the
    /// registration page checks and claims Invitation links (<c>/courier/registration</c>).
    /// </summary>
    public string? ForegroundUrl { get; set; }
    /// <summary>
    /// With the Agent on another host (Roles with "foreground" but without "agent"): host:port of the Agent's host's
    /// delivery listener, where the Foreground delivers the content parts it re-wrapped for local users.
    /// </summary>
    public string? AgentEndpoint { get; set; }
    /// <summary>
    /// With the Agent on another host: the https:// address of its web listener, where invited people register (the
    /// link in an Invitation points there).
    /// </summary>
    public string? AgentUrl { get; set; }
    /// <summary>Whether unknown addresses are invited (Invitation). Empty: a Public courier invites, the Root and others do not.</summary>
    public bool? Invite { get; set; }
    /// <summary>Days a registration link in an Invitation stays valid.</summary>
    public double InvitationDays { get; set; } = 14;
    /// <summary>Seconds a peer courier's CRL is used before it is fetched again from its distribution point.</summary>
    public int PeerCrlMaxAgeSeconds { get; set; } = 3600;
    /// <summary>
    /// Key Replacement before expiry: a user's certificate, or the elements' introduction certificates, with fewer days
    /// left than this are replaced (the old keys kept). 0: only by hand (<c>gateway rekey</c>).
    /// </summary>
    public double RekeyDaysBeforeExpiry { get; set; } = 30;
    /// <summary>Seconds before the first retry of an Inter-Courier message a peer did not take; doubled each time up to an hour.</summary>
    public int PeerFirstRetrySeconds { get; set; } = 5;
}
