using Gateway.Platform;

namespace Gateway.Sealing;

/// <summary>
/// Where the roles keep the working copies of a message they protect or open (signed, encrypted, decrypted, each a
/// stream the next step reads): <see cref="ScratchStream"/>s, in memory while small and in a sealed file of this
/// directory once large, so a large message costs disk, not memory. The files are sealed under a key that exists
/// only in this process's memory (nothing written here can be read after the process ends, by anyone), and their
/// names are removed as soon as they are created: the data lives only as long as the open file, and a killed process
/// leaves nothing behind (the gateway's start deletes what the moment between create and unlink could leave).
/// </summary>
public static class ScratchSpace
{
    /// <summary>Up to this many octets a working copy stays in memory; from here on it moves to a sealed file.</summary>
    public const int InMemoryBytes = 256 * 1024;

    static volatile string? _directory;
    static readonly SpoolSeal Seal = SpoolSeal.Ephemeral();

    /// <summary>The directory in use (null: none configured, working copies stay in memory whatever their size).</summary>
    public static string? Directory => _directory;

    /// <summary>Uses <paramref name="directory"/> (created owner-only) for large working copies; with
    /// <paramref name="clean"/> (the gateway's start), deletes any file a process before this one left there.</summary>
    public static void Configure(string directory, bool clean)
    {
        DurableFile.CreatePrivateDirectory(directory);
        if (clean)
            foreach (var file in System.IO.Directory.EnumerateFiles(directory, "*.scratch"))
            {
                try { File.Delete(file); }
                catch (IOException) { }
            }
        _directory = directory;
    }

    /// <summary>A new, empty working copy; the caller disposes it. <paramref name="movedToFile"/> is told when it moves
    /// to a file (an owner that closes such files when it is done).</summary>
    public static ScratchStream Create(Action<ScratchStream>? movedToFile = null, int inMemoryBytes = InMemoryBytes) => new(inMemoryBytes, movedToFile);

    /// <summary>A new sealed file for a working copy that grew past memory, already unlinked.</summary>
    internal static SealedSpoolWriter? CreateFile()
    {
        var directory = _directory;
        if (directory is null) return null;
        DurableFile.CreatePrivateDirectory(directory);
        var path = Path.Combine(directory, Guid.NewGuid().ToString("N") + ".scratch");
        var file = Seal.Create(path);
        File.Delete(path); // open files outlive their names (POSIX): nothing of it is left once it is closed
        return file;
    }
}
