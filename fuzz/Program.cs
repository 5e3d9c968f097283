using SharpFuzz;

namespace Gateway.Fuzzing;

/// <summary>The AFL++ harness: runs one of <see cref="FuzzTargets"/> on each input AFL hands it (fuzz/run.sh).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 1 || !FuzzTargets.All.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: Gateway.Fuzz {string.Join("|", FuzzTargets.All.Keys)}   (run under afl-fuzz by fuzz/run.sh)");
            return 2;
        }
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target(buffer.ToArray());
        });
        return 0;
    }
}
