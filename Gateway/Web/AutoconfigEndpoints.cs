using System.Text;
using System.Xml;
using System.Xml.Linq;
using Gateway.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// Client autoconfiguration, so that a user types only an address and a password: Thunderbird's autoconfig document
/// (clientConfig 1.1) and Outlook's POX Autodiscover (responseschema 2006a). Both describe the Imap and Submission
/// listeners as seen from outside: the host of <see cref="WebOptions.PublicUrl"/> (else <see cref="GatewayOptions.Hostname"/>)
/// and each listener's <see cref="ListenerOptions.PublicPort"/> (else its endpoint port). Listeners without TLS are
/// never announced; implicit TLS comes before STARTTLS (RFC 8314 prefers it), so clients try it first.
/// </summary>
public static class AutoconfigEndpoints
{
    public const string ThunderbirdPath = "/.well-known/autoconfig/mail/config-v1.1.xml";
    public const string ThunderbirdAutoconfigHostPath = "/mail/config-v1.1.xml";
    /// <summary>Routing is case-insensitive, so this one route also serves <c>/Autodiscover/Autodiscover.xml</c>.</summary>
    public const string AutodiscoverPath = "/autodiscover/autodiscover.xml";

    public static readonly XNamespace AutodiscoverRequestNamespace = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
    public static readonly XNamespace AutodiscoverNamespace = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
    public static readonly XNamespace OutlookResponseNamespace = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    const string XmlContentType = "application/xml; charset=utf-8";
    /// <summary>An Autodiscover request is a few hundred octets; anything far larger is not one.</summary>
    const int MaxRequestBytes = 64 * 1024;

    public static void Map(WebApplication app)
    {
        app.MapGet(ThunderbirdPath, Thunderbird);
        app.MapGet(ThunderbirdAutoconfigHostPath, Thunderbird);
        app.MapMethods(AutodiscoverPath, new[] { HttpMethods.Get, HttpMethods.Post }, Autodiscover);
    }

    /// <summary>One server a mail program should use, as seen from outside.</summary>
    public sealed record PublicServer(ListenerRole Role, string Host, int Port, TlsMode Tls);

    /// <summary>The Imap and Submission listeners with TLS, implicit TLS first, each in configuration order.</summary>
    public static IReadOnlyList<PublicServer> PublicServers(GatewayOptions options)
    {
        var host = PublicHost(options);
        return options.Listeners
            .Where(l => (l.Role is ListenerRole.Imap or ListenerRole.Submission) && l.Tls != TlsMode.None)
            .Select(l => (Listener: l, Port: GatewayOptionsValidator.AnnouncedPort(l)))
            .Where(x => x.Port is > 0 and <= 65535)
            .OrderBy(x => x.Listener.Tls == TlsMode.Implicit ? 0 : 1)
            .Select(x => new PublicServer(x.Listener.Role, host, x.Port, x.Listener.Tls))
            .ToList();
    }

    /// <summary>The host name clients connect to: that of <see cref="WebOptions.PublicUrl"/> when set, else the Hostname.</summary>
    public static string PublicHost(GatewayOptions options) =>
        !string.IsNullOrWhiteSpace(options.Web.PublicUrl) && Uri.TryCreate(options.Web.PublicUrl, UriKind.Absolute, out var url) && url.Host.Length > 0
            ? url.Host
            : options.Hostname;

