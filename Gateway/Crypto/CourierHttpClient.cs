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

    /// <summary>Whether a request failed because the other host could not be reached or did not answer in time (HttpClient
    /// reports its timeout as a <see cref="TaskCanceledException"/>); the caller's own cancellation is not such a failure.</summary>
    public static bool Unreachable(Exception ex, CancellationToken cancellationToken = default) =>
        ex is HttpRequestException or IOException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    /// <summary>One request between a split courier's hosts: a signed or sealed MIME entity posted to <paramref name="url"/>;
    /// the answer's status, body and headers. Transport failures throw as HttpClient's do. Asynchronous: no thread is
    /// held while the other host answers.</summary>
    public static async Task<(System.Net.HttpStatusCode Status, byte[] Body, System.Net.Http.Headers.HttpResponseHeaders Headers)> PostMimeAsync(
        this HttpClient http, Uri url, byte[] entity, CancellationToken cancellationToken)
    {
        var content = new ByteArrayContent(entity);
        content.Headers.ContentType = new("application/pkcs7-mime");
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, url) { Content = content }, cancellationToken);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync(cancellationToken), response.Headers);
    }
}
