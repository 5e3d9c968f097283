using System.Diagnostics;

namespace Gateway.Smtp;

/// <summary>
/// The time budget for receiving one DATA or BDAT request, after Postfix's <c>smtpd_per_request_deadline</c> with
/// <c>smtpd_min_data_rate</c>: the budget starts at <c>DataTimeoutSeconds</c>, every read spends the time it waited,
/// and every octet received earns back 1/<c>MinDataRateBytesPerSecond</c> of a second, never above the start value.
/// A client that sends at the minimum rate or faster never runs out; one that trickles a byte every few seconds, which an
/// idle timer alone would let hold the connection for ever, is cut off once the budget is spent. A rate of 0 turns the
/// budget into a plain idle timeout per read.
/// </summary>
public sealed class TransferDeadline : IDisposable
{
    readonly TimeSpan _limit;
    readonly double _minRate;
    readonly CancellationToken _connectionClosed;
    readonly long _started = Stopwatch.GetTimestamp();
    TimeSpan _deadline; // since _started
    CancellationTokenSource? _current;

    public TransferDeadline(int limitSeconds, int minBytesPerSecond, CancellationToken connectionClosed)
    {
        _limit = TimeSpan.FromSeconds(limitSeconds);
        _minRate = minBytesPerSecond;
        _connectionClosed = connectionClosed;
        _deadline = _limit;
    }

    /// <summary>How long the request has taken so far.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>The token for the next read, given the octets the previous read brought in (0 before the first).</summary>
    public CancellationToken Next(long octetsReceived)
    {
        var now = Elapsed;
        if (_minRate <= 0) _deadline = now + _limit;
        else
        {
            var earned = _deadline + TimeSpan.FromSeconds(octetsReceived / _minRate);
            _deadline = earned < now + _limit ? earned : now + _limit;
        }
        _current?.Dispose();
        _current = CancellationTokenSource.CreateLinkedTokenSource(_connectionClosed);
        var remaining = _deadline - now;
        if (remaining <= TimeSpan.Zero) _current.Cancel();
        else _current.CancelAfter(remaining);
        return _current.Token;
    }

    public void Dispose() => _current?.Dispose();
}
