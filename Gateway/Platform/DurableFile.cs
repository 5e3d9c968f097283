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

    /// <summary>Makes the directory's entries (creates, renames, deletes) durable.</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return; // Windows has no directory fsync; NTFS journals metadata.
        var fd = open(directory, O_RDONLY | O_DIRECTORY);
        if (fd < 0) throw new IOException($"cannot open directory {directory} for fsync (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            close(fd);
        }
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
