using System.CommandLine;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Platform;
using Org.BouncyCastle.X509;

namespace Gateway.Admin;

/// <summary>
/// <c>gateway peer list|show|forget</c>: the peer couriers each element knows. The Foreground and the Background keep
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
                Console.WriteLine($"{Name(which)}\t{p.Id}\t{p.Role.ToString().ToLowerInvariant()}{(p.Below ? " (below us)" : "")}\t{(p.Domains.Count > 0 ? string.Join(",", p.Domains) : "-")}\t{p.Endpoint}\t{p.LearntFrom} {p.LearntUtc.ToUniversalTime():yyyy-MM-dd HH:mm}Z");
            Console.Error.WriteLine($"{Name(which)}: {peers.Count} peer(s)");
            return 0;
        }));

        var show = new Command("show", "Show one peer as each element knows it, with its introduction certificate.") { id, element };
        show.SetAction(parse => Run(parse, loadOptions, element, (which, table) =>
        {
            var wanted = parse.GetValue(id)!;
            if (table.Find(wanted) is not { } p) { Console.Error.WriteLine($"{Name(which)}: no peer {wanted}"); return 1; }
            Console.WriteLine($"{Name(which)} peer {p.Id}");
            Console.WriteLine($"  role          {p.Role.ToString().ToLowerInvariant()}{(p.Below ? ", below this courier" : "")}");
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

        peer.Add(list);
        peer.Add(show);
        peer.Add(forget);
        return peer;
    }

    static string Name(CourierElement element) => element == CourierElement.Foreground ? "foreground" : "background";

    /// <summary>Runs the action on the selected element tables; the exit code is the worst one, or with
    /// <paramref name="anySucceeds"/> 0 when the action succeeded on at least one table.</summary>
    static int Run(ParseResult parse, Func<ParseResult, GatewayOptions?> loadOptions, Option<string?> element, Func<CourierElement, PeerTable, int> action, bool anySucceeds = false)
    {
        var options = loadOptions(parse);
        if (options is null) return 2;
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated();
        var which = parse.GetValue(element) switch
        {
            "foreground" => new[] { CourierElement.Foreground },
            "background" => new[] { CourierElement.Background },
            _ => new[] { CourierElement.Foreground, CourierElement.Background },
        };
        var codes = new List<int>();
        foreach (var e in which)
        {
            using var table = new PeerTable(PeerTable.PathIn(data, e));
            codes.Add(action(e, table));
        }
        return anySucceeds ? (codes.Contains(0) ? 0 : codes.Max()) : codes.Max();
    }
}
