using System.Security.Cryptography;
using System.Text;
using Gateway.Sealing;
using Gateway.Tests.Support;

namespace Gateway.Tests.Sealing;

public sealed class SpoolSealTests
{
    static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++) bytes[i] = (byte)('a' + i % 23);
        return bytes;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(SpoolSeal.ChunkSize - 1)]
    [InlineData(SpoolSeal.ChunkSize)]
    [InlineData(SpoolSeal.ChunkSize + 1)]
    [InlineData(3 * SpoolSeal.ChunkSize + 777)]
    public void What_is_written_reads_back_whole_and_from_any_offset(int length)
    {
        var seal = SpoolSeal.Ephemeral();
        var path = Path.Combine(TempDirectory.Create("spool"), "m.eml");
        var plain = Pattern(length);
        using (var writer = seal.Create(path))
        {
            // Odd write sizes, so chunk boundaries fall inside writes.
            for (var at = 0; at < length; at += 1000) writer.Write(plain, at, Math.Min(1000, length - at));
            Assert.Equal(length, writer.Length);
            writer.Complete(flushToDisk: true);
        }
        Assert.Equal(plain, seal.ReadAllBytes(path));
        using var reader = seal.OpenRead(path);
        Assert.Equal(length, reader.Length);
        foreach (var offset in new[] { length / 2, length - 1, 0, SpoolSeal.ChunkSize - 3 }.Where(o => o >= 0 && o < length))
        {
            reader.Position = offset;
            var slice = new byte[Math.Min(10, length - offset)];
            reader.ReadExactly(slice);
            Assert.Equal(plain.AsSpan(offset, slice.Length).ToArray(), slice);
        }
        var raw = File.ReadAllBytes(path);
        if (length >= 40) Assert.True(raw.AsSpan().IndexOf(plain.AsSpan(0, 40)) < 0, "plaintext in the sealed file");
    }

    [Fact]
    public void What_was_written_reads_back_before_the_file_is_complete_and_writing_goes_on()
    {
        var seal = SpoolSeal.Ephemeral();
        var path = Path.Combine(TempDirectory.Create("spool"), "m.eml");
        var first = Pattern(SpoolSeal.ChunkSize + 500);
        using (var writer = seal.Create(path))
        {
            writer.Write(first);
            var end = writer.Position;
            writer.Position = 0;
            var back = new byte[first.Length];
            writer.ReadExactly(back); // the SMTP policy reads the message before it is committed
            Assert.Equal(first, back);
            writer.Position = end;
            writer.Write("tail"u8);
            writer.Complete(flushToDisk: false);
        }
        Assert.Equal(first.Concat("tail"u8.ToArray()).ToArray(), seal.ReadAllBytes(path));
        // Nothing of the partial chunk was written to the file before Complete: its size is header + one full chunk + the last.
        Assert.Equal(SpoolSeal.HeaderSize + 2 * SpoolSeal.TagSize + first.Length + 4, new FileInfo(path).Length);
    }

    [Fact]
    public void A_file_cut_short_altered_or_sealed_under_another_key_is_refused()
    {
        var seal = SpoolSeal.Ephemeral();
        var dir = TempDirectory.Create("spool");
        var path = Path.Combine(dir, "m.eml");
        seal.WriteAllBytesAtomic(path, Pattern(2 * SpoolSeal.ChunkSize + 10));
        var whole = File.ReadAllBytes(path);

        // Cut at a chunk boundary: the chunk now last was sealed as "not last".
        File.WriteAllBytes(path, whole.AsSpan(0, SpoolSeal.HeaderSize + 2 * (SpoolSeal.ChunkSize + SpoolSeal.TagSize)).ToArray());
        Assert.Throws<SealedFileException>(() => seal.ReadAllBytes(path));
        // Cut inside a chunk.
        File.WriteAllBytes(path, whole.AsSpan(0, whole.Length - 5).ToArray());
        Assert.Throws<SealedFileException>(() => seal.ReadAllBytes(path));
        // One bit changed in the first chunk: refused when it is read.
        var altered = whole.ToArray();
        altered[SpoolSeal.HeaderSize + 100] ^= 1;
        File.WriteAllBytes(path, altered);
        using (var reader = seal.OpenRead(path)) Assert.Throws<SealedFileException>(() => reader.ReadByte());
        // Another master key.
        File.WriteAllBytes(path, whole);
        Assert.Throws<SealedFileException>(() => SpoolSeal.Ephemeral().OpenRead(path));
        Assert.Equal(whole.Length, new FileInfo(path).Length);
    }

    [Fact]
    public void A_plain_file_from_before_sealing_is_read_and_sealed_in_place()
    {
        var seal = SpoolSeal.Ephemeral();
        var path = Path.Combine(TempDirectory.Create("spool"), "m.json");
        var text = Encoding.UTF8.GetBytes("{\"Id\":\"legacy-" + Guid.NewGuid().ToString("N") + "\"}");
        File.WriteAllBytes(path, text);
        Assert.False(SpoolSeal.IsSealed(path));
        Assert.Equal(text, seal.ReadAllBytes(path));
        seal.SealInPlace(path);
        Assert.True(SpoolSeal.IsSealed(path));
        Assert.True(File.ReadAllBytes(path).AsSpan().IndexOf(text.AsSpan(0, 20)) < 0);
        Assert.Equal(text, seal.ReadAllBytes(path));
    }

    [Fact]
    public void Each_file_has_its_own_data_key()
    {
        var seal = SpoolSeal.Ephemeral();
        var dir = TempDirectory.Create("spool");
        var plain = Pattern(5000);
        seal.WriteAllBytesAtomic(Path.Combine(dir, "a"), plain);
        seal.WriteAllBytesAtomic(Path.Combine(dir, "b"), plain);
        var a = File.ReadAllBytes(Path.Combine(dir, "a")).AsSpan(SpoolSeal.HeaderSize).ToArray();
        var b = File.ReadAllBytes(Path.Combine(dir, "b")).AsSpan(SpoolSeal.HeaderSize).ToArray();
        Assert.False(CryptographicOperations.FixedTimeEquals(a, b));
    }
}
