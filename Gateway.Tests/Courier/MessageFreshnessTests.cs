using Gateway.Courier;

namespace Gateway.Tests.Courier;

/// <summary>The replay window every signed message between couriers (and between one courier's hosts) passes.</summary>
public class MessageFreshnessTests
{
    static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_message_within_the_window_passes()
    {
        MessageFreshness.Check(Now.AddDays(-6), "Inter-Courier ContentPart", MessageFreshness.DefaultMaxAge, Now);
        MessageFreshness.Check(Now.AddMinutes(5), "Inter-Courier Arm", MessageFreshness.DefaultMaxAge, Now); // a clock a little ahead
    }

    [Theory]
    [InlineData(-8 * 24 * 60, "hours ago")]
    [InlineData(30, "in the future")]
    public void Too_old_or_from_the_future_is_refused_naming_why(int minutes, string why)
    {
        var ex = Assert.Throws<PartRejectedException>(() =>
            MessageFreshness.Check(Now.AddMinutes(minutes), "Inter-Courier Introduction", MessageFreshness.DefaultMaxAge, Now));
        Assert.Contains(why, ex.Message);
        Assert.Contains("Introduction", ex.Message);
    }

    [Fact]
    public void An_undated_message_is_refused()
    {
        var ex = Assert.Throws<PartRejectedException>(() => MessageFreshness.Check(default, "Distribute Account", MessageFreshness.DefaultMaxAge, Now));
        Assert.Contains("no time", ex.Message);
    }
}
