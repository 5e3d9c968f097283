using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Gateway.Tests.Support;
using Xunit.Abstractions;

namespace Gateway.Tests.Courier;

/// <summary>
/// Federation end to end over a network of real gateway processes (<see cref="FederationNetworkFixture"/>): every
/// scenario is submitted over SMTP and read over IMAP by the recipient, and the couriers' own logs say which way the
/// parts took (each element logs the hop a part arrived with).
/// </summary>
[Collection(FederationNetworkCollection.Name)]
public sealed partial class FederationNetworkTests(FederationNetworkFixture net, ITestOutputHelper output) : IClassFixture<FederationNetworkFixture>
{
    const string Password = FederationNetworkFixture.Password;

    static string Message(string from, string to, string token) =>
        $"From: <{from}>\r\nTo: <{to}>\r\nSubject: federation {token}\r\nMessage-ID: <{token}@test>\r\n\r\nBody {token}\r\n";

    static string QueueId(WireReply reply) => QueuedAs().Match(reply.ToString()).Groups[1].Value;

    [GeneratedRegex(@"queued as (\S+)")]
    private static partial Regex QueuedAs();

    [Fact]
    public async Task Same_courier_mail_is_split_and_read_by_the_recipient()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.Q.SubmitAsync("alice@q.test", Password, "carol@q.test", Message("alice@q.test", "carol@q.test", token));
        Assert.Equal(250, reply.Code);
        var (message, _) = await net.Q.WaitForMessageAsync("carol@q.test", Password, t => t.Contains("Body " + token));
        Assert.Equal("federation " + token, message.Subject);
        Assert.DoesNotContain("hop", await net.Q.WaitForLogAsync(30, "Foreground stored content part " + QueueId(reply)));
    }

    [Fact]
    public async Task Introduced_couriers_send_directly_in_one_hop()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.Root.SubmitAsync("ruth@root.test", Password, "paul@p.test", Message("ruth@root.test", "paul@p.test", token));
        Assert.Equal(250, reply.Code);
        var (message, _) = await net.P.WaitForMessageAsync("paul@p.test", Password, t => t.Contains("Body " + token));
        Assert.Equal("federation " + token, message.Subject);
        var id = QueueId(reply);
        await net.P.WaitForLogAsync(30, "Foreground stored content part " + id, "(from root.test, hop 1)");
        await net.P.WaitForLogAsync(30, "Background stored", id, "(from root.test, hop 1)");
        await net.Root.WaitForLogAsync(30, "Foreground relays ContentPart " + id, "to p.test");
    }

    [Fact]
    public async Task A_receipt_asked_for_on_one_courier_comes_back_from_the_recipients_courier_when_opened()
    {
        var token = Guid.NewGuid().ToString("N");
        var message = Message("ruth@root.test", "paul@p.test", token).Replace("\r\n\r\n", "\r\nX-Gateway-Receipt: yes\r\n\r\n");
        var reply = await net.Root.SubmitAsync("ruth@root.test", Password, "paul@p.test", message);
        Assert.Equal(250, reply.Code);
        var id = QueueId(reply);
        // Reading the full message is the open (WaitForMessageAsync fetches the body); P's Background releases the key
        // and sends ruth the receipt, which travels back to the Root as ordinary mail.
        await net.P.WaitForMessageAsync("paul@p.test", Password, t => t.Contains("Body " + token), 60);
        var (_, receipt) = await net.Root.WaitForMessageAsync("ruth@root.test", Password, t => t.Contains("Receipt: message " + id), 60);
        Assert.Contains("opened by paul@p.test", receipt);
        Assert.DoesNotContain("/status", receipt); // P's status page is no use to ruth: her message's record is on the Root
    }

    [Fact]
    public async Task A_deferral_climbs_to_the_root_and_down_then_the_recipients_courier_introduces_itself_and_the_next_message_goes_direct()
    {
        var first = Guid.NewGuid().ToString("N");
        var clock = Stopwatch.StartNew();
        var reply = await net.Q.SubmitAsync("alice@q.test", Password, "bob@r.test", Message("alice@q.test", "bob@r.test", first));
        Assert.Equal(250, reply.Code);
        await net.R.WaitForMessageAsync("bob@r.test", Password, t => t.Contains("Body " + first), 90);
        var firstLatency = clock.Elapsed;
        var id = QueueId(reply);
        // Q -> P -> Root -> R: three hops for each part, each element on its own.
        await net.R.WaitForLogAsync(30, "Foreground stored content part " + id, "(from root.test, hop 3)");
        await net.R.WaitForLogAsync(30, "Background stored", id, "(from root.test, hop 3)");
        await net.P.WaitForLogAsync(30, "Foreground defers ContentPart " + id, "to root.test");
        await net.P.WaitForLogAsync(30, "Background defers Arm " + id, "to root.test");
        // R introduced itself back to Q, each element to its counterpart.
        await net.Q.WaitForLogAsync(30, "Foreground recorded peer r.test", "r.test", "from Introduction");
        await net.Q.WaitForLogAsync(30, "Background recorded peer r.test", "r.test", "from Introduction");

        var second = Guid.NewGuid().ToString("N");
        clock.Restart();
        var reply2 = await net.Q.SubmitAsync("alice@q.test", Password, "bob@r.test", Message("alice@q.test", "bob@r.test", second));
        Assert.Equal(250, reply2.Code);
        await net.R.WaitForMessageAsync("bob@r.test", Password, t => t.Contains("Body " + second), 60);
        var secondLatency = clock.Elapsed;
        var id2 = QueueId(reply2);
        await net.R.WaitForLogAsync(30, "Foreground stored content part " + id2, "(from q.test, hop 1)");
        await net.R.WaitForLogAsync(30, "Background stored", id2, "(from q.test, hop 1)");
        // R's Background announced its own listener: Q's Background sends there, Q's Foreground to R's main one.
        await net.Q.WaitForLogAsync(30, "Background relays Arm " + id2, $"to r.test at 127.0.0.1:{net.R.BackgroundPort} (hop 1)");
        await net.Q.WaitForLogAsync(30, "Foreground relays ContentPart " + id2, $"to r.test at {net.R.Endpoint} (hop 1)");
        Assert.DoesNotContain(net.P.Output.Split('\n'), l => l.Contains(id2));
        Assert.DoesNotContain(net.Root.Output.Split('\n'), l => l.Contains(id2));
        output.WriteLine($"deferred first message: {firstLatency.TotalMilliseconds:0} ms to readable; direct second: {secondLatency.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task A_public_courier_invites_an_unknown_address_who_registers_on_the_https_page_and_reads_the_held_message()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.P.SubmitAsync("paul@p.test", Password, "dave@newcomer.test", Message("paul@p.test", "dave@newcomer.test", token));
        Assert.Equal(250, reply.Code);
        var invitation = await net.Outside.WaitForMessageAsync(60);
        Assert.Contains("X-Gateway-Invitation:", invitation.Text);
        Assert.Contains("multipart/signed", invitation.Text);
        var parsed = MimeKit.MimeMessage.Load(new MemoryStream(invitation.Data));
        var signed = Assert.IsType<MimeKit.Cryptography.MultipartSigned>(parsed.Body);
        var text = Assert.IsType<MimeKit.TextPart>(((MimeKit.Multipart)signed[0])[0]).Text;
        var link = RegistrationLink().Match(text).Value;
        Assert.StartsWith($"https://127.0.0.1:{net.P.WebPort}/register?token=", link);

        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, ServerCertificateCustomValidationCallback = (_, _, _, _) => true });
        var form = await http.GetStringAsync(link);
        Assert.Contains("dave@newcomer.test", form);
        var csrf = HiddenField().Matches(form).ToDictionary(m => m.Groups[1].Value, m => WebUtility.HtmlDecode(m.Groups[2].Value));

        // A post from elsewhere (no cookie) is refused; so is one with a short password.
        using (var stranger = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
        {
            var forged = await stranger.PostAsync(link.Split('?')[0], new FormUrlEncodedContent(new Dictionary<string, string>
                { ["token"] = csrf["token"], ["csrf"] = csrf["csrf"], ["password"] = "dave-secret-1", ["confirm"] = "dave-secret-1" }));
            Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        }
        var shortPassword = await http.PostAsync(link.Split('?')[0], new FormUrlEncodedContent(new Dictionary<string, string>
            { ["token"] = csrf["token"], ["csrf"] = csrf["csrf"], ["password"] = "short", ["confirm"] = "short" }));
        Assert.Equal(HttpStatusCode.BadRequest, shortPassword.StatusCode);

        var registered = await http.PostAsync(link.Split('?')[0], new FormUrlEncodedContent(new Dictionary<string, string>
            { ["token"] = csrf["token"], ["csrf"] = csrf["csrf"], ["password"] = "dave-secret-1", ["confirm"] = "dave-secret-1" }));
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        Assert.Contains("is registered", await registered.Content.ReadAsStringAsync());
        // The link works once: neither shown again nor taken again (a replayed form cannot set another password).
        Assert.Equal(HttpStatusCode.Gone, (await http.GetAsync(link)).StatusCode);
        var replayed = await http.PostAsync(link.Split('?')[0], new FormUrlEncodedContent(new Dictionary<string, string>
            { ["token"] = csrf["token"], ["csrf"] = csrf["csrf"], ["password"] = "mallory-pass-1", ["confirm"] = "mallory-pass-1" }));
        Assert.NotEqual(HttpStatusCode.OK, replayed.StatusCode);

        var (message, _) = await net.P.WaitForMessageAsync("dave@newcomer.test", "dave-secret-1", t => t.Contains("Body " + token), 60);
        Assert.Equal("federation " + token, message.Subject);
        await net.P.WaitForMessageAsync("dave@newcomer.test", "dave-secret-1", t => t.Contains("Subject: Welcome"), 30);
        await net.P.WaitForLogAsync(30, "Background released the held ARM of " + QueueId(reply));
    }

    [Fact]
    public async Task An_invitation_to_an_address_registered_elsewhere_is_rejected_and_the_message_goes_to_that_courier()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.P.SubmitAsync("paul@p.test", Password, "rita@r.test", Message("paul@p.test", "rita@r.test", token));
        Assert.Equal(250, reply.Code);
        var (message, _) = await net.R.WaitForMessageAsync("rita@r.test", Password, t => t.Contains("Body " + token), 90);
        Assert.Equal("federation " + token, message.Subject);
        await net.R.WaitForLogAsync(30, "is an Invitation from another courier to rita@r.test");
        await net.P.WaitForLogAsync(30, "answered by r.test (Invitation Reject)");
        await net.P.WaitForLogAsync(30, "Foreground recorded peer r.test", "addresses rita@r.test", "InvitationReject");
        await net.P.WaitForLogAsync(30, "Background recorded peer r.test", "addresses rita@r.test", "InvitationReject");
        var id = QueueId(reply);
        await net.R.WaitForLogAsync(30, "Foreground stored content part " + id, "(from p.test, hop 1)");
        await net.R.WaitForLogAsync(30, "Background stored", id, "(from p.test, hop 1)");
        // Rita never sees the invitation itself: her courier answered it.
        var headers = await net.R.StoredHeadersAsync("rita@r.test", Password);
        Assert.DoesNotContain(headers, h => h.Contains("X-Gateway-Invitation"));
    }

    [Fact]
    public async Task A_gateway_courier_handles_the_introductions_of_the_courier_below_it()
    {
        // G introduced itself to the Root when it started, usually before H introduced itself to G; G then told the
        // Root it answers for h.test too ("tells root.test it now answers for ..."). Either way the Root routes h.test to G.
        await net.Root.WaitForLogAsync(60, "Foreground recorded peer g.test", "domains g.test, h.test");
        await net.Root.WaitForLogAsync(30, "Background recorded peer g.test", "domains g.test, h.test");

        // hana (H, behind the Gateway courier G) writes to bob (R): deferred H -> G -> Root -> R; R introduces itself
        // to G, which answers for h.test, never to H.
        var first = Guid.NewGuid().ToString("N");
        var reply = await net.H.SubmitAsync("hana@h.test", Password, "bob@r.test", Message("hana@h.test", "bob@r.test", first));
        Assert.Equal(250, reply.Code);
        await net.R.WaitForMessageAsync("bob@r.test", Password, t => t.Contains("Body " + first), 90);
        await net.R.WaitForLogAsync(30, "Foreground stored content part " + QueueId(reply), "(from root.test, hop 3)");
        await net.R.WaitForLogAsync(30, "Foreground recorded peer g.test", "domains g.test, h.test", "from Deferral");
        await net.R.WaitForLogAsync(30, "Background recorded peer g.test", "domains g.test, h.test", "from Deferral");
        await net.G.WaitForLogAsync(30, "Foreground recorded peer r.test", "from Introduction");
        await net.G.WaitForLogAsync(30, "Background recorded peer r.test", "from Introduction");

        // The next message goes H -> G -> R; the answer R -> G -> H.
        var second = Guid.NewGuid().ToString("N");
        var reply2 = await net.H.SubmitAsync("hana@h.test", Password, "bob@r.test", Message("hana@h.test", "bob@r.test", second));
        await net.R.WaitForMessageAsync("bob@r.test", Password, t => t.Contains("Body " + second), 60);
        await net.R.WaitForLogAsync(30, "Foreground stored content part " + QueueId(reply2), "(from g.test, hop 2)");
        await net.R.WaitForLogAsync(30, "Background stored", QueueId(reply2), "(from g.test, hop 2)");
        var answer = Guid.NewGuid().ToString("N");
        var reply3 = await net.R.SubmitAsync("bob@r.test", Password, "hana@h.test", Message("bob@r.test", "hana@h.test", answer));
        await net.H.WaitForMessageAsync("hana@h.test", Password, t => t.Contains("Body " + answer), 60);
        await net.H.WaitForLogAsync(30, "Foreground stored content part " + QueueId(reply3), "(from g.test, hop 2)");
        await net.H.WaitForLogAsync(30, "Background stored", QueueId(reply3), "(from g.test, hop 2)");

        // An Invitation to hana from P is answered by G in H's place: P learns hana@h.test at g.test.
        var invited = Guid.NewGuid().ToString("N");
        var reply4 = await net.P.SubmitAsync("paul@p.test", Password, "hana@h.test", Message("paul@p.test", "hana@h.test", invited));
        Assert.Equal(250, reply4.Code);
        await net.H.WaitForMessageAsync("hana@h.test", Password, t => t.Contains("Body " + invited), 90);
        await net.G.WaitForLogAsync(30, "Foreground answers the Invitation", "for hana@h.test in place of h.test");
        await net.P.WaitForLogAsync(30, "Foreground recorded peer g.test", "addresses hana@h.test", "InvitationReject");
        await net.H.WaitForLogAsync(30, "Foreground stored content part " + QueueId(reply4), "(from g.test, hop 2)");

        // H introduced itself to G only.
        Assert.DoesNotContain(net.H.Output.Split('\n'), l => l.Contains("recorded peer") && !l.Contains("recorded peer g.test"));
        Assert.DoesNotContain(net.H.Output.Split('\n'), l => l.Contains("introduces itself to") && !l.Contains("to g.test"));
        Assert.DoesNotContain(net.R.Output.Split('\n'), l => l.Contains("recorded peer h.test"));
        Assert.DoesNotContain(net.P.Output.Split('\n'), l => l.Contains("recorded peer h.test"));
    }

    [Fact]
    public async Task A_part_held_for_an_unknown_address_that_expires_is_reported_to_its_sender_on_another_courier()
    {
        // Q -> P -> Root, which invites zed (no route for unrouted.test: the invitation waits in the Root's queue) and
        // holds both parts; they expire, and the Root's Foreground reports it to alice at Q, as ordinary mail.
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.Q.SubmitAsync("alice@q.test", Password, "zed@unrouted.test", Message("alice@q.test", "zed@unrouted.test", token));
        Assert.Equal(250, reply.Code);
        var id = QueueId(reply);
        await net.Root.WaitForLogAsync(60, "Foreground gives up " + id, "zed@unrouted.test");
        var (_, text) = await net.Q.WaitForMessageAsync("alice@q.test", Password, t => t.Contains("Undelivered") && t.Contains(id), 60);
        Assert.Contains("zed@unrouted.test", text);
        Assert.Contains("no such user here; the message was held", text);
        Assert.Contains("MAILER-DAEMON@root.test", text);
    }

    [Fact]
    public async Task A_courier_outside_the_root_is_refused_with_a_log_line_and_its_sender_gets_a_dsn()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.X.SubmitAsync("xavier@x.test", Password, "bob@r.test", Message("xavier@x.test", "bob@r.test", token));
        Assert.Equal(250, reply.Code);
        var refusal = await net.R.WaitForLogAsync(60, "Foreground refused an Inter-Courier message", "not trusted");
        output.WriteLine(refusal);
        // X recorded R's Background at its own listener ('peer add --background-endpoint'): the ARM was refused there.
        await net.R.WaitForLogAsync(60, "listener=delivery-bg", "Background refused an Inter-Courier message", "not trusted");
        var (dsn, text) = await net.X.WaitForMessageAsync("xavier@x.test", Password, t => t.Contains("Undelivered") && t.Contains(QueueId(reply)), 60);
        Assert.Contains("bob@r.test", text);
        Assert.Contains("not trusted", text);
    }

    [Fact]
    public async Task A_revoked_courier_is_refused_by_its_superior_and_its_sender_gets_a_dsn()
    {
        var token = Guid.NewGuid().ToString("N");
        var reply = await net.V.SubmitAsync("vera@v.test", Password, "bob@r.test", Message("vera@v.test", "bob@r.test", token));
        Assert.Equal(250, reply.Code);
        var refusal = await net.Root.WaitForLogAsync(60, "Foreground refused an Inter-Courier message", "revoked");
        output.WriteLine(refusal);
        var (_, text) = await net.V.WaitForMessageAsync("vera@v.test", Password, t => t.Contains("Undelivered") && t.Contains(QueueId(reply)), 60);
        Assert.Contains("revoked", text);
    }

    [Fact]
    public async Task No_foreground_holds_an_arm_and_no_background_a_content_part_opened_with_every_key()
    {
        // Traffic of its own first (the test may run before the others): between introduced couriers both ways,
        // and within one courier.
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal(250, (await net.Root.SubmitAsync("ruth@root.test", Password, "paul@p.test", Message("ruth@root.test", "paul@p.test", token))).Code);
        Assert.Equal(250, (await net.P.SubmitAsync("paul@p.test", Password, "ruth@root.test", Message("paul@p.test", "ruth@root.test", token))).Code);
        Assert.Equal(250, (await net.Q.SubmitAsync("alice@q.test", Password, "carol@q.test", Message("alice@q.test", "carol@q.test", token))).Code);
        await net.P.WaitForMessageAsync("paul@p.test", Password, t => t.Contains("Body " + token));
        await net.Root.WaitForMessageAsync("ruth@root.test", Password, t => t.Contains("Body " + token));
        await net.Q.WaitForMessageAsync("carol@q.test", Password, t => t.Contains("Body " + token));

        var keySources = net.All.Select(n => n.DataDirectory).ToList();
        var contentSeen = 0;
        var armsSeen = 0;
        foreach (var node in new[] { net.Root, net.P, net.Q, net.R })
        {
            using var audit = new HeldPartAudit(node.DataDirectory, keySources);
            var foreground = audit.Foreground();
            var background = audit.Background();
            output.WriteLine($"{node.Name}: Foreground holds {foreground.Count} item(s) [{Summary(foreground)}]; Background {background.Count} [{Summary(background)}]");
            Assert.True(foreground.All(i => !i.Kinds.Contains(HeldKind.Arm)),
                $"{node.Name}'s Foreground holds an ARM: {string.Join(", ", foreground.Where(i => i.Kinds.Contains(HeldKind.Arm)).Select(i => i.Item))}");
            Assert.True(background.All(i => !i.Kinds.Contains(HeldKind.Content)),
                $"{node.Name}'s Background holds content: {string.Join(", ", background.Where(i => i.Kinds.Contains(HeldKind.Content)).Select(i => i.Item))}");
            Assert.True(foreground.Concat(background).All(i => !i.Kinds.Contains(HeldKind.Unopened)), $"{node.Name} holds an item no key of the network opens: {audit.LastFailure}");
            contentSeen += foreground.Count(i => i.Kinds.Contains(HeldKind.Content));
            armsSeen += background.Count(i => i.Kinds.Contains(HeldKind.Arm));
        }
        // Not vacuous: the mailboxes hold content parts and the Backgrounds ARMs, for at least the three messages above.
        Assert.True(contentSeen >= 3 && armsSeen >= 3, $"content parts seen in Foregrounds: {contentSeen}, ARMs in Backgrounds: {armsSeen}");

        static string Summary(List<(string Item, HashSet<HeldKind> Kinds)> items) =>
            string.Join(", ", items.SelectMany(i => i.Kinds).GroupBy(k => k).Select(g => $"{g.Key} {g.Count()}"));
    }

    [GeneratedRegex(@"https://127\.0\.0\.1:\d+/register\?token=[A-Za-z0-9._-]+")]
    private static partial Regex RegistrationLink();

    [GeneratedRegex(@"<input type=""hidden"" name=""(\w+)"" value=""([^""]*)"">")]
    private static partial Regex HiddenField();
}
