using System.Net;
using System.Text;
using Gateway.Configuration;
using Gateway.Courier.Portal;
using Gateway.Storage.Mail;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MimeKit;

namespace Gateway.Web.Pickup;

/// <summary>
/// The pickup pages (<c>/pickup/TOKEN</c>, HTTPS only): where an outside recipient proves the address with a code mailed
/// to it, reads the message (each view an open the Background counts), downloads its attachments by stream, replies, asks
/// for an account or offers a certificate. Server-rendered HTML without script that works on a phone; every form carries
/// a token bound to the browser and the link; a forged, expired or unknown link, a wrong code or a message that can no
/// longer be opened gets a page without content (403, 404, 410, 429), never a stack trace.
/// </summary>
public sealed class PickupPage(PickupDesk desk, PickupBrowser browser, GatewayOptions options)
{
    const long MaxCertificateBytes = 64 * 1024;
    const int MaxReplyChars = 100_000;

    public static void Map(WebApplication app)
    {
        const string p = "/pickup/{token}";
        app.MapGet(p, (HttpContext http, string token, PickupPage page) => page.ShowAsync(http, token));
        app.MapPost(p + "/code", (HttpContext http, string token, PickupPage page) => page.SendCodeAsync(http, token));
        app.MapPost(p + "/verify", (HttpContext http, string token, PickupPage page) => page.VerifyAsync(http, token));
        app.MapGet(p + "/part/{number:int}", (HttpContext http, string token, int number, PickupPage page) => page.PartAsync(http, token, number));
        app.MapGet(p + "/original", (HttpContext http, string token, PickupPage page) => page.OriginalAsync(http, token));
        app.MapPost(p + "/reply", (HttpContext http, string token, PickupPage page) => page.ReplyAsync(http, token));
        app.MapPost(p + "/account", (HttpContext http, string token, PickupPage page) => page.AccountAsync(http, token));
        app.MapPost(p + "/certificate", (HttpContext http, string token, PickupPage page) => page.CertificateAsync(http, token));
    }

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
    static string Base(string token) => PortalAdmission.PathPrefix + token;

    /// <summary>The link's claims, or null after answering with the page for a link that is not one.</summary>
    async Task<PickupClaims?> ClaimsAsync(HttpContext http, string token)
    {
        var claims = desk.Verify(token, out var problem);
        if (claims is not null && desk.IsGuest(claims.Recipient)) return claims;
        var (status, text) = claims is not null ? (404, "This link names no message held here.") : problem switch
        {
            PickupLinkProblem.Forged => (403, "This link is not one this gateway made. Check that you opened the whole link from the mail."),
            PickupLinkProblem.Expired => (410, "This link has expired. Ask the sender to send the message again."),
            _ => (404, "This is not a pickup link. Check that you opened the whole link from the mail."),
        };
        await PageAsync(http, status, "Message not available", $"<p>{H(text)}</p>");
        return null;
    }

