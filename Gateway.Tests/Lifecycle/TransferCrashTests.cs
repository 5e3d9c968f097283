using Gateway.Tests.Support;

namespace Gateway.Tests.Lifecycle;

/// <summary>
/// A Registration Transfer interrupted by a crash (kill -9 at the most harmful moment) resumes after restart: on the
/// new courier right after the account was created, before it answered; on the old courier right after it routed the
/// address away, before the mailbox moved. Either way the transfer completes and no message is lost.
/// </summary>
public sealed class TransferCrashTests : IAsyncLifetime
{
    const string Password = "transfer-crash-1";
    static readonly int[] AllPorts = Ports.Free(8);
    readonly CourierNode _s = new("s.test", AllPorts[0..4]);
    readonly CourierNode _t = new("t.test", AllPorts[4..8]);

    public async Task InitializeAsync()
    {
        await CourierNode.JoinAsync(_s, _t);
        await _s.AddUserAsync("alice@s.test", Password);
        await _s.AddUserAsync("sam@s.test", Password);
    }

    public async Task DisposeAsync()
    {
        await _t.DisposeAsync();
        await _s.DisposeAsync();
    }

    [Theory]
    [InlineData("t", "transfer-after-account")]
    [InlineData("s", "transfer-after-route")]
    public async Task A_transfer_interrupted_by_a_crash_resumes_and_completes_without_losing_mail(string crashing, string point)
    {
        var crash = new Dictionary<string, string> { ["GATEWAY_CRASH_POINT"] = point };
        var (victim, other) = crashing == "s" ? (_s, _t) : (_t, _s);
        await victim.StartAsync(crash);
        other.Start();
        await _s.WaitUntilListeningAsync();
        await _t.WaitUntilListeningAsync();
        await _s.WaitForLogAsync(60, "Foreground recorded peer t.test");
        var tokens = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid().ToString("N")).ToList();
        foreach (var token in tokens)
        {
            Assert.Equal(250, (await _s.SubmitAsync("sam@s.test", Password, "alice@s.test", $"From: <sam@s.test>\r\nTo: <alice@s.test>\r\nSubject: {token}\r\n\r\nBody {token}\r\n")).Code);
            await _s.WaitForMessageAsync("alice@s.test", Password, t => t.Contains("Body " + token), 60);
        }

        await _t.CliAsync(null, "transfer", "accept", "alice@s.test", "--from", "s.test");
        await _s.CliAsync(null, "transfer", "start", "alice@s.test", "--to", "t.test");
        Assert.True(await victim.Process!.WaitForExitAsync(60), $"{victim.Name} did not reach {point}");
        Assert.Contains($"crash point {point}", victim.Output);
        await victim.StartAsync(new Dictionary<string, string>());
        await victim.WaitUntilListeningAsync();

        var deadline = DateTime.UtcNow.AddSeconds(90);
        string status;
        while (!(status = (await _s.CliAsync(null, "transfer", "status", "alice@s.test")).StdOut).Contains("\tCompleted\t") && DateTime.UtcNow < deadline)
            await Task.Delay(500);
        Assert.Contains("\tCompleted\t", status);
        foreach (var token in tokens) await _t.WaitForMessageAsync("alice@s.test", Password, t => t.Contains("Body " + token), 60);
        Assert.DoesNotContain("alice@s.test\t", (await _s.CliAsync(null, "user", "list")).StdOut);
    }
}
