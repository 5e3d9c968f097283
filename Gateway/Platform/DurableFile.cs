using System.Runtime.InteropServices;

namespace Gateway.Platform;

/// <summary>
/// The fsync discipline of the queue: file contents are flushed to the device (<see cref="FileStream.Flush(bool)"/>
/// is fsync on Unix), and after a create, rename or unlink the containing directory is fsync'd too, because on
/// Linux a new directory entry is durable only once its directory is.
/// </summary>
public static partial class DurableFile
{
    const int O_RDONLY = 0;
    const int O_DIRECTORY = 0x10000; // Linux

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string existing, string created);

    const int EEXIST = 17, EXDEV = 18, EPERM = 1, EMLINK = 31, EOPNOTSUPP = 95;

    /// <summary>What <see cref="TryHardLink"/> did.</summary>
    public enum LinkOutcome
    {
        /// <summary>The new name is there (not yet durable: sync its directory).</summary>
        Linked,
        /// <summary>Something of that name was there already; nothing changed.</summary>
        Exists,
        /// <summary>This file system or platform cannot link these two names (another device, no hard links): copy instead.</summary>
        Unsupported,
    }

    /// <summary>Gives the file at <paramref name="existing"/> a second name, <paramref name="created"/> (a hard link: one
    /// file, no copy; removing one name leaves the other). Other failures throw.</summary>
    public static LinkOutcome TryHardLink(string existing, string created)
    {
        if (!OperatingSystem.IsLinux()) return LinkOutcome.Unsupported;
        if (link(existing, created) == 0) return LinkOutcome.Linked;
        var errno = Marshal.GetLastPInvokeError();
        return errno switch
        {
            EEXIST => LinkOutcome.Exists,
            EXDEV or EPERM or EMLINK or EOPNOTSUPP => LinkOutcome.Unsupported,
            _ => throw new IOException($"cannot link {existing} as {created} (errno {errno})"),
        };
    }

    /// <summary>
    /// Makes the directory's entries (creates, renames, deletes) durable: every change made to it before the call is on
    /// disk when it returns. Calls that overlap share syncs (group commit): a call waits for a sync that starts after it
    /// came in, and one sync answers every call that was waiting when it started, so a directory many writers use at
    /// once is synced once per round instead of once per writer. A sync that fails fails every call it answers and every
    /// later one on that directory until the process restarts: after a failed fsync, what the kernel wrote is unknown,
    /// and syncing again would report success for changes that may be lost.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return; // Windows has no directory fsync; NTFS journals metadata.
        var round = Rounds.GetOrAdd(directory, _ => new SyncRound());
        long ticket, upTo;
        lock (round)
        {
            ticket = ++round.Requested;
            while (true)
            {
                if (round.Failure is { } failure) throw new IOException(failure.Message, failure);
                if (round.Completed >= ticket) return;
                if (!round.Running) break;
                Monitor.Wait(round);
            }
            round.Running = true;
            upTo = round.Requested; // every call counted so far made its change before this sync starts
        }
        var fd = open(directory, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
        {
            // Nothing was synced: this call fails, and the calls waiting try a round of their own.
            var errno = Marshal.GetLastPInvokeError();
            lock (round)
            {
                round.Running = false;
                Monitor.PulseAll(round);
            }
            throw new IOException($"cannot open directory {directory} for fsync (errno {errno})");
        }
        IOException? failed = null;
        Interlocked.Increment(ref round.Syncs);
        if (fsync(fd) != 0) failed = new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        close(fd);
        lock (round)
        {
            round.Failure ??= failed;
            round.Completed = upTo;
            round.Running = false;
            Monitor.PulseAll(round);
        }
        if (failed is not null) throw failed;
    }

    /// <summary>How many fsyncs of <paramref name="directory"/> this process has made (calls answered by another call's
    /// sync are not counted).</summary>
    public static long SyncsOf(string directory) => Rounds.TryGetValue(directory, out var round) ? Interlocked.Read(ref round.Syncs) : 0;

    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SyncRound> Rounds = new(StringComparer.Ordinal);

    /// <summary>One directory's syncs: calls counted, calls answered, whether a sync runs, and a failure once one failed.</summary>
    sealed class SyncRound
    {
        public long Requested;
        public long Completed;
        public bool Running;
        public Exception? Failure;
        public long Syncs;
    }

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/> atomically: temp file, fsync, rename, directory fsync.</summary>
    public static void WriteAllBytesAtomic(string path, byte[] contents) => WriteAtomic(path, file => file.Write(contents));

    /// <summary>Writes what <paramref name="write"/> writes to <paramref name="path"/> atomically (temp file, fsync,
    /// rename, directory fsync), without first gathering it into one array.</summary>
    public static void WriteAtomic(string path, Action<Stream> write)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = path + ".tmp";
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.None))
        {
            write(fs);
            fs.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        SyncDirectory(directory);
    }

    /// <summary>Creates a directory readable only by the owner (0700 on Unix).</summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(path); return; }
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Restricts a file to its owner (0600 on Unix).</summary>
    public static void MakePrivate(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
