using Gateway.Crypto;
using Gateway.Tests.Support;

namespace Gateway.Tests.Crypto;

public class CertificateDirectoryTests
{
    [Fact]
    public async Task The_same_certificate_learnt_by_several_threads_at_once_is_recorded_once_without_error()
    {
        // The Foreground and the Background learn a peer's chain from the two parts of one message at the same moment.
        var directory = new CertificateDirectory(Path.Combine(TempDirectory.Create("cert-directory"), "certificates.db"));
        using var _ = directory;
        var root = CertificateAuthority.CreateRoot(KeyPairs.Generate(KeyAlgorithm.EcP256), "race.test", TimeSpan.FromDays(30));
        using var start = new ManualResetEventSlim();
        var adders = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return directory.Add(root, "peer");
        })).ToList();
        start.Set();
        var added = await Task.WhenAll(adders);
        Assert.Single(added.Select(a => a.Id).Distinct());
        Assert.Single(directory.Entries());
    }
}
