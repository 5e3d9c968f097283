using System.Net;
using DnsClient;
using DnsClient.Protocol;
using Gateway.Configuration;

namespace Gateway.Delivery;

/// <summary>A host to try, with its addresses, in preference order.</summary>
public sealed record MailHost(string Name, IReadOnlyList<IPAddress> Addresses, int Port);

/// <summary>
/// Finds where to deliver a domain's mail (RFC 5321 5.1): MX records by preference (equal preferences shuffled),
/// the domain itself when there is no MX, and a permanent failure for a null MX (RFC 7505) or a domain that does
/// not exist. The DNS servers are configurable so tests can run their own.
/// </summary>
public sealed class MxResolver
{
    readonly LookupClient _dns;

    public MxResolver(DeliveryOptions options)
    {
        var servers = options.DnsServers.Select(ParseServer).ToArray();
        var lookupOptions = servers.Length > 0 ? new LookupClientOptions(servers) : new LookupClientOptions();
        lookupOptions.UseCache = true;
        lookupOptions.Timeout = TimeSpan.FromSeconds(5);
        lookupOptions.Retries = 2;
        lookupOptions.ThrowDnsErrors = false;
        lookupOptions.ContinueOnDnsError = false;
        lookupOptions.UseTcpFallback = true;
        _dns = new LookupClient(lookupOptions);
    }

    static IPEndPoint ParseServer(string text) =>
        IPEndPoint.TryParse(text, out var ep) && ep.Port != 0 ? ep : new IPEndPoint(IPAddress.Parse(text), 53);

    public async Task<IReadOnlyList<MailHost>> ResolveMxAsync(string domain, int port, CancellationToken cancellationToken)
    {
        if (domain.StartsWith('[') && domain.EndsWith(']'))
        {
            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase)) literal = literal[5..];
            return new[] { new MailHost(domain, new[] { IPAddress.Parse(literal) }, port) };
        }
        var response = await _dns.QueryAsync(domain, QueryType.MX, cancellationToken: cancellationToken);
        CheckResponse(response, domain);
        var mx = response.Answers.MxRecords().ToList();
        if (mx.Count == 1 && mx[0].Exchange.Value is "." or "")
            throw new DeliveryException(true, "5.1.10", $"{domain} does not accept mail (null MX, RFC 7505)");
        if (mx.Count == 0)
        {
            // RFC 5321 5.1: no MX means the domain itself is the implicit MX.
            var addresses = await ResolveAddressesAsync(domain, cancellationToken);
            if (addresses.Count == 0) throw new DeliveryException(true, "5.1.2", $"{domain} has no MX and no address records");
            return new[] { new MailHost(domain, addresses, port) };
        }
        var hosts = new List<MailHost>();
        foreach (var group in mx.GroupBy(m => m.Preference).OrderBy(g => g.Key))
        {
            foreach (var record in group.OrderBy(_ => Random.Shared.Next()))
            {
                var name = record.Exchange.Value.TrimEnd('.');
                var addresses = await ResolveAddressesAsync(name, cancellationToken);
                if (addresses.Count > 0) hosts.Add(new MailHost(name, addresses, port));
            }
        }
        if (hosts.Count == 0) throw new DeliveryException(false, "4.4.3", $"none of the MX hosts of {domain} has an address");
        return hosts;
    }

    /// <summary>The TXT records of a name (each record's strings joined); empty when there are none; null when the
    /// lookup failed (the answer is unknown, not "none").</summary>
    public async Task<IReadOnlyList<string>?> ResolveTxtAsync(string name, CancellationToken cancellationToken)
    {
        var response = await _dns.QueryAsync(name, QueryType.TXT, cancellationToken: cancellationToken);
        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain) return Array.Empty<string>();
        if (response.HasError) return null;
        return response.Answers.TxtRecords().Select(t => string.Concat(t.Text)).ToList();
    }

    /// <summary>A/AAAA for a host name; literals and localhost are answered without DNS.</summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        host = host.Trim('[', ']');
        if (IPAddress.TryParse(host, out var literal)) return new[] { literal };
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return new[] { IPAddress.Loopback };
        var result = new List<IPAddress>();
        foreach (var type in new[] { QueryType.A, QueryType.AAAA })
        {
            var response = await _dns.QueryAsync(host, type, cancellationToken: cancellationToken);
            if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain) break;
            if (response.HasError && response.Header.ResponseCode != DnsHeaderResponseCode.NoError) continue;
            result.AddRange(response.Answers.OfType<AddressRecord>().Select(a => a.Address));
        }
        return result;
    }

    static void CheckResponse(IDnsQueryResponse response, string domain)
    {
        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
            throw new DeliveryException(true, "5.1.2", $"domain {domain} does not exist (NXDOMAIN)");
        if (response.HasError)
            throw new DeliveryException(false, "4.4.3", $"DNS lookup for {domain} failed: {response.ErrorMessage}");
    }
}
