using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Xunit;

namespace Gateway.Tests.Crypto;

public class SealingKeyTests
{
    static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void What_a_sealing_key_seals_opens_with_the_bare_key_and_the_other_way_round()
    {
        var key = new SealingKey(Key);
        var place = "value\nheader\nblob-1"u8.ToArray();
        var sealedByKey = key.Seal("Subject: first"u8, place);
        Assert.Equal("Subject: first", Encoding.ASCII.GetString(SealedSecret.Open(Key, sealedByKey, place)));
        var sealedBare = SealedSecret.Seal(Key, "Subject: second"u8, place);
        Assert.Equal("Subject: second", Encoding.ASCII.GetString(key.Open(sealedBare, place)));
    }

    [Fact]
    public void A_refused_value_leaves_the_kept_contexts_usable()
    {
        var key = new SealingKey(Key);
        var good = key.Seal("kept"u8, "place-a"u8);
        // The wrong place, a flipped bit and another key are each refused...
        Assert.ThrowsAny<CryptographicException>(() => key.Open(good, "place-b"u8));
        var flipped = (byte[])good.Clone();
        flipped[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => key.Open(flipped, "place-a"u8));
        Assert.ThrowsAny<CryptographicException>(() => new SealingKey(RandomNumberGenerator.GetBytes(32)).Open(good, "place-a"u8));
        // ...and the contexts those attempts gave back still open what is right.
        for (var i = 0; i < 4; i++) Assert.Equal("kept", Encoding.ASCII.GetString(key.Open(good, "place-a"u8)));
    }

    [Fact]
    public void Many_threads_sealing_and_opening_at_once_each_get_their_own_value_back()
    {
        var key = new SealingKey(Key);
        var failures = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            for (var i = 0; i < 500; i++)
            {
                var text = $"worker {worker} value {i}";
                var place = Encoding.ASCII.GetBytes($"place {worker}/{i}");
                var sealedValue = key.Seal(Encoding.ASCII.GetBytes(text), place);
                if (Encoding.ASCII.GetString(key.Open(sealedValue, place)) != text) Interlocked.Increment(ref failures);
            }
        });
        Assert.Equal(0, failures);
    }
}
