using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Gateway.Sealing;
using Gateway.Tests.Support;
using Org.BouncyCastle.OpenSsl;

namespace Gateway.Tests.Sealing;

/// <summary>A stored message sealed to its owner: read back by the gateway from any offset, and opened by openssl with the owner's key alone.</summary>
public sealed class CmsBlobTests
{
    static byte[] Message(int bodyLines, string marker)
    {
        var text = new StringBuilder($"From: a@example.org\r\nTo: b@example.org\r\nSubject: {marker}\r\n\r\n");
        for (var i = 0; i < bodyLines; i++) text.Append($"line {i} of the body {marker}\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, 0)]
    [InlineData(KeyAlgorithm.EcP256, 5000)]
    [InlineData(KeyAlgorithm.Rsa3072, 3)]
    public async Task Openssl_opens_a_sealed_message_with_the_owners_key_and_the_gateway_reads_any_part(KeyAlgorithm algorithm, int lines)
    {
        ExternalTool.Require("openssl");
        var dir = TempDirectory.Create("cmsblob");
        var pair = KeyPairs.Generate(algorithm);
        var certificate = CertificateAuthority.CreateRoot(pair, "owner@example.org", TimeSpan.FromDays(1));
        var marker = "CMSBLOB-" + Guid.NewGuid().ToString("N");
        var plain = Message(lines, marker);
        var path = Path.Combine(dir, "blob.p7m");
        byte[] cek, digests;
        await using (var file = File.Create(path)) (cek, digests) = CmsBlob.Write(certificate, new MemoryStream(plain), plain.Length, file);
        Assert.True(File.ReadAllBytes(path).AsSpan().IndexOf(Encoding.ASCII.GetBytes(marker)) < 0);

        using (var read = CmsBlob.Open(File.OpenRead(path), cek, digests))
        {
            Assert.Equal(plain.Length, read.Length);
            var all = new byte[read.Length];
            read.ReadExactly(all);
            Assert.Equal(plain, all);
            foreach (var offset in new[] { plain.Length - 1, plain.Length / 3, 17, 0 })
            {
                read.Position = offset;
                var slice = new byte[Math.Min(33, plain.Length - offset)];
                read.ReadExactly(slice);
                Assert.Equal(plain.AsSpan(offset, slice.Length).ToArray(), slice);
            }
        }

        // The operator's recovery: the owner's key and certificate, and nothing of the gateway.
        await File.WriteAllTextAsync(Path.Combine(dir, "owner.pem"), CourierAuthority.Pem(certificate));
        await File.WriteAllTextAsync(Path.Combine(dir, "owner.key"), CourierAuthority.Pem(new Pkcs8Generator(pair.Private)));
        var decrypt = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-recip", Path.Combine(dir, "owner.pem"),
            "-inkey", Path.Combine(dir, "owner.key"), "-binary", "-out", Path.Combine(dir, "out.eml") });
        Assert.True(decrypt.ExitCode == 0, decrypt.All);
        Assert.Equal(plain, await File.ReadAllBytesAsync(Path.Combine(dir, "out.eml")));

        // Another key opens nothing.
        var other = KeyPairs.Generate(algorithm);
        await File.WriteAllTextAsync(Path.Combine(dir, "other.key"), CourierAuthority.Pem(new Pkcs8Generator(other.Private)));
        var refused = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-inkey", Path.Combine(dir, "other.key"), "-out", Path.Combine(dir, "other.eml") });
        Assert.NotEqual(0, refused.ExitCode);
    }

    static (byte[] Blob, byte[] Cek, byte[] Digests, byte[] Plain) Sealed(int lines)
    {
        var pair = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var certificate = CertificateAuthority.CreateRoot(pair, "owner@example.org", TimeSpan.FromDays(1));
        var plain = Message(lines, "x");
        var buffer = new MemoryStream();
        var (cek, digests) = CmsBlob.Write(certificate, new MemoryStream(plain), plain.Length, buffer);
        return (buffer.ToArray(), cek, digests, plain);
    }

    static byte[] ReadAll(Stream s)
    {
        var all = new byte[s.Length];
        s.ReadExactly(all);
        return all;
    }

    [Fact]
    public void A_changed_bit_anywhere_in_the_ciphertext_is_refused_where_it_is_read()
    {
        var (blob, cek, digests, plain) = Sealed(8000); // about 3 windows of 64 KiB
        Assert.True(digests.Length >= 3 * CmsBlob.DigestSize);
        var contentStart = blob.Length - (plain.Length / 16 + 1) * 16;
        using (var intact = CmsBlob.Open(new MemoryStream(blob), cek, digests)) Assert.Equal(plain, ReadAll(intact));

        // A bit of the last block of the first window: CBC would flip the same bit in the second window's first
        // block and garble one block of the first; both windows refuse.
        var altered = blob.ToArray();
        altered[contentStart + CmsBlob.DigestWindow - 3] ^= 0x20;
        using (var read = CmsBlob.Open(new MemoryStream(altered), cek, digests))
        {
            read.Position = CmsBlob.DigestWindow + 5;
            Assert.Throws<CryptographicException>(() => read.ReadByte());
            read.Position = 0;
            Assert.Throws<CryptographicException>(() => read.ReadByte());
            read.Position = 2 * CmsBlob.DigestWindow + 5; // an untouched window still reads
            Assert.Equal(plain[2 * CmsBlob.DigestWindow + 5], (byte)read.ReadByte());
        }
        // The last window is checked on open (its padding gives the length).
        altered = blob.ToArray();
        altered[^20] ^= 1;
        Assert.Throws<CryptographicException>(() => CmsBlob.Open(new MemoryStream(altered), cek, digests));
        // Digests of another message, or none.
        var other = Sealed(8000);
        Assert.Throws<CryptographicException>(() => CmsBlob.Open(new MemoryStream(blob), cek, other.Digests));
        Assert.Throws<CryptographicException>(() => CmsBlob.Open(new MemoryStream(blob), cek, Array.Empty<byte>()));
    }

    [Fact]
    public void A_wrong_key_or_a_cut_file_does_not_read_as_a_message()
    {
        var (blob, cek, digests, _) = Sealed(50);
        Assert.Throws<CryptographicException>(() => CmsBlob.Open(new MemoryStream(blob), RandomNumberGenerator.GetBytes(32), digests).ReadByte());
        var cut = blob.AsSpan(0, blob.Length - 16).ToArray();
        Assert.Throws<CryptographicException>(() => CmsBlob.Open(new MemoryStream(cut), cek, digests));
    }

    [Fact]
    public void A_message_shorter_than_its_announced_length_is_not_sealed()
    {
        var pair = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var certificate = CertificateAuthority.CreateRoot(pair, "owner@example.org", TimeSpan.FromDays(1));
        Assert.Throws<IOException>(() => CmsBlob.Write(certificate, new MemoryStream(new byte[10]), 11, new MemoryStream()));
    }
}
