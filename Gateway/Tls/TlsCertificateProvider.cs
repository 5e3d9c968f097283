using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;
using Gateway.Platform;
using Microsoft.Extensions.Logging;

namespace Gateway.Tls;

/// <summary>
/// Supplies the server certificate for STARTTLS and implicit TLS. With no certificate configured it generates a
/// self-signed one in the data directory on first start (its PFX encrypted with a key derived from the master
/// secret). A configured PEM or PFX is watched and reloaded when the file changes, without a restart.
/// </summary>
public sealed class TlsCertificateProvider : IDisposable
{
    readonly GatewayOptions _options;
    readonly DataDirectory _data;
    readonly ILogger<TlsCertificateProvider> _logger;
    readonly List<FileSystemWatcher> _watchers = new();
    readonly Lock _gate = new();
    SslStreamCertificateContext _context;
    Timer? _reloadTimer;

    public X509Certificate2 Certificate { get; private set; }

    public TlsCertificateProvider(GatewayOptions options, DataDirectory data, ILogger<TlsCertificateProvider> logger)
    {
        _options = options;
        _data = data;
        _logger = logger;
        (Certificate, _context) = Load();
        if (!string.IsNullOrWhiteSpace(options.Tls.CertificatePath)) Watch();
    }

    /// <summary>
    /// TLS 1.2 with forward secrecy and authenticated encryption only (ECDHE with AES-GCM or ChaCha20-Poly1305), and
    /// TLS 1.3. The CBC suites OpenSSL would otherwise also offer for TLS 1.2 are left out: every mail client and MTA of
    /// the last decade speaks GCM. Where the platform cannot restrict suites (Windows), its own defaults apply.
    /// </summary>
    static readonly CipherSuitesPolicy? AeadOnly = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()
        ? new CipherSuitesPolicy(new[]
        {
            TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        })
        : null;

    /// <summary>TLS 1.2 and 1.3 only, AEAD suites only; the certificate context is read at each handshake so a reload takes effect at once.</summary>
    public SslServerAuthenticationOptions CreateServerOptions()
    {
        lock (_gate)
        {
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            if (AeadOnly is not null) options.CipherSuitesPolicy = AeadOnly;
            return options;
        }
    }

    (X509Certificate2, SslStreamCertificateContext) Load()
    {
        var tls = _options.Tls;
        X509Certificate2 cert;
        X509Certificate2Collection chain = new();
        if (string.IsNullOrWhiteSpace(tls.CertificatePath))
        {
            cert = LoadOrCreateSelfSigned();
        }
        else if (IsPfx(tls.CertificatePath))
        {
            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(tls.CertificatePath, tls.Password);
            cert = all.FirstOrDefault(c => c.HasPrivateKey) ?? throw new InvalidOperationException($"{tls.CertificatePath} holds no certificate with a private key");
            foreach (var c in all) if (!ReferenceEquals(c, cert)) chain.Add(c);
        }
        else
        {
            var keyPath = string.IsNullOrWhiteSpace(tls.KeyPath) ? tls.CertificatePath : tls.KeyPath;
            cert = string.IsNullOrEmpty(tls.Password)
                ? X509Certificate2.CreateFromPemFile(tls.CertificatePath, keyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(tls.CertificatePath, tls.Password, keyPath);
            chain.ImportFromPemFile(tls.CertificatePath);
            foreach (var c in chain.Cast<X509Certificate2>().Where(c => c.Thumbprint == cert.Thumbprint).ToList()) chain.Remove(c);
        }
        _logger.LogInformation("TLS certificate {Subject}, valid until {NotAfter:u}, thumbprint {Thumbprint}", cert.Subject, cert.NotAfter, cert.Thumbprint);
        return (cert, SslStreamCertificateContext.Create(cert, chain, offline: true));
    }

    static bool IsPfx(string path) =>
        path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase);

    X509Certificate2 LoadOrCreateSelfSigned()
    {
        var path = Path.Combine(_data.TlsDirectory, "self-signed.pfx");
        var password = Convert.ToBase64String(_data.DeriveSecret("tls/self-signed.pfx"));
        if (File.Exists(path))
        {
            var existing = X509CertificateLoader.LoadPkcs12FromFile(path, password);
            if (existing.NotAfter > DateTime.UtcNow.AddDays(30)) return existing;
            _logger.LogWarning("Self-signed TLS certificate expires {NotAfter:u}; generating a new one", existing.NotAfter);
        }

        using var key = RSA.Create(3072);
        var request = new CertificateRequest($"CN={_options.Hostname}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(_options.Hostname);
        if (_options.Hostname != "localhost") san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(2));
        var pfx = created.Export(X509ContentType.Pkcs12, password);
        DurableFile.WriteAllBytesAtomic(path, pfx);
        DurableFile.MakePrivate(path);
        _logger.LogInformation("Generated a self-signed TLS certificate for {Hostname} in {Path}; configure Gateway:Tls:CertificatePath to use your own", _options.Hostname, path);
        return X509CertificateLoader.LoadPkcs12(pfx, password);
    }

    void Watch()
    {
        foreach (var file in new[] { _options.Tls.CertificatePath, _options.Tls.KeyPath }.Where(f => !string.IsNullOrWhiteSpace(f)).Distinct())
        {
            var full = Path.GetFullPath(file!);
            var watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Changed += (_, _) => ScheduleReload();
            watcher.Created += (_, _) => ScheduleReload();
            watcher.Renamed += (_, _) => ScheduleReload();
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    void ScheduleReload()
    {
        // Editors and cert tools write in several steps: wait for the files to settle.
        lock (_gate)
        {
            _reloadTimer?.Dispose();
            _reloadTimer = new Timer(_ => Reload(), null, TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Reloads the configured certificate; on failure the previous one stays in use.</summary>
    public void Reload()
    {
        try
        {
            var (cert, context) = Load();
            lock (_gate)
            {
                Certificate = cert;
                _context = context;
            }
            _logger.LogInformation("Reloaded TLS certificate {Subject} ({Thumbprint})", cert.Subject, cert.Thumbprint);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or InvalidOperationException or ArgumentException)
        {
            _logger.LogError("Could not reload the TLS certificate, keeping the previous one: {Reason}", ex.Message);
        }
    }

    public void Dispose()
    {
        foreach (var w in _watchers) w.Dispose();
        _reloadTimer?.Dispose();
    }
}
