using Gateway.Configuration;
using Gateway.Courier;
using Gateway.Courier.Portal;
using Gateway.Crypto;
using Gateway.Queue;
using Gateway.Tests.Crypto;
using Gateway.Tests.Support;
using Gateway.Web.Pickup;
using Microsoft.AspNetCore.Http;
using MimeKit;

namespace Gateway.Tests.Portal;

/// <summary>The portal's decisions without a network: which outside mode applies, what configuration is refused, what
/// the notification says (and does not), how mail HTML is made safe, and which browser proofs count.</summary>
public sealed class PortalPolicyTests
{
    static QueuedRecipient Recipient(string address, bool held = false) => new() { Address = address, PortalHeld = held };

    [Fact]
    public void SmimeOrPortal_uses_an_approved_certificate_else_the_portal_once_the_message_is_held()
    {
        var directory = new CertificateDirectory(Path.Combine(TempDirectory.Create("portal-policy"), "certs.db"));
        var network = new PkiHierarchy();
        var carol = network.Private.IssueUser(KeyPairs.Generate(KeyAlgorithm.EcP256).Public, "carol@outside.test", TimeSpan.FromDays(30));
        directory.Add(carol, "harvested", approved: true);
        var options = new CourierOptions();
        options.OutsideDomains["plain.test"] = OutsideDelivery.SmimeOrTls;
        var policy = new OutsideDeliveryPolicy(options, OutsideDelivery.SmimeOrPortal, directory);

        Assert.False(policy.UsesPortal("carol@outside.test"));
        Assert.True(policy.UsesPortal("dave@outside.test"));
        Assert.False(policy.UsesPortal("erin@plain.test"));

        var routes = policy.Plan(new[] { Recipient("carol@outside.test"), Recipient("dave@outside.test", held: true), Recipient("frank@outside.test") });
        Assert.Equal("carol@outside.test", Assert.Single(routes.OfType<OutsideRoute.Smime>()).Recipients.Single().Address);
        Assert.Equal("dave@outside.test", Assert.Single(routes.OfType<OutsideRoute.Portal>()).Recipients.Single().Address);
        // Never sent as it is: a portal recipient whose message is not held here yet waits.
        Assert.Contains("not yet held", Assert.Single(routes.OfType<OutsideRoute.Held>()).Reason);
        Assert.Empty(routes.OfType<OutsideRoute.Tls>());
    }

    [Fact]
    public void The_portal_is_the_default_only_where_it_can_run_and_asking_for_it_elsewhere_names_the_key()
    {
        var all = TestGateway.DefaultOptions();
        all.Courier.Outside = null;
        Assert.Equal(OutsideDelivery.SmimeOrPortal, all.EffectiveOutside);
        var noWeb = TestGateway.DefaultOptions();
        noWeb.Courier.Outside = null;
        noWeb.Web.Endpoint = "";
        Assert.Equal(OutsideDelivery.SmimeOrTls, noWeb.EffectiveOutside);

        var split = TestGateway.DefaultOptions();
        split.Courier.Outside = null;
        split.Roles = new() { "agent", "foreground" };
        split.Courier.BackgroundEndpoint = "bg.gateway.test:25";
        split.Courier.BackgroundUrl = "https://bg.gateway.test:8443";
        Assert.Equal(OutsideDelivery.SmimeOrTls, split.EffectiveOutside);
        Assert.DoesNotContain(GatewayOptionsValidator.Validate(split), p => p.Contains("pickup portal"));
        split.Courier.Outside = OutsideDelivery.Portal;
        split.Courier.OutsideDomains["partner.test"] = OutsideDelivery.SmimeOrPortal;
        var problems = GatewayOptionsValidator.Validate(split);
        Assert.Contains(problems, p => p.StartsWith("Gateway:Courier:Outside: the pickup portal needs") && p.Contains("fix:"));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Courier:OutsideDomains:partner.test: the pickup portal needs"));

        var bad = TestGateway.DefaultOptions();
        bad.Courier.Portal.LinkDays = 0;
        bad.Courier.Portal.SessionMinutes = 0;
        problems = GatewayOptionsValidator.Validate(bad);
        Assert.Contains(problems, p => p.StartsWith("Gateway:Courier:Portal:LinkDays"));
        Assert.Contains(problems, p => p.StartsWith("Gateway:Courier:Portal:SessionMinutes"));
    }

