using System.Runtime.InteropServices;

namespace Gateway.Platform;

/// <summary>The data directory holds something other users must not read, and it cannot be made private.</summary>
public sealed class DataDirectoryException(string message) : Exception(message);

/// <summary>
/// Owner-only access for everything the gateway keeps: the stores hold password hashes, sealed keys and sealed mail,
/// and none of it is for another local account. Two halves make that hold whatever existed before:
/// <list type="bullet">
/// <item><see cref="RestrictNewFiles"/> sets the process umask to 077 at start, so every file any code or library
/// creates (LiteDB, spools, temp files) is born 0600 and every directory 0700;</item>
/// <item><see cref="Tighten"/> walks the data directory and takes group and other bits off what is already there (a
/// directory made 0755 by <c>mkdir -p</c> or a container volume, files left by an older version), and refuses to start,
/// naming the path, when it cannot (owned by another account).</item>
/// </list>
/// Symbolic links inside the tree are neither followed nor changed.
/// </summary>
public static partial class PrivateFiles
{
    const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                      | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute
                                      | UnixFileMode.SetUser | UnixFileMode.SetGroup | UnixFileMode.StickyBit;
    const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [LibraryImport("libc", EntryPoint = "umask")]
    private static partial uint SetUmask(uint mask);

    /// <summary>Makes every file this process creates from now on owner-only (umask 077). Process-wide: call it once,
    /// first thing in <c>Main</c>.</summary>
    public static void RestrictNewFiles()
    {
        if (OperatingSystem.IsWindows()) return;
        SetUmask(0b000_111_111); // 077
    }

    /// <summary>Takes group and other access off <paramref name="root"/> and, with <paramref name="recursive"/>, off
    /// everything under it: directories become 0700, files lose every group/other bit (0600 for the stores). Returns how
    /// many entries were changed. Throws <see cref="DataDirectoryException"/> naming the first path it cannot change.</summary>
    /// <param name="except">A file left exactly as it is (the master key, whose exposure must stop the start instead).</param>
    public static int Tighten(string root, bool recursive, string? except = null)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(root)) return 0;
        var changed = TightenOne(new DirectoryInfo(root));
        if (!recursive) return changed;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = false,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };
        // A symbolic link is skipped and not descended into: chmod would change its target, which may be anything.
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
        {
            if (entry.LinkTarget is not null || (except is not null && entry.FullName == Path.GetFullPath(except))) continue;
            changed += TightenOne(entry);
        }
        return changed;
    }

    /// <summary>Takes group and other access off one file.</summary>
    public static int TightenFile(string path) => OperatingSystem.IsWindows() ? 0 : TightenOne(new FileInfo(path));

    static int TightenOne(FileSystemInfo entry)
    {
        if (OperatingSystem.IsWindows()) return 0;
        UnixFileMode mode;
        try { mode = entry.UnixFileMode; }
        catch (FileNotFoundException) { return 0; } // removed while we walked (a spool file delivered meanwhile)
        catch (DirectoryNotFoundException) { return 0; }
        var isDirectory = entry is DirectoryInfo;
        var wanted = isDirectory ? DirectoryMode : (mode & ~GroupOrOther) | UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (mode == wanted) return 0;
        try
        {
            File.SetUnixFileMode(entry.FullName, wanted);
            return 1;
        }
        catch (FileNotFoundException) { return 0; }
        catch (DirectoryNotFoundException) { return 0; }
        catch (UnauthorizedAccessException)
        {
            throw new DataDirectoryException(
                $"{entry.FullName} is {(isDirectory ? "a directory" : "a file")} with mode {Convert.ToString((int)mode, 8)} that other local users can reach, and this account ({Environment.UserName}) cannot change it; " +
                $"fix: chown -R {Environment.UserName} {Path.GetDirectoryName(entry.FullName.TrimEnd('/')) ?? entry.FullName} && chmod {(isDirectory ? "700" : "600")} {entry.FullName}, or run the gateway as its owner.");
        }
    }
}
