using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Support;

public static class Ports
{
    static readonly HashSet<int> HandedOut = new();
    static int _next = -1;

    /// <summary>
    /// Free loopback TCP ports, each handed out once per test run. They are taken below the kernel's ephemeral range
    /// (/proc/sys/net/ipv4/ip_local_port_range), so that no outgoing connection of this or another test can be given
    /// one as its source port between now and the moment a gateway binds it (the federation network asks for its
    /// ports seconds before its couriers start).
    /// </summary>
    public static int[] Free(int count)
    {
        lock (HandedOut)
        {
            var (low, high) = Range();
            if (_next < 0) _next = low + Random.Shared.Next(Math.Max(1, (high - low) / 2));
            var ports = new List<int>();
            for (var tried = 0; ports.Count < count; tried++)
            {
                if (tried > high - low) throw new InvalidOperationException($"no unused loopback port left between {low} and {high}");
                var port = _next;
                _next = _next + 1 >= high ? low : _next + 1;
                if (HandedOut.Contains(port) || !IsFree(port)) continue;
                HandedOut.Add(port);
                ports.Add(port);
            }
            return ports.ToArray();
        }
    }

    static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Ports from 20000 up to the start of the ephemeral range (10000 ports when it starts at 32768 as usual).</summary>
    static (int Low, int High) Range()
    {
        var ephemeralStart = 32768;
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (text.Length >= 1 && int.TryParse(text[0], out var start)) ephemeralStart = start;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        var high = Math.Max(ephemeralStart, 21000);
        var low = Math.Min(20000, high - 1000);
        return (low, high);
    }
}