    [Fact]
    public void The_notification_names_sender_terms_and_link_but_no_content_and_the_subject_only_by_policy()
    {
        var sent = new DateTimeOffset(2026, 12, 7, 9, 30, 0, TimeSpan.Zero);
        var restrictions = new AccessRestrictions { ExpiresUtc = sent.AddDays(2), MaxOpens = 3, NoForward = true };
        var facts = new PickupNoticeFacts(new MailboxAddress("Alice Example", "alice@gateway.test"), "carol@outside.test", sent, restrictions,
            sent.AddDays(30), "https://mx.gateway.test/pickup/TOKEN", null);
        var notice = PickupNotice.Build(facts, "mx.gateway.test");
        var text = notice.ToString();
        Assert.Equal("Alice Example sent you a protected message", notice.Subject);
        Assert.Contains("https://mx.gateway.test/pickup/TOKEN", notice.TextBody);
        Assert.Contains("until 2026-12-09 09:30 UTC", notice.TextBody); // the message's expiry, sooner than the link's
        Assert.Contains("opened 3 times", notice.TextBody);
        Assert.Contains("not be forwarded", notice.TextBody);
        Assert.Equal("alice@gateway.test", notice.ReplyTo.Mailboxes.Single().Address);
        Assert.DoesNotContain("x-gateway", text, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(notice.Attachments);

        var withSubject = PickupNotice.Build(facts with { Subject = "Merger terms" }, "mx.gateway.test");
        Assert.Equal("Protected message from Alice Example: Merger terms", withSubject.Subject);
    }

    [Fact]
    public void Mail_html_loses_script_handlers_and_remote_content_and_shows_its_own_images_from_part_links()
    {
        var builder = new BodyBuilder
        {
            HtmlBody = "<p onclick=\"steal()\">Hi <a href=\"https://example.org/x\">there</a></p><script>alert(1)</script>" +
                       "<img src=\"cid:pic@x\"><img src=\"https://tracker.example/p.gif\"><img src=\"cid:unknown@x\">" +
                       "<iframe src=\"https://evil.example\"></iframe><a href=\"javascript:alert(2)\">js</a><div style=\"background:url(https://t.example/b.png)\">s</div>",
            TextBody = "Hi there",
        };
        builder.LinkedResources.Add("pic.png", new byte[] { 1, 2, 3 }, new ContentType("image", "png")).ContentId = "pic@x";
        builder.Attachments.Add("notes.txt", "notes"u8.ToArray(), new ContentType("text", "plain"));
        var message = new MimeMessage { Body = builder.ToMessageBody() };
        var view = new MailView(message);
        var inline = new HashSet<int>();
        var html = view.BodyHtml(n => "/pickup/T/part/" + n + "?view=V", allowRemoteImages: false, inline);

        Assert.DoesNotContain("script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onclick", html);
        Assert.DoesNotContain("tracker.example", html);
        Assert.DoesNotContain("t.example", html);
        Assert.DoesNotContain("iframe", html);
        Assert.DoesNotContain("javascript:", html);
        Assert.DoesNotContain("cid:", html);
        Assert.Contains("href=\"https://example.org/x\"", html);
        Assert.Contains("rel=\"noopener noreferrer nofollow\"", html);
        var picture = view.Leaves.ToList().FindIndex(p => p.ContentId == "pic@x");
        Assert.Contains($"src=\"/pickup/T/part/{picture}?view=V\"", html);
        Assert.Equal(new[] { picture }, inline);
        // The attachment is listed; the body's text and html alternatives and the inline picture are not.
        Assert.Equal("notes.txt", Assert.Single(view.Attachments(inline)).FileName);

        var remote = view.BodyHtml(n => "/p/" + n, allowRemoteImages: true, new HashSet<int>());
        Assert.Contains("https://tracker.example/p.gif", remote);
    }

    [Fact]
    public void A_browser_proof_is_for_one_address_until_it_expires_and_cannot_be_changed()
    {
        var browser = new PickupBrowser(MasterKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), TimeSpan.FromMinutes(30), TimeSpan.FromDays(30));
        var now = DateTimeOffset.UtcNow;
        var issued = new DefaultHttpContext();
        browser.Prove(issued, "carol@outside.test", remember: true, now);
        var cookies = issued.Response.Headers.SetCookie.Select(c => c!.Split(';')[0]).ToList();
        Assert.All(issued.Response.Headers.SetCookie, c => Assert.Contains("httponly", c!, StringComparison.OrdinalIgnoreCase));
        Assert.All(issued.Response.Headers.SetCookie, c => Assert.Contains("secure", c!, StringComparison.OrdinalIgnoreCase));
        Assert.All(issued.Response.Headers.SetCookie, c => Assert.Contains("samesite=lax", c!, StringComparison.OrdinalIgnoreCase));

        HttpContext With(IEnumerable<string> pairs)
        {
            var http = new DefaultHttpContext();
            http.Request.Headers.Cookie = string.Join("; ", pairs);
            return http;
        }
        Assert.True(browser.Proven(With(cookies), "carol@outside.test", now));
        Assert.False(browser.Proven(With(cookies), "dave@outside.test", now));
        Assert.False(browser.Proven(With(cookies), "carol@outside.test", now.AddDays(31)));
        // The session proof alone ends after SessionMinutes; the trusted browser's lasts.
        var session = cookies.Where(c => c.StartsWith(PickupBrowser.ProofCookie + "=")).ToList();
        Assert.False(browser.Proven(With(session), "carol@outside.test", now.AddMinutes(31)));
        Assert.True(browser.Proven(With(cookies), "carol@outside.test", now.AddDays(29)));
        // Changed, or made by another gateway: no proof.
        var tampered = cookies.Select(c => c[..^3] + (c[^3] == 'A' ? 'B' : 'A') + c[^2..]).ToList();
        Assert.False(browser.Proven(With(tampered), "carol@outside.test", now));
        Assert.False(new PickupBrowser(MasterKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), TimeSpan.FromMinutes(30), TimeSpan.FromDays(30)).Proven(With(cookies), "carol@outside.test", now));
    }
}
