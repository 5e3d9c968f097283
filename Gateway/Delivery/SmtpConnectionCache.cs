using System.Net;
using Gateway.Configuration;
using Microsoft.Extensions.Logging;

namespace Gateway.Delivery;

/// <summary>
/// Keeps outbound SMTP connections open for a few seconds after a transaction so that the next message to the
/// same next hop (same address, port, TLS policy and credentials) skips the connect, greeting, EHLO, STARTTLS
/// and AUTH round trips. Only connections whose last transaction ended normally are kept; idle ones are closed
/// with QUIT by a timer.
/// </summary>
public sealed class SmtpConnectionCache : IAsyncDisposable
{
    internal readonly record struct Key(IPAddress Address, int Port, OutboundTls Tls, bool ImplicitTls, string? User);

    readonly Dictionary<Key, Stack<RelaySmtpClient>> _idle = new();
    readonly Lock _gate = new();
    readonly TimeSpan _maxIdle;
    readonly int _maxPerHop;
    readonly Timer? _sweeper;
    readonly ILogger<SmtpConnectionCache> _logger;

    public SmtpConnectionCache(DeliveryOptions options, ILogger<SmtpConnectionCache> logger)
    {
        _logger = logger;
        _maxIdle = TimeSpan.FromSeconds(options.ConnectionReuseSeconds);
        _maxPerHop = options.ConcurrentDeliveries;
        if (_maxIdle > TimeSpan.Zero)
            _sweeper = new Timer(_ => Sweep(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public bool Enabled => _maxIdle > TimeSpan.Zero;

    internal RelaySmtpClient? Take(Key key)
    {
        if (!Enabled) return null;
        lock (_gate)
        {
            if (!_idle.TryGetValue(key, out var stack)) return null;
            while (stack.Count > 0)
            {
                var client = stack.Pop();
                if (client.IsConnected && DateTime.UtcNow - client.IdleSinceUtc < _maxIdle) return client;
                Close(client);
            }
            return null;
        }
    }

    internal void Return(Key key, RelaySmtpClient client)
    {
        if (!Enabled || !client.IsConnected) { Close(client); return; }
        client.IdleSinceUtc = DateTime.UtcNow;
        lock (_gate)
        {
            if (!_idle.TryGetValue(key, out var stack)) _idle[key] = stack = new Stack<RelaySmtpClient>();
            if (stack.Count < _maxPerHop) { stack.Push(client); return; }
        }
        Close(client);
    }

    void Sweep()
    {
        var expired = new List<RelaySmtpClient>();
        lock (_gate)
        {
            foreach (var (key, stack) in _idle.ToList())
            {
                var keep = stack.Where(c => c.IsConnected && DateTime.UtcNow - c.IdleSinceUtc < _maxIdle).Reverse().ToList();
                expired.AddRange(stack.Except(keep));
                if (keep.Count == 0) _idle.Remove(key);
                else _idle[key] = new Stack<RelaySmtpClient>(keep);
            }
        }
        foreach (var c in expired) Close(c);
    }

    /// <summary>Says QUIT and releases the connection, without making anyone wait for it.</summary>
    internal void Close(RelaySmtpClient client)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                if (client.IsConnected) await client.DisconnectAsync(true, cts.Token);
            }
            catch (Exception ex) { _logger.LogDebug("Closing a cached SMTP connection: {Reason}", ex.Message); }
            finally { client.Dispose(); }
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_sweeper is not null) await _sweeper.DisposeAsync();
        List<RelaySmtpClient> all;
        lock (_gate)
        {
            all = _idle.Values.SelectMany(s => s).ToList();
            _idle.Clear();
        }
        foreach (var c in all) Close(c);
    }
}
