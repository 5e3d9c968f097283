using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Tests.Support;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto.Parameters;

namespace Gateway.Tests.Crypto;

/// <summary>
/// The streamed EnvelopedData writer and the AES-CBC content reader at every size that meets a chunk or block edge:
/// what the writer makes, BouncyCastle's CMS parser and openssl cms open; what they make, the reader opens.
/// </summary>
public class EnvelopedDataWriterTests
{
    static readonly int[] Sizes = [0, 1, 15, 16, 17, CbcContent.ChunkBytes - 1, CbcContent.ChunkBytes, CbcContent.ChunkBytes + 1,
        CbcContent.ChunkBytes + 16, 2 * CbcContent.ChunkBytes + 15, 300_000];

    static byte[] Random(int size) => RandomNumberGenerator.GetBytes(size);

    [Fact]
    public void What_the_writer_makes_BouncyCastle_opens_and_what_BouncyCastle_makes_the_reader_opens()
    {
        foreach (var size in Sizes)
        {
            var plain = Random(size);
            var kek = ContentPart.NewCek();
            var keyId = "m-" + size;

            // Ours -> BouncyCastle's parser (written in odd-sized pieces, so chunking does not follow the writes).
            var ours = new MemoryStream();
            using (var sink = EnvelopedDataWriter.Open(ours, [new KekRecipientInfoGenerator(kek, System.Text.Encoding.UTF8.GetBytes(keyId))]))
                for (var offset = 0; offset < size; offset += 7777) sink.Write(plain, offset, Math.Min(7777, size - offset));
            var parser = new CmsEnvelopedDataParser(ours.ToArray());
            var recipient = parser.GetRecipientInfos().GetRecipients().Single();
            using (var content = recipient.GetContentStream(new KeyParameter(kek)).ContentStream)
            {
                var back = new MemoryStream();
                content.CopyTo(back);
                Assert.True(plain.AsSpan().SequenceEqual(back.ToArray()), $"size {size}: BouncyCastle read back something else");
            }
            // Ours -> ours.
            Assert.Equal(plain, ContentPart.Open(ours.ToArray(), keyId, kek));

            // BouncyCastle's generator -> our reader.
            var generator = new CmsEnvelopedDataStreamGenerator();
            generator.AddKekRecipient("AES256", new KeyParameter(kek), System.Text.Encoding.UTF8.GetBytes(keyId));
            var theirs = new MemoryStream();
            using (var sink = generator.Open(theirs, CmsEnvelopedGenerator.Aes256Cbc)) sink.Write(plain);
            Assert.Equal(plain, ContentPart.Open(theirs.ToArray(), keyId, kek));
        }
    }

    [Fact]
    public void Damage_is_refused_not_read_wrong()
    {
        var kek = ContentPart.NewCek();
        var plain = Random(CbcContent.ChunkBytes + 100);
        var der = ContentPart.Seal(plain, "m", kek);
        // The last ciphertext block (its padding) altered: almost always refused (bad padding); CBC alone cannot always
        // tell (in the courier the ARM's digest of the DER does), but it is never read back as the original.
        var tampered = (byte[])der.Clone();
        tampered[^20] ^= 0x01;
        try { Assert.NotEqual(plain, ContentPart.Open(tampered, "m", kek)); }
        catch (ContentPartException) { }
        // Cut short inside the content: refused.
        Assert.Throws<ContentPartException>(() => ContentPart.Open(der.AsSpan(0, der.Length - 200).ToArray(), "m", kek));
        // A wrapped key under another KEK: refused before any content is read.
        Assert.Throws<ContentPartException>(() => ContentPart.Open(der, "m", ContentPart.NewCek()));
    }

    [Fact]
    public async Task Openssl_opens_what_the_writer_makes_for_an_EC_recipient()
    {
        var dir = TempDirectory.Create("enveloped-writer");
        var (key, certificate, bcCertificate) = await TestKeys.OpensslEcAsync(dir, "/CN=reader/emailAddress=reader@a.test");

        foreach (var size in new[] { 0, 17, CbcContent.ChunkBytes, 200_001 })
        {
            var plain = Random(size);
            var path = Path.Combine(dir, $"env-{size}.der");
            await using (var file = File.Create(path))
            await using (var sink = EnvelopedDataWriter.Open(file, [new EcdhRecipientInfoGenerator(bcCertificate)]))
                sink.Write(plain);
            var opened = await ExternalTool.RunAsync("openssl", ["cms", "-decrypt", "-binary", "-inform", "DER", "-in", path, "-inkey", key,
                "-recip", certificate, "-out", path + ".plain"]);
            Assert.True(opened.ExitCode == 0, $"size {size}: {opened.StdErr}");
            Assert.Equal(plain, await File.ReadAllBytesAsync(path + ".plain"));
        }
    }
}
