using System.CommandLine;
using Gateway.Configuration;
using Gateway.Crypto;
using Org.BouncyCastle.X509;

namespace Gateway.Admin;

/// <summary><c>gateway ca init|request|sign|install|show</c>: this courier's place in the certificate hierarchy.</summary>
public static class CaCommands
{
    public static Command Create(Func<ParseResult, GatewayOptions?> loadOptions)
    {
        var ca = new Command("ca", "This courier's certificate authority: start a network, join one under a superior, sign couriers below.");
        var keyOption = new Option<string>("--key") { Description = "Key type: ec (ECDSA/ECDH P-256, default) or rsa (RSA-3072, for old clients).", DefaultValueFactory = _ => "ec" };
        keyOption.AcceptOnlyFromAmong("ec", "rsa");
        static KeyAlgorithm Algorithm(string key) => key == "rsa" ? KeyAlgorithm.Rsa3072 : KeyAlgorithm.EcP256;

        var root = new Option<bool>("--root") { Description = "Make this courier the Root of a new network (self-signed)." };
        var init = new Command("init", "Start a new network with this courier as its Root.") { root, keyOption };
        init.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            if (!parse.GetValue(root)) { Console.Error.WriteLine("gateway: 'ca init' needs --root (a courier below another one uses 'ca request' and 'ca install')."); return 1; }
            Progress($"generating the {Describe(Algorithm(parse.GetValue(keyOption)!))} key of the Root CA");
            var cert = s.Authority.InitRoot(s.Options.Hostname, Algorithm(parse.GetValue(keyOption)!));
            Console.WriteLine($"This courier is now the Root of a new network: {cert.SubjectDN}, valid until {cert.NotAfter:yyyy-MM-dd}.");
            return 0;
        }));

        var outOption = new Option<string>("--out") { Description = "File to write.", Required = true };
        var request = new Command("request", "Make this courier's CA key and a certificate request for its superior.") { outOption, keyOption };
        request.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            Progress($"generating the {Describe(Algorithm(parse.GetValue(keyOption)!))} CA key (if not made before)");
            var pem = s.Authority.CreateRequest(s.Options.Hostname, Algorithm(parse.GetValue(keyOption)!));
            File.WriteAllText(parse.GetValue(outOption)!, pem);
            Console.WriteLine($"Wrote the certificate request to {parse.GetValue(outOption)}. Send it to the superior courier's operator ('gateway ca sign'), then install the answer with 'gateway ca install'.");
            return 0;
        }));

        var requestFile = new Argument<string>("request") { Description = "The PEM certificate request of the courier below." };
        var roleOption = new Option<string>("--role") { Description = "The new courier's role: public, private or gateway.", Required = true };
        roleOption.AcceptOnlyFromAmong("public", "private", "gateway");
        var domainOption = new Option<string[]>("--domain") { Description = "A domain a private courier serves (repeat for several); its certificates are constrained to them.", AllowMultipleArgumentsPerToken = true };
        var sign = new Command("sign", "Sign a subordinate courier's request; writes the chain to send back.") { requestFile, roleOption, domainOption, outOption };
        sign.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            var role = Enum.Parse<CourierRole>(parse.GetValue(roleOption)!, ignoreCase: true);
            var domains = parse.GetValue(domainOption) ?? Array.Empty<string>();
            if (role == CourierRole.Private && domains.Length == 0) { Console.Error.WriteLine("gateway: a private courier needs --domain (one per served domain)."); return 1; }
            var chain = s.Authority.SignRequest(File.ReadAllText(parse.GetValue(requestFile)!), role, domains);
            File.WriteAllText(parse.GetValue(outOption)!, chain);
            Console.WriteLine($"Signed a {role} courier certificate{(domains.Length > 0 ? " for " + string.Join(", ", domains) : "")}; wrote the chain to {parse.GetValue(outOption)}. Its operator installs it with 'gateway ca install'.");
            return 0;
        }));

        var chainFile = new Argument<string>("chain") { Description = "The PEM chain the superior courier sent back." };
        var superiorOption = new Option<string?>("--superior") { Description = "host:port where the superior courier takes Inter-Courier mail (its delivery listener); both elements of this courier defer to it." };
        var superiorBackgroundOption = new Option<string?>("--superior-background") { Description = "host:port of the superior's Background, when it is not at --superior (its Courier:BackgroundEndpoint)." };
        var install = new Command("install", "Install the certificate chain the superior courier signed for this courier, and record the superior as the courier to defer to.") { chainFile, superiorOption, superiorBackgroundOption };
        install.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            var endpoint = parse.GetValue(superiorOption);
            if (endpoint is not null && !GatewayOptionsValidator.TryParseHostPort(endpoint, out _, out _))
            {
                Console.Error.WriteLine($"gateway: --superior '{endpoint}' is not host:port (e.g. root.example.org:25).");
                return 1;
            }
            var superiorBackground = parse.GetValue(superiorBackgroundOption);
            if (superiorBackground is not null && !GatewayOptionsValidator.TryParseHostPort(superiorBackground, out _, out _))
            {
                Console.Error.WriteLine($"gateway: --superior-background '{superiorBackground}' is not host:port (e.g. bg.root.example.org:25).");
                return 1;
            }
            var cert = s.Authority.InstallChain(File.ReadAllText(parse.GetValue(chainFile)!));
            Console.WriteLine($"Installed: this courier is a {CourierAuthority.RoleOf(cert)} courier, {cert.SubjectDN}, issued by {cert.IssuerDN}, valid until {cert.NotAfter:yyyy-MM-dd}.");
            var superiorCa = s.Authority.ChainToRoot(cert).FirstOrDefault();
            if (s.Authority.SuperiorIntroductions.Count == 0 || superiorCa is null)
            {
                Console.Error.WriteLine("The chain carries no introduction certificates of the superior: record it with 'gateway peer add --superior' before parts can be deferred.");
                return 0;
            }
            if (endpoint is null)
            {
                Console.Error.WriteLine("No --superior endpoint given: record the superior with 'gateway peer add --superior' before parts can be deferred.");
                return 0;
            }
            PeerCommands.RecordPeers(s.Options, s.Authority.SuperiorIntroductions, superiorCa, endpoint, superior: true, superiorBackground);
            return 0;
        }));

        var show = new Command("show", "Show this courier's CA certificate, role and chain.");
        show.SetAction(parse => CourierStores.Run(loadOptions(parse), s =>
        {
            var cert = s.Authority.Certificate;
            if (cert is null)
            {
                Console.WriteLine(s.Authority.HasPendingRequest
                    ? "No CA certificate yet: a request is pending; install the answer with 'gateway ca install'."
                    : "No CA yet: 'gateway ca init --root' starts a network, 'gateway ca request' joins one.");
                return 0;
            }
            Console.WriteLine($"Role:     {CourierAuthority.RoleOf(cert)}");
            Console.WriteLine($"Subject:  {cert.SubjectDN}");
            Console.WriteLine($"Valid:    {cert.NotBefore:yyyy-MM-dd} to {cert.NotAfter:yyyy-MM-dd}");
            Console.WriteLine($"Serial:   {cert.SerialNumber.ToString(16)}");
            foreach (var c in s.Authority.ChainToRoot(cert)) Console.WriteLine($"Chain:    {c.SubjectDN}");
            foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
                if (s.Keys.GetCertificate(CourierAuthority.IntroductionKeyId(element)) is { } intro)
                    Console.WriteLine($"{element}: {intro.SubjectDN} (introduction certificate, until {intro.NotAfter:yyyy-MM-dd})");
            return 0;
        }));

        ca.Add(init);
        ca.Add(request);
        ca.Add(sign);
        ca.Add(install);
        ca.Add(show);
        return ca;
    }

    static string Describe(KeyAlgorithm a) => a == KeyAlgorithm.Rsa3072 ? "RSA-3072" : "P-256";

    /// <summary>A line on standard error for steps that may take seconds (RSA key generation).</summary>
    internal static void Progress(string step) => Console.Error.WriteLine("... " + step);
}
