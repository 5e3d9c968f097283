using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Platform;

namespace Gateway.Admin;

/// <summary>Opens this courier's key store and certificate directory for an admin verb, turning start-up errors into one clear line.</summary>
public sealed class CourierStores : IDisposable
{
    public KeyStore Keys { get; }
    public CertificateDirectory Directory { get; }
    public CourierAuthority Authority { get; }
    public GatewayOptions Options { get; }

    CourierStores(GatewayOptions options, KeyStore keys, CertificateDirectory directory)
    {
        Options = options;
        Keys = keys;
        Directory = directory;
        Authority = new CourierAuthority(keys, directory, CourierAuthority.CrlUrlFor(options.Web.PublicUrl));
    }

    public static CourierStores Open(GatewayOptions options)
    {
        var data = new DataDirectory(options.DataDirectory);
        data.EnsureCreated(options);
        var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
        return new CourierStores(options, keys, new CertificateDirectory(data.CertificateDirectoryPath));
    }

    /// <summary>Runs an admin action with the stores open; known failures print "gateway: ..." and give exit code 1.</summary>
    public static int Run(GatewayOptions? options, Func<CourierStores, int> action)
    {
        if (options is null) return 2;
        try
        {
            using var stores = Open(options);
            return action(stores);
        }
        catch (Exception ex) when (ex is MasterKeyException or KeyStoreException or CourierAuthorityException or IOException or ArgumentException)
        {
            Console.Error.WriteLine("gateway: " + ex.Message);
            return 1;
        }
    }

    public void Dispose()
    {
        Keys.Dispose();
        Directory.Dispose();
    }
}
