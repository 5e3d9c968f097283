using System.Diagnostics;
using Gateway.Fuzzing;
using Xunit.Abstractions;

namespace Gateway.Tests.Fuzz;

/// <summary>
/// The short fuzz run of the default test suite: every target gets its corpus (fuzz/corpus/TARGET) and every input a
/// fuzzer ever crashed it with (fuzz/regressions/TARGET), then random mutations of them (bit flips, byte runs,
/// splices, truncations, repeated slices) for FUZZ_SECONDS (default 3) per target. Not coverage-guided (fuzz/run.sh is,
/// with SharpFuzz and AFL); it keeps every parser honest on each run. A failure names the input (base64) and writes
/// it under fuzz/findings, ready to become a regression file.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    static string FuzzDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "fuzz", "corpus"))) return Path.Combine(dir.FullName, "fuzz");
            throw new DirectoryNotFoundException("fuzz/corpus not found above " + AppContext.BaseDirectory);
        }
    }

    static IEnumerable<byte[]> Files(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory).OrderBy(f => f, StringComparer.Ordinal).Select(File.ReadAllBytes) : Enumerable.Empty<byte[]>();

    /// <summary>Octets that mean something to the parsers (delimiters, quoting, line ends, NUL, high bit).</summary>
    static readonly byte[] Interesting = "{}()[]<>\"\\\r\n @:.%!+=;,*\0\u00ff"u8.ToArray();

    static byte[] Mutate(Random random, byte[] input, IReadOnlyList<byte[]> corpus)
    {
        var bytes = new List<byte>(input);
        var edits = 1 + random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0 when bytes.Count > 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1 when bytes.Count > 0: bytes[at] = (byte)random.Next(256); break;
                case 2: bytes.InsertRange(at, Enumerable.Repeat(Interesting[random.Next(Interesting.Length)], 1 + random.Next(8))); break;
                case 3 when bytes.Count > 1: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(16))); break;
                case 4:
                    var other = corpus[random.Next(corpus.Count)];
                    if (other.Length > 0) { var from = random.Next(other.Length); bytes.InsertRange(at, other.Skip(from).Take(1 + random.Next(64))); }
                    break;
                case 5 when bytes.Count > 0:
                    var slice = bytes.Skip(at).Take(1 + random.Next(32)).ToArray();
                    for (var r = random.Next(1, 50); r > 0; r--) bytes.InsertRange(at, slice);
                    break;
                default:
                    if (bytes.Count > 0) bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
        }
        return bytes.ToArray();
    }

    [Theory]
    [InlineData("smtp")]
    [InlineData("imap")]
    [InlineData("mime")]
    [InlineData("courier")]
    public void Corpus_regressions_and_mutations_never_make_a_parser_fail_unexpectedly(string name)
    {
        var target = FuzzTargets.All[name];
        var corpus = Files(Path.Combine(FuzzDirectory, "corpus", name)).ToList();
        var regressions = Files(Path.Combine(FuzzDirectory, "regressions", name)).ToList();
        Assert.NotEmpty(corpus);
        foreach (var input in corpus.Concat(regressions)) Run(name, target, input);

        var seconds = double.TryParse(Environment.GetEnvironmentVariable("FUZZ_SECONDS"), out var s) ? s : 3;
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        var runs = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            Run(name, target, Mutate(random, corpus[random.Next(corpus.Count)], corpus));
            runs++;
        }
        output.WriteLine($"{name}: {corpus.Count} corpus and {regressions.Count} regression input(s), then {runs} mutations in {clock.Elapsed.TotalSeconds:F1} s (seed {seed})");
    }

    static void Run(string name, Action<byte[]> target, byte[] input)
    {
        try
        {
            var worker = Task.Run(() => target(input));
            if (!worker.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the target did not return within 10 s");
        }
        catch (Exception ex)
        {
            var inner = ex is AggregateException { InnerException: { } i } ? i : ex;
            var findings = Path.Combine(FuzzDirectory, "findings", name);
            Directory.CreateDirectory(findings);
            var file = Path.Combine(findings, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input), 0, 8).ToLowerInvariant() + ".bin");
            File.WriteAllBytes(file, input);
            Assert.Fail($"{name} failed with {inner.GetType().Name}: {inner.Message}\ninput (base64, also in {file}): {Convert.ToBase64String(input)}\n{inner.StackTrace}");
        }
    }
}
