using System.Net;

namespace Gateway.Smtp;

/// <summary>Caps concurrent SMTP connections in total and per client address.</summary>
public sealed class ConnectionLimiter(int maxTotal, int maxPerAddress)
{
    readonly Dictionary<IPAddress, int> _perAddress = new();
    int _total;

    public int Current { get { lock (_perAddress) return _total; } }

    public bool TryAcquire(IPAddress address, out string reason)
    {
        lock (_perAddress)
        {
            if (_total >= maxTotal) { reason = "Too many connections to this server"; return false; }
            _perAddress.TryGetValue(address, out var n);
            if (n >= maxPerAddress) { reason = "Too many connections from your address"; return false; }
            _perAddress[address] = n + 1;
            _total++;
            reason = "";
            return true;
        }
    }

    public void Release(IPAddress address)
    {
        lock (_perAddress)
        {
            _total--;
            if (_perAddress.TryGetValue(address, out var n))
            {
                if (n <= 1) _perAddress.Remove(address);
                else _perAddress[address] = n - 1;
            }
        }
    }
}
