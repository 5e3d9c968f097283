using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Interop;

/// <summary>
/// sslscan (a scanner nobody here wrote) against every TLS listener of a running gateway, implicit TLS and STARTTLS
/// alike: only TLS 1.2 and 1.3 are enabled, every accepted suite has forward secrecy and authenticated encryption
/// (nothing with RC4, DES/3DES, NULL, EXPORT, anonymous key exchange, MD5 or CBC), with keys of 128 bits or more,
/// and the server does not renegotiate or compress.
/// </summary>
public sealed class TlsScanTests : IAsyncLifetime
{
    TestGateway _gw = null!;

    public async Task InitializeAsync() => _gw = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    public static TheoryData<string, string?> Listeners => new()
    {
        { "delivery", "--starttls-smtp" },
        { "submission", "--starttls-smtp" },
        { "submissions", null },
        { "imap", "--starttls-imap" },
        { "imaps", null },
        { "https", null },
    };

    int PortOf(string listener) => listener switch
    {
        "delivery" => _gw.DeliveryPort,
        "submission" => _gw.SubmissionPort,
        "submissions" => _gw.ImplicitTlsPort,
        "imap" => _gw.ImapPort,
        "imaps" => _gw.ImapsPort,
        _ => _gw.HttpsPort,
    };

    [Theory]
    [MemberData(nameof(Listeners))]
    public async Task Every_tls_listener_offers_tls_1_2_and_1_3_only_with_aead_and_forward_secrecy(string listener, string? startTls)
    {
        ExternalTool.Require("sslscan");
        var args = new List<string> { "--no-colour", "--no-heartbleed" };
        if (startTls is not null) args.Add(startTls);
        args.Add($"127.0.0.1:{PortOf(listener)}");
        var scan = await ExternalTool.RunAsync("sslscan", args);
        var text = scan.StdOut;
        Assert.True(scan.ExitCode == 0, scan.All);

        foreach (var old in new[] { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1" })
            Assert.Matches(new Regex($@"^{Regex.Escape(old)}\s+disabled", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^TLSv1\.2\s+enabled", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^TLSv1\.3\s+enabled", RegexOptions.Multiline), text);
        Assert.Contains("Session renegotiation not supported", text);
        Assert.DoesNotContain("Compression enabled", text);

        var suites = Regex.Matches(text, @"^(?:Preferred|Accepted)\s+(TLSv1\.[23])\s+(\d+) bits\s+(\S+)", RegexOptions.Multiline)
            .Select(m => (Version: m.Groups[1].Value, Bits: int.Parse(m.Groups[2].Value), Name: m.Groups[3].Value)).ToList();
        Assert.Contains(suites, s => s.Version == "TLSv1.3");
        Assert.Contains(suites, s => s.Version == "TLSv1.2");
        foreach (var (version, bits, name) in suites)
        {
            Assert.True(bits >= 128, $"{listener}: {name} has {bits}-bit keys");
            Assert.DoesNotMatch(new Regex("RC4|DES|NULL|EXP|ADH|AECDH|anon|MD5"), name);
            if (version == "TLSv1.2")
            {
                Assert.True(name.StartsWith("ECDHE-") || name.StartsWith("DHE-"), $"{listener}: {name} has no forward secrecy");
                Assert.True(name.Contains("GCM") || name.Contains("CHACHA20"), $"{listener}: {name} is not an AEAD suite");
            }
        }
    }
}
