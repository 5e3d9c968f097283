using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Support;

/// <summary>
/// An authoritative-only DNS responder on loopback UDP for MX tests: answers MX, A, AAAA and TXT from a table,
/// NXDOMAIN for names it does not know. Enough of RFC 1035 for DnsClient; nothing more.
/// </summary>
public sealed class TestDnsServer : IAsyncDisposable
{
    readonly UdpClient _udp;
    readonly CancellationTokenSource _stop = new();
    readonly Task _serving;
    readonly Dictionary<string, List<(ushort Type, byte[] Data)>> _records = new(StringComparer.OrdinalIgnoreCase);

    public int Port { get; }
    public int Queries;

    public TestDnsServer()
    {
        _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_udp.Client.LocalEndPoint!).Port;
        _serving = ServeAsync();
    }

    public TestDnsServer AddMx(string domain, int preference, string exchange)
    {
        var data = new List<byte> { (byte)(preference >> 8), (byte)preference };
        data.AddRange(EncodeName(exchange));
        Add(domain, 15, data.ToArray());
        return this;
    }

    public TestDnsServer AddA(string name, string address)
    {
        Add(name, 1, IPAddress.Parse(address).GetAddressBytes());
        return this;
    }

    /// <summary>A TXT record of one string (at most 255 octets).</summary>
    public TestDnsServer AddTxt(string name, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        Add(name, 16, new[] { (byte)bytes.Length }.Concat(bytes).ToArray());
        return this;
    }

    /// <summary>A name that exists but has no records (NOERROR, empty answer).</summary>
    public TestDnsServer AddEmpty(string name)
    {
        lock (_records) if (!_records.ContainsKey(name)) _records[name] = new();
        return this;
    }

    void Add(string name, ushort type, byte[] data)
    {
        lock (_records)
        {
            if (!_records.TryGetValue(name, out var list)) _records[name] = list = new();
            list.Add((type, data));
        }
    }

    async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult request;
            try { request = await _udp.ReceiveAsync(_stop.Token); }
            catch { return; }
            Interlocked.Increment(ref Queries);
            try
            {
                var response = Answer(request.Buffer);
                await _udp.SendAsync(response, request.RemoteEndPoint, _stop.Token);
            }
            catch (Exception) { /* malformed query: ignore */ }
        }
    }

    byte[] Answer(byte[] query)
    {
        var pos = 12;
        var labels = new List<string>();
        while (query[pos] != 0)
        {
            var len = query[pos];
            labels.Add(Encoding.ASCII.GetString(query, pos + 1, len));
            pos += len + 1;
        }
        pos++;
        var qtype = (ushort)(query[pos] << 8 | query[pos + 1]);
        var questionEnd = pos + 4;
        var name = string.Join('.', labels);

        List<(ushort Type, byte[] Data)>? records;
        lock (_records) _records.TryGetValue(name, out records);
        var answers = records?.Where(r => r.Type == qtype).ToList() ?? new();

        var response = new List<byte>();
        response.AddRange(query.AsSpan(0, 2).ToArray()); // id
        response.Add(0x84); // QR, AA
        response.Add(records is null ? (byte)0x03 : (byte)0x00); // NXDOMAIN or NOERROR
        response.AddRange(new byte[] { 0, 1, (byte)(answers.Count >> 8), (byte)answers.Count, 0, 0, 0, 0 });
        response.AddRange(query.AsSpan(12, questionEnd - 12).ToArray());
        foreach (var (type, data) in answers)
        {
            response.AddRange(new byte[] { 0xC0, 12 }); // pointer to the question name
            response.AddRange(new[] { (byte)(type >> 8), (byte)type, (byte)0, (byte)1, (byte)0, (byte)0, (byte)0, (byte)60 });
            response.AddRange(new[] { (byte)(data.Length >> 8), (byte)data.Length });
            response.AddRange(data);
        }
        return response.ToArray();
    }

    static byte[] EncodeName(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }
        bytes.Add(0);
        return bytes.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _udp.Dispose();
        try { await _serving; } catch { }
    }
}
