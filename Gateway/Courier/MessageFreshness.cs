namespace Gateway.Courier;

/// <summary>
/// The replay window for signed messages between couriers and between one courier's hosts: a message is taken only
/// when the time it says it was made lies within <c>Courier:InterCourierMaxAgeHours</c> before now (longer than a sender
/// keeps retrying) and not ahead of our clock by more than <see cref="MaxClockSkew"/>. The time is inside the
/// signature, so a recorded message cannot be made younger.
/// </summary>
public static class MessageFreshness
{
    /// <summary>Seven days: longer than an outbox keeps retrying (Delivery:MaxQueueAgeSeconds, five days by default).</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromDays(7);
    /// <summary>How far ahead of our clock a message's time may be (two hosts' clocks).</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(10);

    /// <summary>Throws <see cref="PartRejectedException"/> naming <paramref name="what"/> when it is too old, undated or from the future.</summary>
    public static void Check(DateTimeOffset createdUtc, string what, TimeSpan maxAge, DateTimeOffset nowUtc)
    {
        if (createdUtc == default) throw new PartRejectedException($"the {what} carries no time it was made");
        if (nowUtc - createdUtc > maxAge)
            throw new PartRejectedException($"the {what} was made {createdUtc:u}, more than {maxAge.TotalHours:0} hours ago (a replay?)");
        if (createdUtc - nowUtc > MaxClockSkew)
            throw new PartRejectedException($"the {what} was made {createdUtc:u}, in the future by our clock ({nowUtc:u}); check both hosts' clocks");
    }
}
