using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Tests.Crypto;
using Gateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;
using OpenQA.Selenium;

namespace Gateway.Tests.Portal;

/// <summary>
/// The pickup portal end to end, in a real browser (headless chromium through Selenium) against the real gateway and an
/// outside MTA: a local user's protected mail to an outside address leaves as a notification without content, the link
/// asks for a code mailed to the address, the message shows, its attachment downloads with the same SHA-256, the reply
/// reaches the sender's INBOX protected, and the sender's restrictions (max opens, revocation, expiry) and receipts hold.
/// </summary>
public sealed class PickupPortalBrowserTests
{
    const string Alice = "alice@gateway.test";
    const string Password = "portal-secret-16";

    static async Task<TestGateway> StartAsync(ScriptedSmtpServer outside, Action<GatewayOptions>? configure = null, CapturingLoggerProvider? logs = null)
    {
        var gw = await TestGateway.StartAsync(o =>
        {
            o.Routes.Add(new RouteOptions { Domain = "outside.test", Host = "127.0.0.1", Port = outside.Port });
            o.Courier.Outside = null; // the default: SmimeOrPortal where all roles run with a web listener
            configure?.Invoke(o);
        }, logs is null ? null : (Action<Microsoft.Extensions.Logging.ILoggingBuilder>)(b =>
        {
            // Everything the gateway logs at any level, with its own filters (not a rule of this provider's own).
            b.AddProvider(logs);
            b.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Trace);
        }));
        gw.AddUser(Alice, Password);
        return gw;
    }

    /// <summary>The first message the outside MTA got that matches (left in place for other checks).</summary>
    static async Task<ScriptedMessage> WaitForAsync(ScriptedSmtpServer outside, Func<ScriptedMessage, bool> match, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (outside.Messages.FirstOrDefault(match) is { } found) return found;
            await Task.Delay(100);
        }
        throw new TimeoutException("the outside MTA got no such message; it has: " + string.Join(" | ", outside.Messages.Select(m => m.Text[..Math.Min(200, m.Text.Length)])));
    }

    static string LinkIn(ScriptedMessage notification)
    {
        var text = MimeMessage.Load(new MemoryStream(notification.Data)).TextBody;
        return Regex.Match(text, @"https://\S+/pickup/[A-Za-z0-9_-]+").Value;
    }

    static async Task<string> CodeForAsync(ScriptedSmtpServer outside, string recipient, int nth)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var codes = outside.Messages.Where(m => m.RcptCommands.Any(r => r.Contains(recipient)) && m.Text.Contains("Your code to open")).ToList();
            if (codes.Count >= nth) return Regex.Match(MimeMessage.Load(new MemoryStream(codes[nth - 1].Data)).TextBody, @"\b\d{8}\b").Value;
            await Task.Delay(100);
        }
        throw new TimeoutException($"no code mail #{nth} for {recipient}");
    }

    /// <summary>Opens the link, asks for a code, reads it from the outside mailbox and enters it.</summary>
    static async Task<string> ProveAsync(Browser browser, ScriptedSmtpServer outside, string link, string recipient, int nth, string shot, bool remember = false)
    {
        var driver = browser.Driver;
        driver.Navigate().GoToUrl(link);
        Assert.Equal("Prove your address", driver.Title);
        browser.Screenshot(shot + "-prove");
        browser.ClickThrough(By.Id("send-code"));
        Assert.True(driver.FindElements(By.CssSelector("[role=status]")).Any(e => e.Text.Contains("A code is on its way")),
            driver.Title + ": " + driver.FindElement(By.TagName("body")).Text);
        var code = await CodeForAsync(outside, recipient, nth);
        driver.FindElement(By.Id("code")).SendKeys(code);
        if (remember) driver.FindElement(By.Name("remember")).Click();
        browser.ClickThrough(By.Id("verify"));
        Assert.True(driver.Title == "Protected message", driver.FindElement(By.TagName("body")).Text);
        return code;
    }

    [Fact]
    public async Task An_outside_recipient_proves_the_address_reads_downloads_and_replies_and_a_second_visit_is_refused()
    {
        await using var outside = new ScriptedSmtpServer();
        var logs = new CapturingLoggerProvider();
        await using var gw = await StartAsync(outside, logs: logs);
        const string carol = "carol@outside.test";
        var marker = "PORTALBODY" + Guid.NewGuid().ToString("N")[..12];
        var attachment = RandomNumberGenerator.GetBytes(300_000);
        var image = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");
        var builder = new BodyBuilder { TextBody = "Plain " + marker, HtmlBody = $"<p>Hello <b>{marker}</b></p><img id=\"logo\" src=\"cid:logo@x\"><script>document.title='pwned'</script><img src=\"https://tracker.invalid/p.gif\">" };
        builder.LinkedResources.Add("logo.png", image, new ContentType("image", "png")).ContentId = "logo@x";
        builder.Attachments.Add("report.bin", attachment, new ContentType("application", "octet-stream"));
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice Example", Alice));
        message.To.Add(MailboxAddress.Parse(carol));
        message.Subject = "Quarterly " + marker;
        var mid = "mid" + Guid.NewGuid().ToString("N")[..12]; // routing header fields are not content: kept apart from the marker
        message.MessageId = mid + "@gateway.test";
        message.Headers.Add("X-Gateway-Max-Opens", "1");
        message.Headers.Add("X-Gateway-Receipt", "yes");
        message.Body = builder.ToMessageBody();
        using var wire = new MemoryStream();
        var dos = FormatOptions.Default.Clone();
        dos.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(dos, wire);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { carol }, Encoding.UTF8.GetString(wire.ToArray()))).Code);

        // The notification arrives, and the outside MTA's copy holds no byte of the body, the subject or the attachment.
        var notification = await WaitForAsync(outside, m => m.Text.Contains("/pickup/"));
        Assert.Contains("Alice Example sent you a protected message", notification.Text);
        Assert.Contains("can be opened once", notification.Text);
        foreach (var secret in new[] { marker, Convert.ToBase64String(Encoding.UTF8.GetBytes(marker)), Convert.ToBase64String(attachment.AsSpan(0, 300)) })
            Assert.DoesNotContain(secret, string.Join("\n", outside.Messages.Select(m => m.Text)));
        Assert.DoesNotContain("x-gateway-", notification.Text, StringComparison.OrdinalIgnoreCase);
        var link = LinkIn(notification);
        Assert.StartsWith(gw.Options.Web.PublicUrl + "/pickup/", link);

        var downloads = TempDirectory.Create("portal-downloads");
        using var browser = Browser.Start(new[] { "mx.gateway.test" }, downloads);
        var driver = browser.Driver;
        var code = await ProveAsync(browser, outside, link, carol, 1, "portal-read");
        Assert.Equal("Protected message", driver.Title);
        browser.Screenshot("portal-read-message");
        var body = driver.FindElement(By.CssSelector("article.body"));
        Assert.Contains(marker, body.Text);
        Assert.Empty(body.FindElements(By.TagName("script")));
        // The inline image is shown from the page's own part link; the remote one is gone.
        var logo = body.FindElements(By.TagName("img")).Single(i => i.GetAttribute("src")?.Contains("/part/") == true);
        Assert.True((long)((IJavaScriptExecutor)driver).ExecuteScript("return arguments[0].naturalWidth", logo)! > 0);
        Assert.DoesNotContain("tracker.invalid", driver.PageSource);
        Assert.NotEmpty(driver.FindElements(By.PartialLinkText(".eml"))); // forwarding is allowed here

        // The attachment downloads in the browser with the same SHA-256.
        driver.FindElement(By.LinkText("report.bin")).Click();
        var saved = Path.Combine(downloads, "report.bin");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !(File.Exists(saved) && new FileInfo(saved).Length == attachment.Length)) await Task.Delay(100);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(attachment)), Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(saved))));

        // The reply reaches alice's INBOX as protected mail.
        var replyText = "REPLY" + Guid.NewGuid().ToString("N")[..10];
        driver.FindElement(By.Id("reply-text")).SendKeys("Thanks! " + replyText);
        browser.ClickThrough(By.Id("reply"));
        Assert.Equal("Reply sent", driver.Title);
        browser.Screenshot("portal-reply-sent");
        var inbox = await gw.WaitForMailAsync(Alice, 1);
        var deadlineReply = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadlineReply && !(gw.ReadableMail(Alice) ?? Array.Empty<string>()).Any(m => m.Contains(replyText))) await Task.Delay(100);
        var reply = gw.ReadableMail(Alice)!.Single(m => m.Contains(replyText));
        Assert.Contains("From: " + carol, reply);
        Assert.Contains("In-Reply-To: <" + mid + "@gateway.test>", reply);
        var inboxId = gw.MailStore.Find(Alice, "INBOX")!.Id;
        Assert.Contains(gw.MailStore.Messages(inboxId), m => m.ProtectedId is not null); // courier mail: content and ARM apart
        Assert.Empty(Sealing.NothingRestsInClearTests.Leaks(gw.DataDirectory, new[] { marker, replyText }));

        // Max opens 1: the second visit is refused, with no content, and the sender got one receipt per event.
        driver.Navigate().GoToUrl(link);
        browser.Screenshot("portal-second-visit");
        Assert.Equal("Message not available", driver.Title);
        Assert.Contains("may be opened 1 time(s)", driver.FindElement(By.TagName("body")).Text);
        Assert.DoesNotContain(marker, driver.PageSource);
        var receipts = await gw.ReceiptsAsync(Alice, 2);
        Assert.Single(receipts, r => r.Contains($"opened by {carol}"));
        Assert.Single(receipts, r => r.Contains($"{carol} tried to open"));

        // The sender sees the outside recipient on the status page and in the message's record, with times.
        var status = (await gw.App.Services.GetRequiredService<ISentMessages>().SentByAsync(Alice, 10)).Single(s => s.Message.InternetMessageId!.Contains(mid));
        var carolStatus = status.Recipients.Single(r => r.Recipient == carol);
        Assert.Equal(RecipientState.Opened, carolStatus.State);
        Assert.Contains("opened 1 time(s), first at", carolStatus.Detail);

        // No log line holds the link's token, the code or content (the portal logs links by their random id).
        var token = link[(link.LastIndexOf('/') + 1)..];
        Assert.Contains(logs.Lines, l => l.Text.Contains("Portal:"));
        Assert.DoesNotContain(logs.Lines, l => l.Text.Contains(token) || l.Text.Contains(token[..24]) || l.Text.Contains(code) || l.Text.Contains(marker) || l.Text.Contains(replyText));
    }

    [Fact]
    public async Task Forged_links_wrong_codes_revocation_and_expiry_are_refused_without_content()
    {
        await using var outside = new ScriptedSmtpServer();
        await using var gw = await StartAsync(outside);
        const string dave = "dave@outside.test";
        var marker = "PORTALREFUSE" + Guid.NewGuid().ToString("N")[..10];
        var expires = DateTimeOffset.UtcNow.AddSeconds(40);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { dave },
            $"From: {Alice}\r\nTo: {dave}\r\nSubject: first {marker}\r\nMessage-ID: <a{marker}@gateway.test>\r\nX-Gateway-Expires: {MimeKit.Utils.DateUtils.FormatDate(expires)}\r\n" +
            $"X-Gateway-No-Forward: yes\r\n\r\nBody {marker}\r\n")).Code);
        var link = LinkIn(await WaitForAsync(outside, m => m.Text.Contains("/pickup/")));

        using var browser = Browser.Start(new[] { "mx.gateway.test" });
        var driver = browser.Driver;
        // A forged link (one character changed) and a link that is none.
        var token = link[(link.LastIndexOf('/') + 1)..];
        var forged = link[..^token.Length] + (token[..20] + (token[20] == 'A' ? 'B' : 'A') + token[21..]);
        driver.Navigate().GoToUrl(forged);
        Assert.Equal("Message not available", driver.Title);
        Assert.Contains("not one this gateway made", driver.FindElement(By.TagName("body")).Text);
        browser.Screenshot("portal-forged-link");
        using (var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
        {
            var baseUrl = $"https://127.0.0.1:{gw.HttpsPort}/pickup/";
            Assert.Equal(403, (int)(await http.GetAsync(baseUrl + forged[(forged.LastIndexOf('/') + 1)..])).StatusCode);
            Assert.Equal(404, (int)(await http.GetAsync(baseUrl + "not-a-link")).StatusCode);
            // Every page: a policy that allows no script and no remote content, never cached, never framed.
            var page = await http.GetAsync(baseUrl + token);
            var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", csp);
            Assert.DoesNotContain("script-src", csp);
            Assert.Contains("frame-ancestors 'none'", csp);
            Assert.Equal("no-store", page.Headers.CacheControl!.ToString());
            // A form posted without this browser's token is refused.
            var post = await http.PostAsync(baseUrl + token + "/code", new FormUrlEncodedContent(new Dictionary<string, string> { ["form"] = "x" }));
            Assert.Equal(403, (int)post.StatusCode);
        }

        // A wrong code is refused; the right one then opens the message.
        driver.Navigate().GoToUrl(link);
        browser.ClickThrough(By.Id("send-code"));
        var code = await CodeForAsync(outside, dave, 1);
        driver.FindElement(By.Id("code")).SendKeys(code == "00000000" ? "11111111" : "00000000");
        browser.ClickThrough(By.Id("verify"));
        Assert.Contains("not the code", driver.FindElement(By.CssSelector("[role=alert]")).Text);
        browser.Screenshot("portal-wrong-code");
        Assert.DoesNotContain(marker, driver.PageSource);
        driver.FindElement(By.Id("code")).SendKeys(code);
        browser.ClickThrough(By.Id("verify"));
        Assert.Contains("Body " + marker, driver.FindElement(By.CssSelector("article.body")).Text);
        // No-forward: no download of the whole message is offered, and asking for it anyway is refused.
        Assert.Empty(driver.FindElements(By.PartialLinkText(".eml")));
        Assert.Contains("not be forwarded", driver.FindElement(By.CssSelector("p.note")).Text);
        var view = driver.FindElement(By.CssSelector("input[name=view]")).GetAttribute("value");
        driver.Navigate().GoToUrl(link + "/original?view=" + view);
        Assert.Equal("Not offered", driver.Title);
        Assert.DoesNotContain(marker, driver.PageSource);

        // Expiry: once the sender's time is up the same browser gets no content.
        while (DateTimeOffset.UtcNow < expires.AddSeconds(1)) await Task.Delay(200);
        driver.Navigate().GoToUrl(link);
        Assert.Equal("Message not available", driver.Title);
        Assert.Contains("expired", driver.FindElement(By.TagName("body")).Text);
        Assert.DoesNotContain(marker, driver.PageSource);

        // Revocation: a second message, revoked by the sender, is refused even to the proven browser.
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { dave },
            $"From: {Alice}\r\nTo: {dave}\r\nSubject: second\r\nMessage-ID: <b{marker}@gateway.test>\r\n\r\nSecond {marker}\r\n")).Code);
        var second = LinkIn(await WaitForAsync(outside, m => m.Text.Contains("/pickup/") && LinkIn(m) != link));
        var sent = gw.App.Services.GetRequiredService<ISentMessages>();
        var id = (await sent.SentByAsync(Alice, 10)).Single(s => s.Message.InternetMessageId!.Contains("b" + marker)).Message.Id;
        Assert.True(await sent.RevokeAsync(id, Alice));
        driver.Navigate().GoToUrl(second);
        browser.Screenshot("portal-revoked");
        Assert.Equal("Message not available", driver.Title);
        Assert.Contains("revoked", driver.FindElement(By.TagName("body")).Text);
        Assert.DoesNotContain(marker, driver.PageSource);
    }
    [Fact]
    public async Task From_the_portal_one_recipient_registers_and_reads_in_a_mail_program_and_another_offers_a_certificate_that_waits_for_approval()
    {
        await using var outside = new ScriptedSmtpServer();
        // Where the courier invites, the portal offers an account (outside.test is named as outside, so its mail
        // goes through the portal rather than straight to an Invitation).
        await using var gw = await StartAsync(outside, o =>
        {
            o.Courier.Invite = true;
            o.Courier.OutsideDomains["outside.test"] = OutsideDelivery.SmimeOrPortal;
        });
        const string erin = "erin@outside.test", frank = "frank@outside.test";
        var marker = "PORTALMOVE" + Guid.NewGuid().ToString("N")[..10];
        foreach (var to in new[] { erin, frank })
            Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { to },
                $"From: {Alice}\r\nTo: {to}\r\nSubject: hello\r\nMessage-ID: <{to[0]}{marker}@gateway.test>\r\n\r\nBody {marker} for {to}\r\n")).Code);
        var erinLink = LinkIn(await WaitForAsync(outside, m => m.Text.Contains("/pickup/") && m.RcptCommands.Any(r => r.Contains(erin))));
        var frankLink = LinkIn(await WaitForAsync(outside, m => m.Text.Contains("/pickup/") && m.RcptCommands.Any(r => r.Contains(frank))));

        using var browser = Browser.Start(new[] { "mx.gateway.test" });
        var driver = browser.Driver;
        // erin asks for a mailbox: the Invitation comes, she registers, and her mail program shows the message.
        await ProveAsync(browser, outside, erinLink, erin, 1, "portal-account");
        browser.ClickThrough(By.Id("account"));
        Assert.Equal("Invitation sent", driver.Title);
        var invitation = await WaitForAsync(outside, m => m.RcptCommands.Any(r => r.Contains(erin)) && m.Text.Contains("/register?token="));
        var registration = Regex.Match(MimeMessage.Load(new MemoryStream(invitation.Data)).TextBody, @"https://\S+/register\?token=\S+").Value;
        driver.Navigate().GoToUrl(registration);
        const string erinPassword = "erin-chooses-16";
        foreach (var field in driver.FindElements(By.CssSelector("input[type=password]"))) field.SendKeys(erinPassword);
        browser.ClickThrough(By.CssSelector("form button[type=submit]"));
        Assert.Equal("Registered", driver.Title);
        browser.Screenshot("portal-registered");
        using (var imap = await ImapClients.ConnectAsync(gw.ImapsPort, erin, erinPassword))
        {
            await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
            var texts = new List<string>();
            for (var i = 0; i < imap.Inbox.Count; i++) texts.Add((await imap.Inbox.GetMessageAsync(i)).TextBody ?? "");
            Assert.Contains(texts, t => t.Contains($"Body {marker} for {erin}"));
        }
        // From now on erin is a user here: new mail reaches her mailbox as courier mail, with no notification.
        var notices = outside.Messages.Count(m => m.Text.Contains("/pickup/"));
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { erin },
            $"From: {Alice}\r\nTo: {erin}\r\nSubject: again\r\n\r\nAgain {marker}\r\n")).Code);
        Assert.Contains(await gw.WaitForMailAsync(erin, 3), m => m.Contains("Again " + marker));
        Assert.Equal(notices, outside.Messages.Count(m => m.Text.Contains("/pickup/")));

        // frank offers a certificate: kept unapproved (mail still goes through the portal), approved it is used.
        var keys = KeyPairs.Generate(KeyAlgorithm.EcP256);
        var certificate = new PkiHierarchy().Private.IssueUser(keys.Public, frank, TimeSpan.FromDays(30));
        var pem = Path.Combine(TempDirectory.Create("portal-cert"), "frank.pem");
        await File.WriteAllTextAsync(pem, CourierAuthority.Pem(certificate));
        await ProveAsync(browser, outside, frankLink, frank, 1, "portal-certificate");
        driver.FindElement(By.Id("certificate")).SendKeys(pem);
        browser.ClickThrough(By.Id("offer"));
        Assert.Equal("Certificate received", driver.Title);
        browser.Screenshot("portal-certificate-received");
        var directory = gw.App.Services.GetRequiredService<CertificateDirectory>();
        var entry = directory.Entries().Single(e => e.Addresses.Contains(frank) && e.Source == "portal");
        Assert.False(entry.Approved);
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { frank },
            $"From: {Alice}\r\nTo: {frank}\r\nSubject: still portal\r\n\r\nStill {marker}\r\n")).Code);
        await WaitForAsync(outside, m => m.RcptCommands.Any(r => r.Contains(frank)) && m.Text.Contains("/pickup/") && LinkIn(m) != frankLink);
        Assert.True(directory.Approve(entry.Id[..16]));
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { frank },
            $"From: {Alice}\r\nTo: {frank}\r\nSubject: now smime\r\n\r\nEncrypted {marker}\r\n")).Code);
        var encrypted = await WaitForAsync(outside, m => m.RcptCommands.Any(r => r.Contains(frank)) && m.Text.Contains("application/pkcs7-mime"));
        Assert.DoesNotContain(marker, encrypted.Text);
    }
}
