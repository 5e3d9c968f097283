using Gateway.Courier;

namespace Gateway.Tests.Courier;

/// <summary>Large messages pass the courier's in-memory protection steps one at a time; small ones never wait.</summary>
public sealed class LargePartGateTests
{
    [Fact]
    public async Task A_second_large_message_waits_for_the_first_and_small_ones_pass_meanwhile()
    {
        var first = await LargePartGate.EnterAsync(LargePartGate.LargeBytes, CancellationToken.None);
        Assert.NotNull(first);
        try
        {
            var second = LargePartGate.EnterAsync(LargePartGate.LargeBytes * 10, CancellationToken.None);
            await Task.Delay(200);
            Assert.False(second.IsCompleted, "a second large message went through while the first was inside");

            // Small messages (most mail) do not queue behind a large one, asynchronously or not.
            Assert.Null(await LargePartGate.EnterAsync(LargePartGate.LargeBytes - 1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(1)));
            Assert.Null(LargePartGate.Enter(1000));

            // One that gives up waiting (a stop) leaves the gate as it was.
            using var cancel = new CancellationTokenSource(100);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => LargePartGate.EnterAsync(LargePartGate.LargeBytes, cancel.Token));

            first.Dispose();
            first.Dispose(); // twice is once
            using var entered = await second.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotNull(entered);
            using var third = new CancellationTokenSource(100);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => LargePartGate.EnterAsync(LargePartGate.LargeBytes, third.Token)); // the second is inside now
        }
        finally
        {
            first?.Dispose();
        }
    }
}
