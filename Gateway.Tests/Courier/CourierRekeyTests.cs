using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Courier;

/// <summary>
/// Key Replacement of a courier with a peer: T (Public, under S) replaces its elements' keys with 'gateway rekey
/// courier' while both run. T's elements introduce their new certificates to S, whose peer tables then hold them in
/// place of the cached old ones, and mail goes both ways with the new keys.
/// </summary>
public sealed partial class CourierRekeyTests : IAsyncLifetime
{
    const string Password = "courier-rekey-pass";
    static readonly int[] AllPorts = Ports.Free(8);
    readonly CourierNode _s = new("s.test", AllPorts[0..4]);
    readonly CourierNode _t = new("t.test", AllPorts[4..8]);

    public async Task InitializeAsync()
    {
        await CourierNode.JoinAsync(_s, _t);
        await _s.AddUserAsync("sam@s.test", Password);
        await _t.AddUserAsync("tina@t.test", Password);
        _s.Start();
        _t.Start();
        await _s.WaitUntilListeningAsync();
        await _t.WaitUntilListeningAsync();
    }

    public async Task DisposeAsync()
    {
        await _t.DisposeAsync();
        await _s.DisposeAsync();
    }

    static string Message(string from, string to, string token) =>
        $"From: <{from}>\r\nTo: <{to}>\r\nSubject: rekey {token}\r\n\r\nBody {token}\r\n";

    /// <summary>The serial of T's introduction certificate for each element, as S's peer tables hold it.</summary>
    async Task<string[]> SerialsAtS()
    {
        var show = await _s.CliAsync(null, "peer", "show", "t.test");
        return SerialLine().Matches(show.StdOut).Select(m => m.Groups[1].Value).ToArray();
    }

    [Fact]
    public async Task A_peer_that_cached_the_old_certificates_picks_up_the_new_ones_and_mail_flows_both_ways()
    {
        await _s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        await _s.WaitForLogAsync(60, "Background recorded peer t.test");
        var first = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "tina@t.test", Message("sam@s.test", "tina@t.test", first))).Code);
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + first), 60);
        var cached = await SerialsAtS();
        Assert.Equal(2, cached.Length);

        var rekey = await _t.CliAsync(null, "rekey", "courier");
        var renewed = NewSerial().Matches(rekey.StdOut).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, renewed.Length);
        Assert.Empty(renewed.Intersect(cached));

        // T's elements introduce the new certificates at their next look; S records them in place of the old ones.
        await _t.WaitForLogAsync(30, "Foreground introduces its new certificate", "to s.test (Key Replacement)");
        await _t.WaitForLogAsync(30, "Background introduces its new certificate", "to s.test (Key Replacement)");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string[] now;
        while (!(now = await SerialsAtS()).OrderBy(x => x).SequenceEqual(renewed.OrderBy(x => x)) && DateTime.UtcNow < deadline) await Task.Delay(500);
        Assert.Equal(renewed.OrderBy(x => x), now.OrderBy(x => x));

        var toT = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "tina@t.test", Message("sam@s.test", "tina@t.test", toT))).Code);
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + toT), 60);
        var toS = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await _t.SubmitAsync("tina@t.test", Password, "sam@s.test", Message("tina@t.test", "sam@s.test", toS))).Code);
        await _s.WaitForMessageAsync("sam@s.test", Password, t => t.Contains("Body " + toS), 60);
        // The message from before the rekey still opens.
        await _t.WaitForMessageAsync("tina@t.test", Password, t => t.Contains("Body " + first), 30);
    }

    [GeneratedRegex(@"certificate .*, serial ([0-9a-f]+), valid until")]
    private static partial Regex SerialLine();

    [GeneratedRegex(@"new introduction certificate \(serial ([0-9a-f]+)\)")]
    private static partial Regex NewSerial();
}