    /// <summary>The served domain of <paramref name="address"/> (as configured), or null when it is not an address of one.</summary>
    public static string? ServedDomain(GatewayOptions options, string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1) return null;
        var domain = address[(at + 1)..].TrimEnd('.');
        return options.Domains.FirstOrDefault(d => string.Equals(d.TrimEnd('.'), domain, StringComparison.OrdinalIgnoreCase));
    }

    static bool LooksLikeAddress(string address)
    {
        var at = address.LastIndexOf('@');
        return at > 0 && at < address.Length - 1 && !address.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) && address.Length <= 320;
    }

    // ---- Thunderbird ----

    static IResult Thunderbird(HttpRequest request, GatewayOptions options)
    {
        string providerDomain;
        var address = request.Query["emailaddress"].ToString().Trim();
        if (address.Length > 0)
        {
            if (!LooksLikeAddress(address)) return Results.Text("emailaddress is not an email address\n", statusCode: StatusCodes.Status400BadRequest);
            var served = ServedDomain(options, address);
            if (served is null) return Results.Text("this server does not serve that address's domain\n", statusCode: StatusCodes.Status404NotFound);
            providerDomain = served;
        }
        else providerDomain = options.Domains.FirstOrDefault() ?? options.Hostname;
        return Xml(ThunderbirdDocument(options, providerDomain));
    }

    /// <summary>The clientConfig 1.1 document (Thunderbird autoconfig) for the provider <paramref name="providerDomain"/>.</summary>
    public static XDocument ThunderbirdDocument(GatewayOptions options, string providerDomain)
    {
        var provider = new XElement("emailProvider", new XAttribute("id", providerDomain));
        foreach (var domain in options.Domains)
            provider.Add(new XElement("domain", domain));
        provider.Add(
            new XElement("displayName", $"{providerDomain} mail ({options.Hostname})"),
            new XElement("displayShortName", providerDomain));
        var servers = PublicServers(options);
        foreach (var s in servers.Where(s => s.Role == ListenerRole.Imap))
            provider.Add(ThunderbirdServer("incomingServer", "imap", s));
        foreach (var s in servers.Where(s => s.Role == ListenerRole.Submission))
            provider.Add(ThunderbirdServer("outgoingServer", "smtp", s));
        return new XDocument(new XDeclaration("1.0", "utf-8", null), new XElement("clientConfig", new XAttribute("version", "1.1"), provider));
    }

    static XElement ThunderbirdServer(string element, string type, PublicServer s) =>
        new(element, new XAttribute("type", type),
            new XElement("hostname", s.Host),
            new XElement("port", s.Port),
            new XElement("socketType", s.Tls == TlsMode.Implicit ? "SSL" : "STARTTLS"),
            new XElement("username", "%EMAILADDRESS%"),
            new XElement("authentication", "password-cleartext"));

    // ---- Outlook ----

    static async Task<IResult> Autodiscover(HttpRequest request, GatewayOptions options)
    {
        string? address;
        if (HttpMethods.IsPost(request.Method))
        {
            var body = await ReadBodyAsync(request);
            if (body is null) return BadRequest("the request is larger than an Autodiscover request can be");
            address = AutodiscoverRequestAddress(body, out var problem);
            if (address is null) return BadRequest(problem!);
        }
        else
        {
            address = request.Query["emailaddress"].ToString().Trim();
            if (address.Length == 0) return BadRequest("POST an Autodiscover request (or GET with ?emailaddress=)");
        }
        if (!LooksLikeAddress(address)) return BadRequest("EMailAddress is not an email address");
        if (ServedDomain(options, address) is null)
            return Results.Text("this server does not serve that address's domain\n", statusCode: StatusCodes.Status404NotFound);
        return Xml(AutodiscoverDocument(options, address));
    }

    static IResult BadRequest(string text) => Results.Text(text + "\n", statusCode: StatusCodes.Status400BadRequest);

    static async Task<byte[]?> ReadBodyAsync(HttpRequest request)
    {
        if (request.ContentLength > MaxRequestBytes) return null;
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + n > MaxRequestBytes) return null;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// The EMailAddress of a POX Autodiscover request (requestschema 2006). The element is looked up by local name, in
    /// the request namespace or none, since clients differ. Null with a short reason when there is none or the XML is bad.
    /// </summary>
    public static string? AutodiscoverRequestAddress(byte[] body, out string? problem)
    {
        problem = null;
        if (body.Length == 0) { problem = "empty request: POST an Autodiscover request with an EMailAddress"; return null; }
        XDocument document;
        try
        {
            var settings = new XmlReaderSettings
            {
                DtdProcessing = DtdProcessing.Prohibit,
                XmlResolver = null,
                MaxCharactersInDocument = MaxRequestBytes,
                IgnoreComments = true,
            };
            using var reader = XmlReader.Create(new MemoryStream(body), settings);
            document = XDocument.Load(reader);
        }
        catch (XmlException)
        {
            problem = "the request is not well-formed XML";
            return null;
        }
        var element = document.Descendants()
            .FirstOrDefault(e => e.Name.LocalName == "EMailAddress" && (e.Name.Namespace == AutodiscoverRequestNamespace || e.Name.Namespace == XNamespace.None));
        var address = element?.Value.Trim();
        if (string.IsNullOrEmpty(address)) { problem = "the request has no EMailAddress"; return null; }
        return address;
    }

    /// <summary>The POX Autodiscover response (outlook responseschema 2006a) for <paramref name="address"/>.</summary>
    public static XDocument AutodiscoverDocument(GatewayOptions options, string address)
    {
        XNamespace r = OutlookResponseNamespace;
        var account = new XElement(r + "Account",
            new XElement(r + "AccountType", "email"),
            new XElement(r + "Action", "settings"));
        var servers = PublicServers(options);
        foreach (var s in servers.Where(s => s.Role == ListenerRole.Imap))
            account.Add(AutodiscoverProtocol(r, "IMAP", s, address, authRequired: false));
        foreach (var s in servers.Where(s => s.Role == ListenerRole.Submission))
            account.Add(AutodiscoverProtocol(r, "SMTP", s, address, authRequired: true));
        return new XDocument(new XDeclaration("1.0", "utf-8", null),
            new XElement(AutodiscoverNamespace + "Autodiscover",
                new XElement(r + "Response", account)));
    }

    // Element order follows the Protocol element of the Autodiscover schema ([MS-OXDSCLI]).
    // SSL is "on" for both TLS modes (both require TLS before the password); Encryption tells them apart and,
    // where Outlook knows it, wins over SSL.
    static XElement AutodiscoverProtocol(XNamespace r, string type, PublicServer s, string address, bool authRequired)
    {
        var protocol = new XElement(r + "Protocol",
            new XElement(r + "Type", type),
            new XElement(r + "Server", s.Host),
            new XElement(r + "Port", s.Port),
            new XElement(r + "LoginName", address),
            new XElement(r + "DomainRequired", "off"),
            new XElement(r + "SPA", "off"),
            new XElement(r + "SSL", "on"));
        if (authRequired) protocol.Add(new XElement(r + "AuthRequired", "on"));
        protocol.Add(new XElement(r + "Encryption", s.Tls == TlsMode.Implicit ? "SSL" : "TLS"));
        return protocol;
    }

    // ---- output ----

    static IResult Xml(XDocument document)
    {
        var buffer = new MemoryStream();
        using (var writer = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true }))
            document.Save(writer);
        return Results.Bytes(buffer.ToArray(), XmlContentType);
    }
}
