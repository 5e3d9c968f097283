using Gateway.Configuration;

namespace Gateway.Delivery;

/// <summary>Exponential backoff between delivery attempts: first, 2x first, 4x first... capped, with a little jitter.</summary>
public sealed class RetrySchedule(DeliveryOptions options)
{
    public TimeSpan DelayAfter(int attempts)
    {
        var exponent = Math.Clamp(attempts - 1, 0, 30);
        var seconds = Math.Min(options.FirstRetrySeconds * Math.Pow(2, exponent), options.MaxRetrySeconds);
        var jitter = 1 + (Random.Shared.NextDouble() - 0.5) * 0.2; // +-10% so retries to one host spread out
        return TimeSpan.FromSeconds(Math.Max(1, seconds * jitter));
    }

    public TimeSpan MaxAge => TimeSpan.FromSeconds(options.MaxQueueAgeSeconds);
    public TimeSpan DelayWarning => TimeSpan.FromSeconds(options.DelayWarningSeconds);
}
