using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Gateway.Metrics;

/// <summary>A gauge read when the metrics are served (queue depth and the like).</summary>
public sealed record GaugeReading(string Name, string Help, IReadOnlyList<(string Labels, double Value)> Values);

/// <summary>
/// Listens to the <see cref="GatewayInstruments"/> and renders them in the Prometheus text exposition format (0.0.4):
/// counters as <c>NAME_total</c>, histograms as cumulative <c>_bucket{le=...}</c>, <c>_sum</c> and <c>_count</c>,
/// plus gauges read at each scrape. One per process.
/// </summary>
public sealed class PrometheusExposition : IDisposable
{
    /// <summary>Histogram bucket bounds (seconds): from a fast local delivery to a slow peer.</summary>
    static readonly double[] Bounds = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };

    sealed class Histogram
    {
        public readonly long[] Counts = new long[Bounds.Length + 1];
        public double Sum;
        public long Count;
    }

    readonly MeterListener _listener = new();
    readonly ConcurrentDictionary<(string Name, string Labels), long> _counters = new();
    readonly ConcurrentDictionary<(string Name, string Labels), Histogram> _histograms = new();
    readonly ConcurrentDictionary<string, string> _help = new();
    readonly List<Func<IEnumerable<GaugeReading>>> _gauges = new();

    public PrometheusExposition()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name != GatewayInstruments.MeterName) return;
            _help[instrument.Name] = instrument.Description ?? instrument.Name;
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            _counters.AddOrUpdate((instrument.Name, Labels(tags)), value, (_, old) => old + value));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            var histogram = _histograms.GetOrAdd((instrument.Name, Labels(tags)), _ => new Histogram());
            var bucket = Array.FindIndex(Bounds, b => value <= b);
            lock (histogram)
            {
                histogram.Counts[bucket < 0 ? Bounds.Length : bucket]++;
                histogram.Sum += value;
                histogram.Count++;
            }
        });
        _listener.Start();
    }

    /// <summary>Adds gauges read at every scrape.</summary>
    public void AddGauges(Func<IEnumerable<GaugeReading>> read)
    {
        lock (_gauges) _gauges.Add(read);
    }

    static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0) return "";
        var pairs = new List<string>(tags.Length);
        foreach (var tag in tags) pairs.Add($"{tag.Key}=\"{Escape(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")}\"");
        pairs.Sort(StringComparer.Ordinal);
        return string.Join(",", pairs);
    }

    static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    static string Series(string name, string labels, string? extra = null)
    {
        var all = string.Join(",", new[] { labels, extra ?? "" }.Where(s => s.Length > 0));
        return all.Length == 0 ? name : $"{name}{{{all}}}";
    }

    /// <summary>The current values, in the text format.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        foreach (var group in _counters.ToArray().GroupBy(c => c.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append("# HELP ").Append(group.Key).Append("_total ").Append(_help.GetValueOrDefault(group.Key, group.Key)).Append('\n');
            text.Append("# TYPE ").Append(group.Key).Append("_total counter\n");
            foreach (var c in group.OrderBy(c => c.Key.Labels, StringComparer.Ordinal))
                text.Append(Series(group.Key + "_total", c.Key.Labels)).Append(' ').Append(c.Value).Append('\n');
        }
        foreach (var group in _histograms.ToArray().GroupBy(h => h.Key.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            text.Append("# HELP ").Append(group.Key).Append(' ').Append(_help.GetValueOrDefault(group.Key, group.Key)).Append('\n');
            text.Append("# TYPE ").Append(group.Key).Append(" histogram\n");
            foreach (var h in group.OrderBy(h => h.Key.Labels, StringComparer.Ordinal))
            {
                long[] counts;
                double sum;
                long count;
                lock (h.Value) (counts, sum, count) = ((long[])h.Value.Counts.Clone(), h.Value.Sum, h.Value.Count);
                long cumulative = 0;
                for (var i = 0; i < Bounds.Length; i++)
                {
                    cumulative += counts[i];
                    text.Append(Series(group.Key + "_bucket", h.Key.Labels, $"le=\"{Number(Bounds[i])}\"")).Append(' ').Append(cumulative).Append('\n');
                }
                text.Append(Series(group.Key + "_bucket", h.Key.Labels, "le=\"+Inf\"")).Append(' ').Append(count).Append('\n');
                text.Append(Series(group.Key + "_sum", h.Key.Labels)).Append(' ').Append(Number(sum)).Append('\n');
                text.Append(Series(group.Key + "_count", h.Key.Labels)).Append(' ').Append(count).Append('\n');
            }
        }
        List<Func<IEnumerable<GaugeReading>>> gauges;
        lock (_gauges) gauges = _gauges.ToList();
        foreach (var gauge in gauges.SelectMany(g => g()))
        {
            text.Append("# HELP ").Append(gauge.Name).Append(' ').Append(gauge.Help).Append('\n');
            text.Append("# TYPE ").Append(gauge.Name).Append(" gauge\n");
            foreach (var (labels, value) in gauge.Values) text.Append(Series(gauge.Name, labels)).Append(' ').Append(Number(value)).Append('\n');
        }
        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();
}
