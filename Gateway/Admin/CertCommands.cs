using System.CommandLine;
using Gateway.Configuration;
using Gateway.Crypto;
using Org.BouncyCastle.Math;

namespace Gateway.Admin;

/// <summary><c>gateway cert list|export|revoke</c>: certificates this courier holds or issued.</summary>
public static class CertCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var cert = new Command("cert", "Certificates this courier holds, issued or harvested.");

        var list = new Command("list", "List own certificates (with keys) and known ones (issued, hierarchy, harvested).");
        list.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            foreach (var k in s.Keys.List().Where(k => k.CertificateDer is not null))
            {
                var c = new Org.BouncyCastle.X509.X509Certificate(k.CertificateDer!);
                Console.WriteLine($"own\t{k.Id}\t{c.SerialNumber.ToString(16)}\t{c.SubjectDN}\tuntil {c.NotAfter:yyyy-MM-dd}");
            }
            foreach (var k in s.Directory.Entries())
            {
                var c = new Org.BouncyCastle.X509.X509Certificate(k.Der);
                var trust = k.IsAnchor ? "anchor" : k.Approved ? "approved" : "not approved";
                Console.WriteLine($"{k.Source}\t{k.Id[..16]}\t{c.SerialNumber.ToString(16)}\t{c.SubjectDN}\tuntil {c.NotAfter:yyyy-MM-dd}\t{trust}");
            }
            return 0;
        }));

        var id = new Argument<string>("id") { Description = "An own certificate's key name (as 'cert list' shows, e.g. courier-ca or user:alice@example.org)." };
        var outOption = new Option<string>("--out") { Description = "PEM file to write (certificate and its chain; never the private key).", Required = true };
        var export = new Command("export", "Export a certificate with its chain as PEM.") { id, outOption };
        export.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            var c = s.Keys.GetCertificate(parse.GetValue(id)!) ?? throw new CourierAuthorityException($"no certificate named {parse.GetValue(id)}; 'gateway cert list' shows the names.");
            File.WriteAllText(parse.GetValue(outOption)!, CourierAuthority.Pem(new object[] { c }.Concat(s.Authority.ChainToRoot(c)).ToArray()));
            Console.WriteLine($"Wrote {c.SubjectDN} and its chain to {parse.GetValue(outOption)}.");
            return 0;
        }));

        var serial = new Argument<string>("serial") { Description = "Serial number (hex) of a certificate this courier issued." };
        var crlOut = new Option<string?>("--crl-out") { Description = "Also write the new CRL (PEM) to this file." };
        var revoke = new Command("revoke", "Revoke a certificate this courier issued; it appears on the next CRL.") { serial, crlOut };
        revoke.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            s.Authority.Revoke(new BigInteger(parse.GetValue(serial)!, 16));
            var crl = s.Authority.CurrentCrl();
            if (parse.GetValue(crlOut) is { } path) File.WriteAllText(path, CourierAuthority.Pem(crl));
            Console.WriteLine($"Revoked serial {parse.GetValue(serial)}; the CRL now lists {crl.GetRevokedCertificates()?.Count ?? 0} certificate(s).");
            return 0;
        }));

        var approveId = new Argument<string>("id") { Description = "The known certificate's id (the hex prefix 'cert list' shows)." };
        var approve = new Command("approve", "Approve a harvested certificate, so mail to its addresses may be encrypted with it.") { approveId };
        approve.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            if (!s.Directory.Approve(parse.GetValue(approveId)!))
                throw new CourierAuthorityException($"no single known certificate has an id starting with {parse.GetValue(approveId)}; 'gateway cert list' shows them.");
            Console.WriteLine($"Approved certificate {parse.GetValue(approveId)} for encryption.");
            return 0;
        }));

        cert.Add(list);
        cert.Add(approve);
        cert.Add(export);
        cert.Add(revoke);
        return cert;
    }
}
