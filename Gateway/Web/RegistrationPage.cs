using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.Courier;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web;

/// <summary>
/// The registration page an Invitation links to (<c>/register?token=...</c>, HTTPS only): plain server-rendered HTML
/// that works without JavaScript, where the invited person chooses a password. The form is protected against
/// cross-site posting by a double submit: a random cookie (SameSite=Strict, Secure, HttpOnly) and a form field that is
/// an HMAC of the cookie and the invitation; both must match. The link itself is one-time and expires
/// (<see cref="InvitationDesk"/>).
/// </summary>
public sealed class RegistrationPage(IRegistrationDesk desk, Gateway.Configuration.GatewayOptions options)
{
    public const string Path = "/register";
    const string CookieName = "gateway-registration";
    const int MinimumPassword = Admin.UserCommands.MinimumPasswordLength;
    readonly byte[] _formKey = RandomNumberGenerator.GetBytes(32);

    public static void Map(WebApplication app)
    {
        app.MapGet(Path, (HttpContext http, RegistrationPage page) => page.ShowAsync(http));
        app.MapPost(Path, (HttpContext http, RegistrationPage page) => page.SubmitAsync(http));
    }

    async Task ShowAsync(HttpContext http)
    {
        StatusPage.Secure(http.Response);
        var token = http.Request.Query["token"].ToString();
        InvitationRecord record;
        try { record = await desk.CheckAsync(token, http.RequestAborted); }
        catch (RegistrationException ex) { await Html(http, 410, Page("Registration", $"<p>{H(ex.Message)}</p>")); return; }
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        http.Response.Cookies.Append(CookieName, nonce, new CookieOptions { HttpOnly = true, Secure = true, SameSite = SameSiteMode.Strict, Path = Path, MaxAge = TimeSpan.FromHours(1) });
        await Html(http, 200, Form(record, token, FormToken(nonce, record.Id), null));
    }

    async Task SubmitAsync(HttpContext http)
    {
        StatusPage.Secure(http.Response);
        if (!http.Request.HasFormContentType) { await StatusPage.Plain(http, 400, "expected a form\n"); return; }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var token = form["token"].ToString();
        InvitationRecord record;
        try { record = await desk.CheckAsync(token, http.RequestAborted); }
        catch (RegistrationException ex) { await Html(http, 410, Page("Registration", $"<p>{H(ex.Message)}</p>")); return; }
        var nonce = http.Request.Cookies[CookieName];
        var expected = nonce is null ? null : FormToken(nonce, record.Id);
        var given = form["csrf"].ToString();
        if (expected is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given)))
        {
            await StatusPage.Plain(http, 403, "this form has expired or did not come from this page; open the link from the invitation again\n");
            return;
        }
        var password = form["password"].ToString();
        string? problem = null;
        if (password.Length < MinimumPassword) problem = $"The password must have at least {MinimumPassword} characters.";
        else if (password != form["confirm"].ToString()) problem = "The two passwords differ.";
        if (problem is not null) { await Html(http, 400, Form(record, token, expected, problem)); return; }
        try { record = await desk.RegisterAsync(token, password, http.RequestAborted); }
        catch (RegistrationException ex) { await Html(http, 409, Page("Registration", $"<p>{H(ex.Message)}</p>")); return; }
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = Path, Secure = true });
        await Html(http, 200, Page("Registered", $"""
            <p>{H(record.Address)} is registered. Your messages are waiting in your mailbox.</p>
            <p>Set up your mail program with the address and the password you chose:</p>
            <ul><li>incoming (IMAP): {H(options.Hostname)}, port {ImapPort()}, SSL/TLS</li>
            <li>outgoing (SMTP): {H(options.Hostname)}, port {SubmissionPort()}, SSL/TLS, normal password</li></ul>
            <p>Thunderbird and Outlook find these settings by themselves from your address.</p>
            """));
    }

    string Form(InvitationRecord record, string token, string csrf, string? problem) => Page("Choose your password", $"""
        <p>A protected message is waiting for <b>{H(record.Address)}</b>. Choose a password to open your mailbox.</p>
        {(problem is null ? "" : $"<p role=\"alert\"><b>{H(problem)}</b></p>")}
        <form method="post" action="{Path}">
        <input type="hidden" name="token" value="{H(token)}">
        <input type="hidden" name="csrf" value="{H(csrf)}">
        <p><label>Password <input type="password" name="password" minlength="{MinimumPassword}" required autocomplete="new-password"></label></p>
        <p><label>Again <input type="password" name="confirm" minlength="{MinimumPassword}" required autocomplete="new-password"></label></p>
        <p><button type="submit">Register</button></p>
        </form>
        <p><small>This link works once and until {record.ExpiresUtc:yyyy-MM-dd HH:mm} UTC.</small></p>
        """);

    int ImapPort() => Gateway.Configuration.GatewayOptionsValidator.AnnouncedPort(options, Gateway.Configuration.ListenerRole.Imap, Gateway.Configuration.TlsMode.Implicit, 993);
    int SubmissionPort() => Gateway.Configuration.GatewayOptionsValidator.AnnouncedPort(options, Gateway.Configuration.ListenerRole.Submission, Gateway.Configuration.TlsMode.Implicit, 465);

    string FormToken(string nonce, string invitationId) =>
        Convert.ToHexString(HMACSHA256.HashData(_formKey, Encoding.UTF8.GetBytes(nonce + "\n" + invitationId)));

    static string Page(string title, string body) => $"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{H(title)}</title></head>
        <body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
        <h1>{H(title)}</h1>
        {body}
        </body></html>
        """;

    static Task Html(HttpContext http, int status, string html)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        return http.Response.WriteAsync(html, http.RequestAborted);
    }

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
}
