using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>The body of a request between a split courier's hosts (a signed or sealed MIME entity), read whole up to a limit.</summary>
public static class RequestBody
{
    public const int MaxOctets = 64 * 1024;

    /// <summary>The body, or null when it is (or says it is) larger than <see cref="MaxOctets"/> (answer 413).</summary>
    public static async Task<byte[]?> ReadAsync(HttpContext http)
    {
        if (http.Request.ContentLength is > MaxOctets) return null;
        using var body = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted)) > 0)
        {
            body.Write(buffer, 0, read);
            if (body.Length > MaxOctets) return null;
        }
        return body.ToArray();
    }
}
