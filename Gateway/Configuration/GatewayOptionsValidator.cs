using System.Net;
using System.Text.RegularExpressions;

namespace Gateway.Configuration;

/// <summary>Checks a bound <see cref="GatewayOptions"/>; each problem is one line: key, what is wrong, the fix.</summary>
public static partial class GatewayOptionsValidator
{
    [GeneratedRegex(@"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex HostnamePattern();

    public static List<string> Validate(GatewayOptions o)
    {
        var p = new List<string>();
        const string g = GatewayOptions.SectionName;

        if (!IsHostname(o.Hostname))
            p.Add($"{g}:Hostname: '{o.Hostname}' is not a valid host name; fix: set it to the fully qualified name clients connect to, e.g. mail.example.org.");
        if (string.IsNullOrWhiteSpace(o.DataDirectory))
            p.Add($"{g}:DataDirectory: empty; fix: set a writable directory, or the {GatewayOptionsLoader.DataDirEnvironmentVariable} environment variable.");

        for (var i = 0; i < o.Domains.Count; i++)
            if (!IsHostname(o.Domains[i]))
                p.Add($"{g}:Domains:{i}: '{o.Domains[i]}' is not a valid domain; fix: use a domain name such as example.org.");

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var endpoints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < o.Listeners.Count; i++)
        {
            var l = o.Listeners[i];
            var key = $"{g}:Listeners:{i}";
            if (string.IsNullOrWhiteSpace(l.Name))
                p.Add($"{key}:Name: empty; fix: give the listener a name such as delivery or submission.");
            else if (!names.Add(l.Name))
                p.Add($"{key}:Name: '{l.Name}' is used twice; fix: give each listener its own name.");
            if (!TryParseEndpoint(l.Endpoint, out _))
                p.Add($"{key}:Endpoint: '{l.Endpoint}' is not address:port; fix: write e.g. 0.0.0.0:2525, 127.0.0.1:2587 or [::]:2465.");
            else if (!endpoints.Add(l.Endpoint))
                p.Add($"{key}:Endpoint: '{l.Endpoint}' is used by another listener; fix: give each listener its own port.");
            if (l.PublicPort is { } publicPort)
                Port(p, $"{key}:PublicPort", publicPort);
            if (l.Role == ListenerRole.Imap && l.Tls == TlsMode.None)
                p.Add($"{key}:Tls: an Imap listener without TLS could never accept LOGIN (it is only allowed over TLS); fix: set Tls to StartTls or Implicit.");
            if (l.Role == ListenerRole.Submission && l.Tls == TlsMode.None)
                p.Add($"{key}:Tls: a Submission listener without TLS could never accept AUTH (AUTH is only offered over TLS); fix: set Tls to StartTls or Implicit.");
        }

        if (!string.IsNullOrWhiteSpace(o.Tls.CertificatePath) && !File.Exists(o.Tls.CertificatePath))
            p.Add($"{g}:Tls:CertificatePath: file '{o.Tls.CertificatePath}' does not exist; fix: point it at a PEM or PFX file, or remove it to use the generated certificate.");
        if (!string.IsNullOrWhiteSpace(o.Tls.KeyPath) && !File.Exists(o.Tls.KeyPath))
            p.Add($"{g}:Tls:KeyPath: file '{o.Tls.KeyPath}' does not exist; fix: point it at the PEM private key of the certificate.");
        if (!string.IsNullOrWhiteSpace(o.Tls.KeyPath) && string.IsNullOrWhiteSpace(o.Tls.CertificatePath))
            p.Add($"{g}:Tls:KeyPath: set without CertificatePath; fix: set CertificatePath to the matching PEM certificate.");

        var imap = o.Imap;
        if (imap.MaxLineLength is < 1000 or > 1024 * 1024)
            p.Add($"{g}:Imap:MaxLineLength: {imap.MaxLineLength} is outside 1000..1048576; fix: use 65536.");
        Positive(p, $"{g}:Imap:MaxLiteralSize", imap.MaxLiteralSize, "52428800 (50 MiB)");
        if (imap.IdleTimeoutMinutes < 30)
            p.Add($"{g}:Imap:IdleTimeoutMinutes: {imap.IdleTimeoutMinutes} is under the 30 minutes RFC 3501 5.4 requires; fix: use 30 or more.");
        Positive(p, $"{g}:Imap:MaxConnectionsPerUser", imap.MaxConnectionsPerUser, "20");
        if (imap.QuotaKilobytes < 0)
            p.Add($"{g}:Imap:QuotaKilobytes: negative; fix: use 0 for no quota or a size in KiB such as 1048576 (1 GiB).");

        var lim = o.Limits;
        Positive(p, $"{g}:Limits:MaxMessageSize", lim.MaxMessageSize, "35651584 (35 MiB)");
        if (lim.MaxLineLength is < 512 or > 65536)
            p.Add($"{g}:Limits:MaxLineLength: {lim.MaxLineLength} is outside 512..65536; fix: use 1000 (RFC 5321 4.5.3.1.6).");
        Positive(p, $"{g}:Limits:MaxRecipients", lim.MaxRecipients, "100");
        Positive(p, $"{g}:Limits:CommandTimeoutSeconds", lim.CommandTimeoutSeconds, "300");
        Positive(p, $"{g}:Limits:DataTimeoutSeconds", lim.DataTimeoutSeconds, "180");
        if (lim.MinDataRateBytesPerSecond < 0)
            p.Add($"{g}:Limits:MinDataRateBytesPerSecond: negative; fix: use 500 (0 times only silence).");
        Positive(p, $"{g}:Limits:MaxJunkCommands", lim.MaxJunkCommands, "100");
        Positive(p, $"{g}:Limits:MaxConnections", lim.MaxConnections, "2000");
        Positive(p, $"{g}:Limits:MaxConnectionsPerAddress", lim.MaxConnectionsPerAddress, "20");
        Positive(p, $"{g}:Limits:MaxBadCommands", lim.MaxBadCommands, "10");
        Positive(p, $"{g}:Limits:MaxAuthFailures", lim.MaxAuthFailures, "5");
        Positive(p, $"{g}:Limits:AuthLockoutSeconds", lim.AuthLockoutSeconds, "300");
        if (lim.AuthFailureDelayMilliseconds < 0)
            p.Add($"{g}:Limits:AuthFailureDelayMilliseconds: negative; fix: use 0 or more, e.g. 1000.");

        var d = o.Delivery;
        for (var i = 0; i < d.DnsServers.Count; i++)
            if (!TryParseEndpoint(d.DnsServers[i], out _) && !IPAddress.TryParse(d.DnsServers[i], out _))
                p.Add($"{g}:Delivery:DnsServers:{i}: '{d.DnsServers[i]}' is not an IP address or address:port; fix: write e.g. 127.0.0.1 or 127.0.0.1:5353.");
        Port(p, $"{g}:Delivery:MxPort", d.MxPort);
        Positive(p, $"{g}:Delivery:ConcurrentDeliveries", d.ConcurrentDeliveries, "8");
        if (d.ConnectionReuseSeconds < 0)
            p.Add($"{g}:Delivery:ConnectionReuseSeconds: negative; fix: use 0 (no reuse) or more, e.g. 5.");
        Positive(p, $"{g}:Delivery:FirstRetrySeconds", d.FirstRetrySeconds, "60");
        Positive(p, $"{g}:Delivery:MaxRetrySeconds", d.MaxRetrySeconds, "3600");
        Positive(p, $"{g}:Delivery:MaxQueueAgeSeconds", d.MaxQueueAgeSeconds, "432000 (5 days)");
        Positive(p, $"{g}:Delivery:DelayWarningSeconds", d.DelayWarningSeconds, "14400 (4 hours)");
        Positive(p, $"{g}:Delivery:ConnectTimeoutSeconds", d.ConnectTimeoutSeconds, "30");
        Positive(p, $"{g}:Delivery:CommandTimeoutSeconds", d.CommandTimeoutSeconds, "300");
        if (d.MaxRetrySeconds < d.FirstRetrySeconds)
            p.Add($"{g}:Delivery:MaxRetrySeconds: smaller than FirstRetrySeconds; fix: make it at least {d.FirstRetrySeconds}.");

        for (var i = 0; i < o.Routes.Count; i++)
        {
            var r = o.Routes[i];
            var key = $"{g}:Routes:{i}";
            var domain = r.Domain.Trim();
            if (domain != "*" && !IsHostname(domain.TrimStart('.')))
                p.Add($"{key}:Domain: '{r.Domain}' is not a domain; fix: write example.org, .example.org (subdomains) or * (everything).");
            if (!IsHostname(r.Host) && !IPAddress.TryParse(r.Host.Trim('[', ']'), out _))
                p.Add($"{key}:Host: '{r.Host}' is not a host name or address; fix: name the next hop, e.g. smtp.example.org or 127.0.0.1.");
            Port(p, $"{key}:Port", r.Port);
            if (!string.IsNullOrEmpty(r.Username) && string.IsNullOrEmpty(r.Password))
                p.Add($"{key}:Password: Username is set but Password is empty; fix: set both or neither.");
        }

        if (!string.IsNullOrWhiteSpace(o.Web.Endpoint))
        {
            if (!TryParseEndpoint(o.Web.Endpoint, out _))
                p.Add($"{g}:Web:Endpoint: '{o.Web.Endpoint}' is not address:port; fix: write e.g. 0.0.0.0:8443, or leave it empty to switch HTTPS off.");
            else if (endpoints.Contains(o.Web.Endpoint))
                p.Add($"{g}:Web:Endpoint: '{o.Web.Endpoint}' is also an SMTP listener's; fix: give HTTPS its own port.");
        }
        foreach (var network in o.Web.MetricsNetworks.Where(n => !System.Net.IPNetwork.TryParse(n, out _)))
            p.Add($"{g}:Web:MetricsAllowedNetworks: '{network}' is not a network in CIDR notation; fix: write e.g. 10.0.0.0/8 or 127.0.0.1/32.");
        if (!string.IsNullOrWhiteSpace(o.Web.PublicUrl) && !(Uri.TryCreate(o.Web.PublicUrl, UriKind.Absolute, out var url) && url.Scheme == "https"))
            p.Add($"{g}:Web:PublicUrl: '{o.Web.PublicUrl}' is not an https:// URL; fix: write e.g. https://mx.example.org:8443.");

        if (!(o.Courier.PendingDays > 0) || o.Courier.PendingDays > 365)
            p.Add($"{g}:Courier:PendingDays: {o.Courier.PendingDays} is out of range; fix: use a number of days above 0 and at most 365, e.g. 7.");
        if (o.Courier.RekeyDaysBeforeExpiry is < 0 or > 365 || double.IsNaN(o.Courier.RekeyDaysBeforeExpiry))
            p.Add($"{g}:Courier:RekeyDaysBeforeExpiry: {o.Courier.RekeyDaysBeforeExpiry} is out of range; fix: use 0 (replace keys only with 'gateway rekey') to 365, e.g. 30.");
        if (!(o.Courier.RejectedRetentionDays > 0) || o.Courier.RejectedRetentionDays > 3650)
            p.Add($"{g}:Courier:RejectedRetentionDays: {o.Courier.RejectedRetentionDays} is out of range; fix: use a number of days above 0 and at most 3650, e.g. 14.");
        if (o.Courier.ElementConcurrency is < 1 or > 64)
            p.Add($"{g}:Courier:ElementConcurrency: {o.Courier.ElementConcurrency} is out of range; fix: use 1 (one part at a time) to 64, e.g. 4.");
        if (!(o.Courier.InterCourierMaxAgeHours >= 1))
            p.Add($"{g}:Courier:InterCourierMaxAgeHours: {o.Courier.InterCourierMaxAgeHours} is under an hour; fix: use 168 (a week), above Delivery:MaxQueueAgeSeconds.");
        else if (o.Courier.InterCourierMaxAgeHours * 3600 < o.Delivery.MaxQueueAgeSeconds)
            p.Add($"{g}:Courier:InterCourierMaxAgeHours: {o.Courier.InterCourierMaxAgeHours} hours is shorter than Delivery:MaxQueueAgeSeconds ({o.Delivery.MaxQueueAgeSeconds} s), so a message retried that long would be refused as a replay; fix: raise it to at least {Math.Ceiling(o.Delivery.MaxQueueAgeSeconds / 3600.0)}.");
        if (o.Courier.PendingCheckSeconds is < 1 or > 86400)
            p.Add($"{g}:Courier:PendingCheckSeconds: {o.Courier.PendingCheckSeconds} is out of range; fix: use 1 to 86400, e.g. 60.");
        if (!string.IsNullOrWhiteSpace(o.Courier.Endpoint) && !TryParseHostPort(o.Courier.Endpoint, out _, out _))
            p.Add($"{g}:Courier:Endpoint: '{o.Courier.Endpoint}' is not host:port; fix: e.g. mx.example.org:25, the delivery listener as peer couriers reach it.");
        if (!string.IsNullOrWhiteSpace(o.Courier.BackgroundEndpoint) && !TryParseHostPort(o.Courier.BackgroundEndpoint, out _, out _))
            p.Add($"{g}:Courier:BackgroundEndpoint: '{o.Courier.BackgroundEndpoint}' is not host:port; fix: e.g. bg.example.org:25, the delivery listener peer couriers send ARMs to, or leave it empty (the same as Courier:Endpoint).");
        ValidateRoles(o, p, g);
        if (!(o.Courier.InvitationDays > 0) || o.Courier.InvitationDays > 365)
            p.Add($"{g}:Courier:InvitationDays: {o.Courier.InvitationDays} is out of range; fix: use a number of days above 0 and at most 365, e.g. 14.");
        if (o.Courier.PeerCrlMaxAgeSeconds is < 1 or > 7 * 86400)
            p.Add($"{g}:Courier:PeerCrlMaxAgeSeconds: {o.Courier.PeerCrlMaxAgeSeconds} is out of range; fix: use 1 to 604800, e.g. 3600.");
        if (o.Courier.PeerFirstRetrySeconds is < 1 or > 3600)
            p.Add($"{g}:Courier:PeerFirstRetrySeconds: {o.Courier.PeerFirstRetrySeconds} is out of range; fix: use 1 to 3600, e.g. 5.");
        // The portal keeps content and ARM here and serves the outside recipient from this process's HTTPS listener.
        var portalModes = new[] { OutsideDelivery.Portal, OutsideDelivery.SmimeOrPortal };
        var portalKeys = new List<string>();
        if (o.Courier.Outside is { } outside && portalModes.Contains(outside)) portalKeys.Add($"{g}:Courier:Outside");
        portalKeys.AddRange(o.Courier.OutsideDomains.Where(d => portalModes.Contains(d.Value)).Select(d => $"{g}:Courier:OutsideDomains:{d.Key}"));
        if (portalKeys.Count > 0 && !o.PortalAvailable)
            foreach (var key in portalKeys)
                p.Add($"{key}: the pickup portal needs the Agent, Foreground and Background in this process (Roles) and an HTTPS listener (Web:Endpoint); " +
                      "fix: run all three roles here with Web:Endpoint set, or choose SmimeOrTls, Smime, Tls or Hold.");
        if (o.Courier.Portal.LinkDays is <= 0 or > 365)
            p.Add($"{g}:Courier:Portal:LinkDays: {o.Courier.Portal.LinkDays} is out of range; fix: use a number of days above 0 and at most 365, e.g. 30.");
        if (o.Courier.Portal.TrustedBrowserDays is < 0 or > 365)
            p.Add($"{g}:Courier:Portal:TrustedBrowserDays: {o.Courier.Portal.TrustedBrowserDays} is out of range; fix: use 0 (never remember a browser) to 365, e.g. 30.");
        if (o.Courier.Portal.SessionMinutes is < 1 or > 1440)
            p.Add($"{g}:Courier:Portal:SessionMinutes: {o.Courier.Portal.SessionMinutes} is out of range; fix: use 1 to 1440, e.g. 30.");

        if (o.ShutdownTimeoutSeconds < 0)
            p.Add($"{g}:ShutdownTimeoutSeconds: negative; fix: use 0 or more, e.g. 30.");
        return p;
    }

    public static bool IsHostname(string? name) => !string.IsNullOrWhiteSpace(name) && HostnamePattern().IsMatch(name);

    public static bool TryParseEndpoint(string? text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (!IPEndPoint.TryParse(text, out var parsed) || parsed.Port is <= 0 or > 65535) return false;
        // IPEndPoint.TryParse accepts a bare address with port 0; require an explicit port.
        if (!text.TrimEnd().EndsWith(":" + parsed.Port, StringComparison.Ordinal)) return false;
        endpoint = parsed;
        return true;
    }

    /// <summary>The roles this process runs, and what a split courier needs to reach the part that runs elsewhere.</summary>
    static void ValidateRoles(GatewayOptions o, List<string> p, string g)
    {
        var known = new[] { GatewayOptions.AgentRole, GatewayOptions.ForegroundRole, GatewayOptions.BackgroundRole };
        for (var i = 0; i < o.Roles.Count; i++)
            if (!known.Contains(o.Roles[i], StringComparer.OrdinalIgnoreCase))
                p.Add($"{g}:Roles:{i}: '{o.Roles[i]}' is not a role; fix: use agent, foreground or background (or leave Roles empty for all three).");
        if (o.Roles.Count == 0 || o.Roles.Any(r => !known.Contains(r, StringComparer.OrdinalIgnoreCase))) return;
        var (agent, foreground, background) = (o.Runs(GatewayOptions.AgentRole), o.Runs(GatewayOptions.ForegroundRole), o.Runs(GatewayOptions.BackgroundRole));
        if (agent && foreground && background) return;
        // The supported splits: [agent, foreground] + [background], and [agent] + [foreground] + [background].
        if ((agent && background) || (foreground && background))
        {
            p.Add($"{g}:Roles: [{string.Join(", ", o.Roles)}] is not a supported split; fix: leave Roles empty (all three in one process), run [agent, foreground] on one host and [background] on another, or each role on a host of its own.");
            return;
        }
        void Https(string key, string? value, string what)
        {
            if (!(Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme == "https"))
                p.Add($"{g}:Courier:{key}: '{value}' is not an https:// URL, but {what} runs elsewhere (Roles); fix: set the address of its host's web listener, e.g. https://{what.ToLowerInvariant().Replace("the ", "")}.example.org:8443.");
        }
        void Endpoint(string key, string? value, string what)
        {
            if (string.IsNullOrWhiteSpace(value) || !TryParseHostPort(value, out _, out _))
                p.Add($"{g}:Courier:{key}: '{value}' is not host:port, but {what} runs elsewhere (Roles); fix: set the host:port of its host's delivery listener.");
        }
        void OnlyDelivery(string process)
        {
            for (var i = 0; i < o.Listeners.Count; i++)
                if (o.Listeners[i].Role is ListenerRole.Submission or ListenerRole.Imap)
                    p.Add($"{g}:Listeners:{i}:Role: {o.Listeners[i].Role} on a {process} process (Roles); fix: users submit and read at the Agent's host; keep only Delivery listeners here.");
            // Receipts, reports and invitations to local users leave through the queue: they must go to the Agent's host.
            foreach (var domain in o.Domains.Where(d => !o.Routes.Any(r => string.Equals(r.Domain, d, StringComparison.OrdinalIgnoreCase))))
                p.Add($"{g}:Routes: no route for {domain} on a {process} process (Roles); fix: route it to the Agent's host, e.g. {{ \"Domain\": \"{domain}\", \"Host\": \"agent.example.org\", \"Port\": 25 }}.");
        }
        if (!background)
        {
            Endpoint("BackgroundEndpoint", o.Courier.BackgroundEndpoint, "the Background");
            if (agent) Https("BackgroundUrl", o.Courier.BackgroundUrl, "the Background");
        }
        if (agent && !foreground)
        {
            if (string.IsNullOrWhiteSpace(o.Courier.Endpoint))
                p.Add($"{g}:Courier:Endpoint: empty, but the Foreground runs elsewhere (Roles); fix: set the host:port of the Foreground's delivery listener (the Agent hands content parts there).");
            Https("ForegroundUrl", o.Courier.ForegroundUrl, "the Foreground");
            if (!o.Listeners.Any(l => l.Role == ListenerRole.Delivery))
                p.Add($"{g}:Listeners: no Delivery listener on the Agent's own host (Roles); fix: add one: the Foreground delivers users' mail to it.");
        }
        if (foreground && !agent)
        {
            Endpoint("AgentEndpoint", o.Courier.AgentEndpoint, "the Agent");
            Https("AgentUrl", o.Courier.AgentUrl, "the Agent");
            OnlyDelivery("Foreground-only");
        }
        if (background && !agent && !foreground) OnlyDelivery("Background-only");
    }

    static void Positive(List<string> p, string key, long value, string example)
    {
        if (value <= 0) p.Add($"{key}: {value} must be greater than zero; fix: use e.g. {example}.");
    }

    static void Port(List<string> p, string key, int value)
    {
        if (value is <= 0 or > 65535) p.Add($"{key}: {value} is not a TCP port; fix: use 1..65535.");
    }

    /// <summary>host:port with a non-empty host and a port from 1 to 65535 (IPv6 hosts in brackets).</summary>
    public static bool TryParseHostPort(string value, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value[(colon + 1)..], out port) || port is < 1 or > 65535) return false;
        host = value[..colon].Trim('[', ']');
        return host.Length > 0;
    }

    /// <summary>The port mail programs reach a listener at: its PublicPort, else its endpoint's port (0 if unparsable).</summary>
    public static int AnnouncedPort(ListenerOptions listener) =>
        listener.PublicPort ?? (TryParseEndpoint(listener.Endpoint, out var ep) ? ep.Port : 0);

    /// <summary>The announced port of the first listener with this role and TLS mode, or <paramref name="fallback"/>.</summary>
    public static int AnnouncedPort(GatewayOptions o, ListenerRole role, TlsMode tls, int fallback) =>
        o.Listeners.FirstOrDefault(l => l.Role == role && l.Tls == tls) is { } l && AnnouncedPort(l) is > 0 and var port ? port : fallback;

    /// <summary>Where peer couriers reach this courier's <paramref name="element"/>: for the Background Courier:BackgroundEndpoint
    /// when set; else Courier:Endpoint, or the host name and the first delivery listener's port.</summary>
    public static string CourierEndpoint(GatewayOptions o, Crypto.CourierElement element) =>
        element == Crypto.CourierElement.Background && !string.IsNullOrWhiteSpace(o.Courier.BackgroundEndpoint)
            ? o.Courier.BackgroundEndpoint.Trim()
            : CourierEndpoint(o);

    /// <summary>Where peer couriers reach this courier's elements: Courier:Endpoint, or the host name and the first delivery listener's port.</summary>
    public static string CourierEndpoint(GatewayOptions o)
    {
        if (!string.IsNullOrWhiteSpace(o.Courier.Endpoint)) return o.Courier.Endpoint.Trim();
        var delivery = o.Listeners.FirstOrDefault(l => l.Role == ListenerRole.Delivery);
        var port = delivery is not null && TryParseEndpoint(delivery.Endpoint, out var ep) ? ep.Port : 25;
        return $"{o.Hostname}:{port}";
    }
}
