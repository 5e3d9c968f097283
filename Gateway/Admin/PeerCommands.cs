using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Org.BouncyCastle.X509;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway peer list|show|add|export|forget</c>: the peer couriers each element knows. The Foreground and the Background keep
/// separate tables (they learn independently and never share them); every verb acts on both unless <c>--element</c>
/// names one. Safe while the gateway runs (the tables are opened in shared mode).
/// </summary>
public static class PeerCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var peer = new Command("peer", "Peer couriers known to this courier's Foreground and Background (each element keeps its own table).");
        var element = new Option<string?>("--element") { Description = "Only this element's table: foreground or background." };
        element.AcceptOnlyFromAmong("foreground", "background");
        var id = new Argument<string>("courier") { Description = "The peer's courier id, as 'gateway peer list' shows it." };

        var list = new Command("list", "List known peers: element, courier id, role, domains, endpoint, how and when learnt.") { element };
        list.SetAction(parse => Run(parse, loadOptions, element, (which, table) =>
        {
            var peers = table.All();
            foreach (var p in peers)
                Console.WriteLine($"{Name(which)}\t{p.Id}\t{p.Role.ToString().ToLowerInvariant()}{(p.Below ? " (below us)" : p.Above ? " (our superior)" : "")}\t{(p.Domains.Count > 0 ? string.Join(",", p.Domains) : "-")}\t{p.Endpoint}\t{p.LearntFrom} {p.LearntUtc.ToUniversalTime():yyyy-MM-dd HH:mm}Z");
            Console.Error.WriteLine($"{Name(which)}: {peers.Count} peer(s)");
            return 0;
        }));

        var show = new Command("show", "Show one peer as each element knows it, with its introduction certificate.") { id, element };
        show.SetAction(parse => Run(parse, loadOptions, element, (which, table) =>
        {
            var wanted = parse.GetValue(id)!;
            if (table.Find(wanted) is not { } p) { Console.Error.WriteLine($"{Name(which)}: no peer {wanted}"); return 1; }
            Console.WriteLine($"{Name(which)} peer {p.Id}");
            Console.WriteLine($"  role          {p.Role.ToString().ToLowerInvariant()}{(p.Below ? ", below this courier" : p.Above ? ", this courier's superior" : "")}");
            Console.WriteLine($"  domains       {(p.Domains.Count > 0 ? string.Join(", ", p.Domains) : "-")}");
            if (p.Addresses.Count > 0) Console.WriteLine($"  addresses     {string.Join(", ", p.Addresses)}");
            Console.WriteLine($"  endpoint      {p.Endpoint}");
            Console.WriteLine($"  learnt        {p.LearntFrom} at {p.LearntUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC, updated {p.UpdatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC");
            if (p.IntroductionCertificate.Length > 0)
            {
                var certificate = new X509Certificate(p.IntroductionCertificate);
                Console.WriteLine($"  certificate   {certificate.SubjectDN}, serial {certificate.SerialNumber.ToString(16)}, valid until {certificate.NotAfter:yyyy-MM-dd}");
            }
            return 0;
        }));

        var forget = new Command("forget", "Forget a peer: the next part for it is routed as if it were unknown (deferred or invited), and a new Introduction is needed.") { id, element };
        forget.SetAction(parse => Run(parse, loadOptions, element, (which, table) =>
        {
            var wanted = parse.GetValue(id)!;
            var gone = table.Forget(wanted);
            Console.WriteLine(gone ? $"{Name(which)}: forgot {wanted.ToLowerInvariant()}" : $"{Name(which)}: no peer {wanted}");
            return gone ? 0 : 1;
        }, anySucceeds: true));

        var pemFile = new Argument<string>("introduction") { Description = "PEM file with the peer's introduction certificates and its CA chain ('gateway peer export' on the peer)." };
        var endpointOption = new Option<string>("--endpoint") { Description = "host:port where the peer courier takes Inter-Courier mail (its delivery listener).", Required = true };
        var backgroundEndpointOption = new Option<string?>("--background-endpoint") { Description = "host:port where the peer's Background takes Inter-Courier mail, when not at --endpoint (its Courier:BackgroundEndpoint)." };
        var superiorOption = new Option<bool>("--superior") { Description = "The peer is this courier's superior: parts nobody else serves are deferred to it." };
        var add = new Command("add", "Record a peer courier by hand (both elements), from the PEM its operator exported; normally peers are learnt by Introduction.") { pemFile, endpointOption, backgroundEndpointOption, superiorOption };
        add.SetAction(parse =>
        {
            var options = loadOptions(parse);
            if (options is null) return 2;
            var endpoint = parse.GetValue(endpointOption)!;
            if (!GatewayOptionsValidator.TryParseHostPort(endpoint, out _, out _)) { Console.Error.WriteLine($"gateway: --endpoint '{endpoint}' is not host:port."); return 1; }
            var backgroundEndpoint = parse.GetValue(backgroundEndpointOption);
            if (backgroundEndpoint is not null && !GatewayOptionsValidator.TryParseHostPort(backgroundEndpoint, out _, out _))
            { Console.Error.WriteLine($"gateway: --background-endpoint '{backgroundEndpoint}' is not host:port."); return 1; }
            List<X509Certificate> certificates;
            try
            {
                certificates = CourierAuthority.ReadAllPem<X509Certificate>(File.ReadAllText(parse.GetValue(pemFile)!));
            }
            catch (IOException ex) { Console.Error.WriteLine("gateway: " + ex.Message); return 1; }
            var introductions = certificates.Where(c => InterCourierMessage.IntroductionOf(c) is not null).ToList();
            var ca = certificates.FirstOrDefault(c => c.GetBasicConstraints() >= 0 && introductions.Any(i => i.IssuerDN.Equivalent(c.SubjectDN)));
            if (introductions.Count == 0) { Console.Error.WriteLine("gateway: the file holds no introduction certificate ('gateway peer export' writes one)."); return 1; }
            RecordPeers(options, introductions, ca, endpoint, parse.GetValue(superiorOption), backgroundEndpoint);
            return 0;
        });

        var outOption = new Option<string>("--out") { Description = "File to write.", Required = true };
        var export = new Command("export", "Write this courier's introduction certificates and CA chain (PEM), for a peer's 'gateway peer add'.") { outOption };
        export.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            var pem = s.Authority.ExportIntroduction();
            if (pem.Length == 0) { Console.Error.WriteLine("gateway: this courier has no certificates yet ('gateway ca init --root' or join a network)."); return 1; }
            File.WriteAllText(parse.GetValue(outOption)!, pem);
            Console.WriteLine($"Wrote this courier's introduction certificates and chain to {parse.GetValue(outOption)}.");
            return 0;
        }));

        peer.Add(add);
        peer.Add(export);
        peer.Add(list);
        peer.Add(show);
        peer.Add(forget);
        return peer;
    }

    /// <summary>Records a peer courier in both elements' tables from its introduction certificates (one per element);
    /// its Background at <paramref name="backgroundEndpoint"/> when given, else at <paramref name="endpoint"/> too.</summary>
    internal static void RecordPeers(GatewayOptions options, IReadOnlyList<X509Certificate> introductions, X509Certificate? courierCa, string endpoint, bool superior,
        string? backgroundEndpoint = null)
    {
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        // Each element's table is where that element runs (a split courier records the peer on both hosts).
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background }
                     .Where(e => options.Runs(e)))
        {
            var introduction = introductions.FirstOrDefault(c => InterCourierMessage.IntroductionOf(c)?.Element == element);
            if (introduction is null) { Console.Error.WriteLine($"{Name(element)}: no {Name(element)} introduction certificate in the file; not recorded"); continue; }
            var id = InterCourierMessage.IntroductionOf(introduction)!.Value.Courier;
            using var table = new PeerTable(PeerTable.PathIn(data, element));
            var record = table.Record(new PeerRecord
            {
                Id = id, Role = courierCa is not null ? CourierAuthority.RoleOf(courierCa) ?? CourierRole.Public : CourierRole.Public,
                Domains = courierCa is not null ? ElementRelay.ConstraintDomains(courierCa) : new(),
                Endpoint = element == CourierElement.Background && backgroundEndpoint is not null ? backgroundEndpoint : endpoint,
                IntroductionCertificate = introduction.GetEncoded(), Above = superior, LearntFrom = PeerSource.Admin,
            }, DateTime.UtcNow);
            Console.WriteLine($"{Name(element)}: recorded {record.Id} ({record.Role.ToString().ToLowerInvariant()}{(superior ? ", our superior" : "")}) at {record.Endpoint}");
        }
    }

    static string Name(CourierElement element) => element == CourierElement.Foreground ? "foreground" : "background";

    /// <summary>Runs the action on the selected element tables; the exit code is the worst one, or with
    /// <paramref name="anySucceeds"/> 0 when the action succeeded on at least one table.</summary>
    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Option<string?> element, Func<CourierElement, PeerTable, int> action, bool anySucceeds = false)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        var which = parse.GetValue(element) switch
        {
            "foreground" => new[] { CourierElement.Foreground },
            "background" => new[] { CourierElement.Background },
            _ => new[] { CourierElement.Foreground, CourierElement.Background },
        };
        // A split courier keeps each element's table on the host that runs it.
        which = which.Where(e => options.Runs(e)).ToArray();
        if (which.Length == 0)
        {
            Console.Error.WriteLine("gateway: that element runs on another host (Gateway:Roles); run this there.");
            return 1;
        }
        var codes = new List<int>();
        foreach (var e in which)
        {
            using var table = new PeerTable(PeerTable.PathIn(data, e));
            codes.Add(action(e, table));
        }
        return anySucceeds ? (codes.Contains(0) ? 0 : codes.Max()) : codes.Max();
    }
}