    async Task ShowAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        var now = desk.Now;
        var message = desk.Find(claims);
        if (message is null)
        {
            await PageAsync(http, 200, "On its way", "<p>The message is on its way to this gateway. Try the link again in a minute.</p>");
            return;
        }
        if (!browser.Proven(http, claims.Recipient, now))
        {
            var sent = http.Request.Query["code"] == "sent";
            await PageAsync(http, 200, "Prove your address", ProveForm(http, token, claims, sent, null));
            return;
        }
        using var view = await desk.OpenAsync(claims, message, counted: true, http.RequestAborted);
        if (!view.IsOriginal)
        {
            await PageAsync(http, 410, "Message not available", $"<p>{H(view.Reason ?? "This message cannot be opened.")}</p>");
            return;
        }
        var viewId = browser.BeginView(claims.LinkId, now);
        await PageAsync(http, 200, "Protected message", MessageHtml(http, token, claims, view, viewId));
    }

    string ProveForm(HttpContext http, string token, PickupClaims claims, bool sent, string? problem)
    {
        var form = browser.FormToken(http, claims.LinkId);
        var b = new StringBuilder();
        if (problem is not null) b.Append("<p role=\"alert\">").Append(H(problem)).Append("</p>");
        b.Append("<p>A protected message for <strong>").Append(H(claims.Recipient)).Append("</strong> is waiting here. To open it, prove that this is your address: ")
         .Append("we mail you a one-time code.</p>");
        b.Append("<form method=\"post\" action=\"").Append(Base(token)).Append("/code\"><input type=\"hidden\" name=\"form\" value=\"").Append(form)
         .Append("\"><button type=\"submit\" id=\"send-code\">").Append(sent ? "Send another code" : "Email me a code").Append("</button></form>");
        if (sent) b.Append("<p role=\"status\">A code is on its way to ").Append(H(claims.Recipient)).Append(". It works once, for 10 minutes.</p>");
        b.Append("<form method=\"post\" action=\"").Append(Base(token)).Append("/verify\"><input type=\"hidden\" name=\"form\" value=\"").Append(form)
         .Append("\"><label for=\"code\">Code</label> <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"12\" required> ");
        if (browser.TrustOffered)
            b.Append("<label><input type=\"checkbox\" name=\"remember\" value=\"yes\"> Remember this browser for ").Append(options.Courier.Portal.TrustedBrowserDays.ToString("0.#"))
             .Append(" days</label> ");
        b.Append("<button type=\"submit\" id=\"verify\">Open the message</button></form>");
        return b.ToString();
    }

    async Task SendCodeAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        if (await FormAsync(http, claims) is null) return;
        var message = desk.Find(claims);
        var sender = message is null ? "the sender" : desk.SenderOf(message);
        switch (await desk.SendCodeAsync(claims, sender, http.RequestAborted))
        {
            case CodeRequest.Refused refused:
                await PageAsync(http, 429, "Prove your address", ProveForm(http, token, claims, false,
                    $"No code was sent: {refused.Reason}. Try again after {refused.RetryAfterUtc:yyyy-MM-dd HH:mm} UTC."));
                return;
            default:
                SeeOther(http, Base(token) + "?code=sent");
                return;
        }
    }

    async Task VerifyAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        if (await FormAsync(http, claims) is not { } form) return;
        var result = desk.CheckCode(claims, form["code"].ToString());
        var (status, problem) = result switch
        {
            CodeCheck.Accepted => (0, null),
            CodeCheck.Wrong => (403, "That is not the code. Check the latest mail with a code and try again."),
            CodeCheck.Locked => (429, "Too many wrong codes were entered. This link is locked for a while; try again later."),
            CodeCheck.Expired => (403, "That code has expired. Ask for a new one."),
            _ => (403, "No code is waiting for this link. Ask for one first."),
        };
        if (problem is not null)
        {
            await PageAsync(http, status, "Prove your address", ProveForm(http, token, claims, false, problem));
            return;
        }
        browser.Prove(http, claims.Recipient, form["remember"] == "yes", desk.Now);
        SeeOther(http, Base(token));
    }

    string MessageHtml(HttpContext http, string token, PickupClaims claims, ProtectedView view, string viewId)
    {
        var mail = new MailView(MimeMessage.Load(view.Open(), persistent: true));
        string PartLink(int n) => $"{Base(token)}/part/{n}?view={viewId}";
        var inline = new HashSet<int>();
        var body = mail.BodyHtml(PartLink, options.Courier.Portal.AllowRemoteImages, inline);
        var b = new StringBuilder();
        b.Append(mail.HeaderHtml());
        b.Append("<article class=\"body\">").Append(body).Append("</article>");
        var attachments = mail.Attachments(inline);
        if (attachments.Count > 0)
        {
            b.Append("<h2>Attachments</h2><ul class=\"attachments\">");
            foreach (var a in attachments)
                b.Append("<li><a download href=\"").Append(H(PartLink(a.Number))).Append("\">").Append(H(a.FileName)).Append("</a> (")
                 .Append(H(a.Part.ContentType.MimeType)).Append(")</li>");
            b.Append("</ul>");
        }
        if (view.NoForward) b.Append("<p class=\"note\">The sender asked that this message not be forwarded.</p>");
        else b.Append("<p><a download href=\"").Append(Base(token)).Append("/original?view=").Append(viewId).Append("\">Download the message (.eml)</a></p>");
        var form = browser.FormToken(http, claims.LinkId);
        b.Append("<h2>Reply</h2><form method=\"post\" action=\"").Append(Base(token)).Append("/reply\"><input type=\"hidden\" name=\"form\" value=\"").Append(form)
         .Append("\"><input type=\"hidden\" name=\"view\" value=\"").Append(viewId).Append("\"><textarea name=\"text\" id=\"reply-text\" rows=\"6\" required maxlength=\"")
         .Append(MaxReplyChars).Append("\"></textarea><br><button type=\"submit\" id=\"reply\">Send the reply</button></form>");
        b.Append("<h2>Future mail</h2>");
        if (desk.OffersAccounts)
            b.Append("<form method=\"post\" action=\"").Append(Base(token)).Append("/account\"><input type=\"hidden\" name=\"form\" value=\"").Append(form)
             .Append("\"><button type=\"submit\" id=\"account\">Get a mailbox here</button> and read protected mail in your own mail program.</form>");
        b.Append("<form method=\"post\" enctype=\"multipart/form-data\" action=\"").Append(Base(token)).Append("/certificate\"><input type=\"hidden\" name=\"form\" value=\"")
         .Append(form).Append("\"><label for=\"certificate\">Or give your S/MIME certificate (PEM or DER) so that future mail reaches you encrypted:</label> ")
         .Append("<input type=\"file\" id=\"certificate\" name=\"certificate\" accept=\".pem,.crt,.cer,.der\" required> <button type=\"submit\" id=\"offer\">Send the certificate</button></form>");
        return b.ToString();
    }

    /// <summary>The message's view for a request that continues one (its parts, reply); null after answering otherwise.</summary>
    async Task<ProtectedView?> ContinueViewAsync(HttpContext http, string token, PickupClaims claims, string? viewId)
    {
        var now = desk.Now;
        if (!browser.Proven(http, claims.Recipient, now) || !browser.InView(viewId, claims.LinkId, now))
        {
            await PageAsync(http, 403, "Open the message first", $"<p>This view has ended. <a href=\"{Base(token)}\">Open the message again</a>.</p>");
            return null;
        }
        var message = desk.Find(claims);
        var view = message is null ? null : await desk.OpenAsync(claims, message, counted: false, http.RequestAborted);
        if (view is not { IsOriginal: true })
        {
            view?.Dispose();
            await PageAsync(http, 410, "Message not available", $"<p>{H(view?.Reason ?? "This message is no longer held here.")}</p>");
            return null;
        }
        return view;
    }

    async Task PartAsync(HttpContext http, string token, int number)
    {
        if (await ClaimsAsync(http, token) is not { } claims || await ContinueViewAsync(http, token, claims, http.Request.Query["view"]) is not { } view) return;
        using var _ = view;
        var mail = new MailView(MimeMessage.Load(view.Open(), persistent: true));
        if (number < 0 || number >= mail.Leaves.Count)
        {
            await PageAsync(http, 404, "No such part", "<p>This message has no such part.</p>");
            return;
        }
        var part = mail.Leaves[number];
        var type = part.ContentType.MimeType.ToLowerInvariant();
        // Images a browser shows safely are served as images (the body shows them); everything else only as a download.
        var image = type is "image/png" or "image/jpeg" or "image/gif" or "image/webp";
        Secure(http.Response, "default-src 'none'; sandbox");
        http.Response.ContentType = image ? type : "application/octet-stream";
        var name = part.FileName ?? $"part-{number + 1}";
        http.Response.Headers.ContentDisposition = (image ? "inline" : "attachment") + "; filename*=UTF-8''" + Uri.EscapeDataString(name);
        // Decoded straight into the response, a buffer at a time: never the whole attachment in memory again.
        // A part with no body at all (a header section alone) is an empty download, not a failure.
        if (part.Content is not null) await part.Content.DecodeToAsync(http.Response.Body, http.RequestAborted);
    }

    async Task OriginalAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims || await ContinueViewAsync(http, token, claims, http.Request.Query["view"]) is not { } view) return;
        using var _ = view;
        if (view.NoForward)
        {
            await PageAsync(http, 403, "Not offered", "<p>The sender asked that this message not be forwarded; it cannot be downloaded whole.</p>");
            return;
        }
        Secure(http.Response, "default-src 'none'; sandbox");
        http.Response.ContentType = "application/octet-stream";
        http.Response.Headers.ContentDisposition = "attachment; filename=\"message.eml\"";
        await using var content = view.Open();
        await content.CopyToAsync(http.Response.Body, 64 * 1024, http.RequestAborted);
    }

    async Task ReplyAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        if (await FormAsync(http, claims) is not { } form) return;
        if (await ContinueViewAsync(http, token, claims, form["view"]) is not { } view) return;
        using var _ = view;
        var text = form["text"].ToString();
        if (text.Trim().Length == 0 || text.Length > MaxReplyChars)
        {
            await PageAsync(http, 400, "Reply not sent", "<p>The reply is empty or too long.</p>");
            return;
        }
        var original = MimeMessage.Load(view.Open(), persistent: true);
        await desk.ReplyAsync(claims, original, text, http.RequestAborted);
        await PageAsync(http, 200, "Reply sent", $"<p role=\"status\">Your reply is on its way to {H(original.From.Mailboxes.FirstOrDefault()?.Address)}, protected like the message.</p>" +
                                                  $"<p><a href=\"{Base(token)}\">Back to the message</a> (opening it again counts as an open).</p>");
    }

    async Task AccountAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        if (await FormAsync(http, claims) is null) return;
        if (!browser.Proven(http, claims.Recipient, desk.Now)) { await PageAsync(http, 403, "Prove your address", ProveForm(http, token, claims, false, "Prove your address first.")); return; }
        var sender = desk.Find(claims) is { } held ? desk.SenderOf(held) : null;
        if (sender is null || !await desk.InviteAsync(claims, sender, http.RequestAborted))
        {
            await PageAsync(http, 403, "No accounts here", "<p>This gateway does not give mailboxes to outside recipients. Ask the sender's administrator.</p>");
            return;
        }
        await PageAsync(http, 200, "Invitation sent", $"<p role=\"status\">An invitation to register is on its way to {H(claims.Recipient)}. Follow its link to choose a password.</p>");
    }

    async Task CertificateAsync(HttpContext http, string token)
    {
        if (await ClaimsAsync(http, token) is not { } claims) return;
        if (http.Request.ContentLength is > MaxCertificateBytes + 4096) { await PageAsync(http, 413, "Too large", "<p>A certificate is a few kilobytes; this file is too large.</p>"); return; }
        if (await FormAsync(http, claims) is not { } form) return;
        if (!browser.Proven(http, claims.Recipient, desk.Now)) { await PageAsync(http, 403, "Prove your address", ProveForm(http, token, claims, false, "Prove your address first.")); return; }
        var file = form.Files["certificate"];
        if (file is null || file.Length is 0 or > MaxCertificateBytes) { await PageAsync(http, 400, "No certificate", "<p>Choose a certificate file (PEM or DER).</p>"); return; }
        using var buffer = new MemoryStream();
        await file.CopyToAsync(buffer, http.RequestAborted);
        try
        {
            var certificate = desk.OfferCertificate(claims, buffer.ToArray());
            await PageAsync(http, 200, "Certificate received", $"<p role=\"status\">Thank you. Your certificate (serial {H(certificate.SerialNumber.ToString(16))}) waits for the " +
                                                               "administrator's approval; after that, mail to you leaves encrypted to it.</p>");
        }
        catch (CertificateOfferException ex)
        {
            await PageAsync(http, 400, "Certificate not taken", $"<p role=\"alert\">{H(ex.Message)}.</p>");
        }
    }

    /// <summary>The posted form when its token is this browser's for this link; null after answering otherwise.</summary>
    async Task<IFormCollection?> FormAsync(HttpContext http, PickupClaims claims)
    {
        if (!http.Request.HasFormContentType) { await PageAsync(http, 400, "Bad request", "<p>Expected a form.</p>"); return null; }
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        if (!browser.FormTokenMatches(http, claims.LinkId, form["form"]))
        {
            await PageAsync(http, 403, "Form expired", "<p>This form has expired or was not made for this browser. Open the link again and retry.</p>");
            return null;
        }
        return form;
    }

    static void SeeOther(HttpContext http, string location)
    {
        Secure(http.Response);
        http.Response.StatusCode = StatusCodes.Status303SeeOther;
        http.Response.Headers.Location = location;
    }

    static void Secure(HttpResponse response, string? csp = null)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.ContentSecurityPolicy = csp
            ?? "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    async Task PageAsync(HttpContext http, int status, string title, string content)
    {
        Secure(http.Response, options.Courier.Portal.AllowRemoteImages
            ? "default-src 'none'; img-src 'self' https:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            : null);
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        var html = new StringBuilder()
            .Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>")
            .Append(H(title)).Append("</title><style>")
            .Append("body{font-family:sans-serif;margin:1em auto;max-width:50em;padding:0 .8em;line-height:1.4}")
            .Append("h1{font-size:1.3em}dl.headers{display:grid;grid-template-columns:max-content 1fr;gap:.2em .8em}dt{font-weight:bold}dd{margin:0;overflow-wrap:anywhere}")
            .Append("article.body{border-top:1px solid #ccc;border-bottom:1px solid #ccc;padding:.8em 0;overflow-wrap:anywhere;overflow-x:auto}article.body img{max-width:100%;height:auto}")
            .Append("pre.text{white-space:pre-wrap;font-family:inherit}textarea{width:100%;box-sizing:border-box}form{margin:.8em 0}")
            .Append("button{padding:.5em 1em;font-size:1em}input#code{font-size:1.2em;width:8em}[role=alert]{color:#a00}")
            .Append("</style></head><body><h1>").Append(H(title)).Append("</h1>\n").Append(content)
            .Append("\n<footer><p><small>Mail gateway ").Append(H(options.Hostname)).Append("</small></p></footer></body></html>\n");
        await http.Response.WriteAsync(html.ToString(), http.RequestAborted);
    }
}
