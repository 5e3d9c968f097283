namespace Gateway.Crypto;

/// <summary>
/// The HTTP client for a courier's own HTTPS calls to another courier or element (CRL fetches, key release): TLS 1.2
/// or 1.3, a short connect timeout, and no check of the server certificate, since couriers' web listeners may use
/// self-signed ones; what travels is checked by its own signature instead.
/// </summary>
public static class CourierHttpClient
{
    public static HttpClient Create(TimeSpan timeout) => new(new SocketsHttpHandler
    {
        SslOptions =
        {
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        },
        ConnectTimeout = TimeSpan.FromSeconds(5),
    }) { Timeout = timeout };
}
