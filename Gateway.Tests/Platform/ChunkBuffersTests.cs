using Gateway.Platform;
using Gateway.Sealing;
using Gateway.Tests.Support;

namespace Gateway.Tests.Platform;

public sealed class ChunkBuffersTests
{
    [Fact]
    public void A_returned_buffer_is_zeroed_as_far_as_it_held_secrets_and_the_caller_keeps_an_empty_one()
    {
        var buffer = ChunkBuffers.Rent(64 * 1024);
        Assert.True(buffer.Length >= 64 * 1024);
        var held = buffer;
        held.AsSpan().Fill(0xAA);
        ChunkBuffers.Return(ref buffer, 1000);
        Assert.Empty(buffer); // a use after the return fails instead of reading someone else's buffer
        Assert.All(held.AsSpan(0, 1000).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xAA, held[1000]); // past what held secrets: given back as it was (ciphertext, say)
        ChunkBuffers.Return(ref buffer, 1000); // a second return does nothing
        Assert.Empty(buffer);
    }

    [Fact]
    public void Sealed_files_read_on_pooled_buffers_show_their_own_content_only()
    {
        // A large file fills the pooled buffers; a small one read after it on the same thread (the pool hands the
        // same arrays back) must show its own octets and end where it ends.
        var seal = SpoolSeal.Ephemeral();
        var directory = TempDirectory.Create("pooled");
        var large = Enumerable.Range(0, 3 * SpoolSeal.ChunkSize + 5).Select(i => (byte)'L').ToArray();
        var small = "small file"u8.ToArray();
        for (var round = 0; round < 3; round++)
        {
            var bigPath = Path.Combine(directory, $"big{round}");
            seal.WriteAtomic(bigPath, s => s.Write(large));
            Assert.Equal(large, seal.ReadAllBytes(bigPath));
            var smallPath = Path.Combine(directory, $"small{round}");
            seal.WriteAtomic(smallPath, s => s.Write(small));
            using var reader = seal.OpenRead(smallPath);
            var read = new byte[SpoolSeal.ChunkSize];
            var n = reader.ReadAtLeast(read, read.Length, throwOnEndOfStream: false);
            Assert.Equal(small, read.AsSpan(0, n).ToArray());
            Assert.Equal(0, reader.Read(read));
        }
        // The writer's read-back of a full chunk, on a pooled buffer longer than a chunk, ends at the chunk.
        using var writer = seal.Create(Path.Combine(directory, "partial"));
        writer.Write(large.AsSpan(0, SpoolSeal.ChunkSize + 1));
        writer.Position = 0;
        var back = new byte[SpoolSeal.ChunkSize + 100];
        Assert.Equal(SpoolSeal.ChunkSize, writer.Read(back));
    }
}
