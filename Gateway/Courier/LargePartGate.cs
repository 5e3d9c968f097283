using System.Runtime;

namespace Gateway.Courier;

/// <summary>
/// The courier's protection (CMS and S/MIME, with BouncyCastle under MimeKit) works on whole messages in memory: a
/// message of 50 MB passes through some tens of arrays of its size (sealed, signed, encrypted, base64-encoded, each
/// step a new copy) before it leaves a role. The arrays are short-lived, but the collector lets them pile up, so the
/// process would reach gigabytes with a few large messages at once, and keep them afterwards.
/// This gate lets one large message at a time through those steps, whatever the number of deliveries and readers
/// running, and once a very large one is through gives the memory back to the system (a compacting collection of the
/// large object heap: a pause of all threads, so only from <see cref="CompactBytes"/> on). Small messages, most of the
/// mail, pass without waiting.
/// </summary>
public static class LargePartGate
{
    /// <summary>From this size on (octets of the message or part) a message waits for the gate.</summary>
    public const long LargeBytes = 4 * 1024 * 1024;

    /// <summary>From this size on the memory is given back after the message (for smaller ones the collector's own
    /// pace is cheaper than a pause of every thread).</summary>
    public const long CompactBytes = 32 * 1024 * 1024;

    static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>Enters for a message of <paramref name="size"/> octets: null (nothing to wait for) below <see cref="LargeBytes"/>.</summary>
    public static async Task<IDisposable?> EnterAsync(long size, CancellationToken cancellationToken)
    {
        if (size < LargeBytes) return null;
        await Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Passage(size >= CompactBytes);
    }

    /// <summary>The same for a caller that cannot wait asynchronously (an IMAP FETCH that opens a protected message).</summary>
    public static IDisposable? Enter(long size)
    {
        if (size < LargeBytes) return null;
        Gate.Wait();
        return new Passage(size >= CompactBytes);
    }

    sealed class Passage(bool compact) : IDisposable
    {
        int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) != 0) return;
            try
            {
                if (!compact) return;
                // Before the next one enters: the copies of this one are garbage now, and the memory goes back.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            finally
            {
                Gate.Release();
            }
        }
    }
}
