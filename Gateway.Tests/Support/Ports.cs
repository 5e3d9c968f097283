using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Support;

public static class Ports
{
    /// <summary>Finds free loopback TCP ports by binding to port 0 (all at once, so they differ).</summary>
    public static int[] Free(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
