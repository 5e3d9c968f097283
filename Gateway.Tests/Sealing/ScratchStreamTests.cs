using System.Text;
using Gateway.Sealing;
using Gateway.Tests.Support;

namespace Gateway.Tests.Sealing;

/// <summary>
/// Working copies: small ones stay in memory; a large one moves to a file that has no name in the directory, holds
/// no octet of the message in clear (raw or base64), reads back exactly, and is gone when the copy is closed.
/// </summary>
public class ScratchStreamTests
{
    static IEnumerable<string> OpenScratchFiles() =>
        new DirectoryInfo($"/proc/{Environment.ProcessId}/fd").EnumerateFileSystemInfos()
            .Select(fd => (Fd: fd.FullName, Target: fd.LinkTarget ?? ""))
            .Where(f => f.Target.Contains(".scratch", StringComparison.Ordinal))
            .Select(f => f.Fd);

    [Fact]
    public async Task A_large_copy_lives_in_an_unlinked_sealed_file()
    {
        var directory = TempDirectory.Create("scratch");
        ScratchSpace.Configure(directory, clean: true);
        var marker = "SCRATCH-MARKER-" + Guid.NewGuid().ToString("N");
        var line = Encoding.ASCII.GetBytes(marker + " the body of a large message\r\n");
        var content = new MemoryStream();
        while (content.Length < 3 * ScratchSpace.InMemoryBytes) content.Write(line);
        var expected = content.ToArray();

        using (var small = ScratchSpace.Create())
        {
            small.Write(line);
            Assert.False(small.InFile);
        }

        var scratchFiles = new List<string>();
        using (var copy = ScratchSpace.Create())
        {
            copy.Write(expected);
            Assert.True(copy.InFile);
            Assert.Empty(Directory.EnumerateFileSystemEntries(ScratchSpace.Directory!));

            scratchFiles.AddRange(OpenScratchFiles());
            Assert.NotEmpty(scratchFiles);
            var largest = 0;
            foreach (var fd in scratchFiles)
            {
                // Read by another process: this one holds the file locked.
                var read = await ExternalTool.RunAsync("base64", ["-w0", fd]);
                Assert.True(read.ExitCode == 0, read.StdErr);
                var bytes = Convert.FromBase64String(read.StdOut.Trim());
                largest = Math.Max(largest, bytes.Length);
                var onDisk = Encoding.Latin1.GetString(bytes);
                Assert.DoesNotContain(marker, onDisk, StringComparison.Ordinal);
                Assert.DoesNotContain(Convert.ToBase64String(Encoding.ASCII.GetBytes(marker))[..20], onDisk, StringComparison.Ordinal);
            }

            // Ours is among them (others may be open for other tests): sealed whole chunks and their tags, past the copy's size.
            Assert.True(largest > expected.Length - 64 * 1024, $"no scratch file near the copy's size ({largest} octets)");

            copy.Position = 0;
            var back = new MemoryStream();
            copy.CopyTo(back);
            Assert.Equal(expected, back.ToArray());
            copy.Position = 12345;
            var piece = new byte[100];
            copy.ReadExactly(piece);
            Assert.Equal(expected.AsSpan(12345, 100).ToArray(), piece);
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
    }
}
