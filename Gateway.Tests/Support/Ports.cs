using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Support;

public static class Ports
{
    static readonly HashSet<int> HandedOut = new();

    /// <summary>
    /// Finds free loopback TCP ports by binding to port 0 (all at once, so they differ). A port is handed out once per
    /// test run: a test that starts its gateway seconds after asking (the federation network builds six couriers first)
    /// must not find another test's gateway on it.
    /// </summary>
    public static int[] Free(int count)
    {
        lock (HandedOut)
        {
            var ports = new List<int>();
            var held = new List<TcpListener>();
            try
            {
                while (ports.Count < count)
                {
                    var listener = new TcpListener(IPAddress.Loopback, 0);
                    listener.Start();
                    held.Add(listener);
                    var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                    if (HandedOut.Add(port)) ports.Add(port);
                    if (held.Count > count + 200) throw new InvalidOperationException("no unused loopback port left");
                }
            }
            finally
            {
                foreach (var l in held) l.Stop();
            }
            return ports.ToArray();
        }
    }
}
