using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.Courier;
using Gateway.Smtp;
using Gateway.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// The sender's status page (<c>/status</c>, HTTPS only): the user's sent protected messages, newest first, with each
/// recipient's state (delivered, opened at, refused) and a button to revoke a message. Plain server-rendered HTML that
/// works without JavaScript. Users log in with HTTP Basic authentication (their mail password), throttled like SMTP
/// and IMAP logins; the revoke form carries a token bound to the user and the message (HMAC under a per-process key),
/// so another site cannot make a logged-in browser revoke anything.
/// </summary>
public sealed class StatusPage(ISentMessages sent, UserAuthenticator authenticator, AuthThrottle throttle)
{
    public const string Path = "/status";
    public const string RevokePath = "/status/revoke";
    const int MaxMessages = 200;

    readonly byte[] _formKey = RandomNumberGenerator.GetBytes(32);

    public static void Map(WebApplication app)
    {
        app.MapGet(Path, (HttpContext http, StatusPage page) => page.ShowAsync(http));
        app.MapPost(RevokePath, (HttpContext http, StatusPage page) => page.RevokeAsync(http));
    }

    async Task ShowAsync(HttpContext http)
    {
        if (await AuthenticateAsync(http) is not { } user) return;
        var notice = http.Request.Query["revoked"].ToString();
        var html = Render(user, await sent.SentByAsync(user, MaxMessages, http.RequestAborted), notice);
        Secure(http.Response);
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync(html, http.RequestAborted);
    }

    async Task RevokeAsync(HttpContext http)
    {
        if (await AuthenticateAsync(http) is not { } user) return;
        Secure(http.Response);
        if (!http.Request.HasFormContentType) { await Plain(http, 400, "expected a form\n"); return; }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var id = form["id"].ToString();
        var token = form["token"].ToString();
        if (id.Length is 0 or > 200 || !TokenMatches(user, id, token)) { await Plain(http, 403, "this form has expired or was not made for you; reload the status page and try again\n"); return; }
        if (!await sent.RevokeAsync(id, user, http.RequestAborted)) { await Plain(http, 404, "no such message of yours\n"); return; }
        http.Response.Redirect(Path + "?revoked=" + Uri.EscapeDataString(id), permanent: false);
        http.Response.StatusCode = StatusCodes.Status303SeeOther;
    }

    /// <summary>HTTP Basic authentication against the user store; answers 401 (or 429 while locked out) and returns null when it fails.</summary>
    async Task<string?> AuthenticateAsync(HttpContext http)
    {
        var remote = http.Connection.RemoteIpAddress ?? IPAddress.None;
        string? user = null, password = null;
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                var colon = pair.IndexOf(':');
                if (colon > 0) (user, password) = (pair[..colon], pair[(colon + 1)..]);
            }
            catch (FormatException) { }
        }
        if (user is null || password is null)
        {
            await Challenge(http);
            return null;
        }
        if (throttle.IsLockedOut(remote, user)) { await Plain(http, 429, "too many failed logins; try again later\n"); return null; }
        var address = await authenticator.AuthenticateAsync(user, password, http.RequestAborted);
        if (address is null)
        {
            await Task.Delay(throttle.RecordFailure(remote, user), http.RequestAborted);
            await Challenge(http);
            return null;
        }
        throttle.RecordSuccess(remote, address);
        return address;
    }

    static Task Challenge(HttpContext http)
    {
        http.Response.Headers.WWWAuthenticate = "Basic realm=\"Gateway status\", charset=\"UTF-8\"";
        return Plain(http, 401, "log in with your mail address and password\n");
    }

    internal static Task Plain(HttpContext http, int status, string text)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        return http.Response.WriteAsync(text, http.RequestAborted);
    }

    internal static void Secure(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    string Token(string user, string id) =>
        Convert.ToHexString(HMACSHA256.HashData(_formKey, Encoding.UTF8.GetBytes(user.ToLowerInvariant() + "\n" + id)));

    bool TokenMatches(string user, string id, string token) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Token(user, id)), Encoding.ASCII.GetBytes(token));

    string Render(string user, IReadOnlyList<SentMessageStatus> messages, string revokedNotice)
    {
        static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
        var b = new StringBuilder();
        b.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sent messages of ").Append(H(user)).Append("</title>")
         .Append("<style>body{font-family:sans-serif;margin:1em;max-width:60em}h1,h2,code{overflow-wrap:anywhere}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>\n")
         .Append("<h1>Sent messages of ").Append(H(user)).Append("</h1>\n");
        if (revokedNotice.Length > 0) b.Append("<p role=\"status\">Message ").Append(H(revokedNotice)).Append(" is revoked: no recipient can open it from now on.</p>\n");
        if (messages.Count == 0) b.Append("<p>You have sent no protected messages yet.</p>\n");
        foreach (var m in messages)
        {
            var s = m.Message;
            b.Append("<section><h2>").Append(H(s.InternetMessageId ?? s.Id)).Append("</h2>\n<p>Sent ").Append(H($"{s.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC"))
             .Append(" &middot; courier id <code>").Append(H(s.Id)).Append("</code> &middot; restrictions: ").Append(H(s.Restrictions)).Append("</p>\n");
            if (s.Revoked) b.Append("<p><strong>Revoked</strong> at ").Append(H($"{s.RevokedUtc?.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC")).Append("</p>\n");
            b.Append("<table><tr><th>Recipient</th><th>Status</th><th>Details</th></tr>\n");
            foreach (var r in m.Recipients)
                b.Append("<tr><td>").Append(H(r.Recipient)).Append("</td><td>").Append(H(StateText(r.State))).Append("</td><td>").Append(H(r.Detail)).Append("</td></tr>\n");
            b.Append("</table>\n");
            if (!s.Revoked)
                b.Append("<form method=\"post\" action=\"").Append(RevokePath).Append("\"><input type=\"hidden\" name=\"id\" value=\"").Append(H(s.Id))
                 .Append("\"><input type=\"hidden\" name=\"token\" value=\"").Append(Token(user, s.Id)).Append("\"><button type=\"submit\">Revoke this message</button></form>\n");
            b.Append("</section>\n");
        }
        b.Append("</body></html>\n");
        return b.ToString();
    }

    static string StateText(RecipientState state) => state switch
    {
        RecipientState.Delivered => "delivered",
        RecipientState.Opened => "opened",
        RecipientState.Refused => "refused",
        _ => "not delivered",
    };
}
