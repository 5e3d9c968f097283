using System.Text;
using Gateway.Tests.Support;

namespace Gateway.Tests.Imap;

/// <summary>The IMAP server on the wire: states, TLS rules, bad input, and what each command answers.</summary>
public sealed class ImapServerTests : IAsyncLifetime
{
    const string User = "alice@gateway.test";
    const string Password = "imap-secret-1";
    TestGateway _gw = null!;

    public async Task InitializeAsync()
    {
        _gw = await TestGateway.StartAsync();
        _gw.AddUser(User, Password);
    }

    public async Task DisposeAsync() => await _gw.DisposeAsync();

    async Task<ImapWire> LoggedInAsync()
    {
        var wire = await ImapWire.ConnectAsync(_gw.ImapsPort, implicitTls: true);
        Assert.StartsWith("* OK", await wire.ReadLineAsync());
        var login = await wire.CommandAsync($"LOGIN {User} {Password}");
        Assert.StartsWith("T1 OK", login[^1]);
        return wire;
    }

    static string Tagged(List<string> lines) => lines[^1];

    [Fact]
    public async Task Plaintext_port_offers_starttls_and_refuses_login_until_tls()
    {
        await using var wire = await ImapWire.ConnectAsync(_gw.ImapPort, implicitTls: false);
        var greeting = await wire.ReadLineAsync();
        Assert.Contains("STARTTLS", greeting);
        Assert.Contains("LOGINDISABLED", greeting);
        Assert.DoesNotContain("AUTH=PLAIN", greeting);
        Assert.Contains("NO [PRIVACYREQUIRED]", Tagged(await wire.CommandAsync($"LOGIN {User} {Password}")));
        Assert.Contains("NO [PRIVACYREQUIRED]", Tagged(await wire.CommandAsync("AUTHENTICATE PLAIN")));
        Assert.StartsWith("T3 OK", Tagged(await wire.CommandAsync("STARTTLS")));
        await wire.HandshakeAsync();
        var caps = await wire.CommandAsync("CAPABILITY");
        Assert.Contains("AUTH=PLAIN", caps[0]);
        Assert.DoesNotContain("LOGINDISABLED", caps[0]);
        Assert.DoesNotContain("STARTTLS", caps[0]);
        Assert.StartsWith("T5 OK", Tagged(await wire.CommandAsync($"LOGIN {User} {Password}")));
    }

    [Fact]
    public async Task Authenticate_plain_with_initial_response_and_wrong_password()
    {
        await using var wire = await ImapWire.ConnectAsync(_gw.ImapsPort, implicitTls: true);
        await wire.ReadLineAsync();
        var bad = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{User}\0wrong"));
        Assert.Contains("NO [AUTHENTICATIONFAILED]", Tagged(await wire.CommandAsync("AUTHENTICATE PLAIN " + bad)));
        var good = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{User}\0{Password}"));
        var ok = await wire.CommandAsync("AUTHENTICATE PLAIN " + good);
        Assert.StartsWith("T2 OK [CAPABILITY", Tagged(ok));
    }

    [Fact]
    public async Task Commands_in_the_wrong_state_get_bad_and_the_session_goes_on()
    {
        await using var wire = await ImapWire.ConnectAsync(_gw.ImapsPort, implicitTls: true);
        await wire.ReadLineAsync();
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("SELECT INBOX")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("FETCH 1 FLAGS")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("FROBNICATE")));
        Assert.StartsWith("T4 OK", Tagged(await wire.CommandAsync($"LOGIN {User} {Password}")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("FETCH 1 FLAGS"))); // nothing selected
        Assert.Contains("BAD", Tagged(await wire.CommandAsync($"LOGIN {User} {Password}"))); // already logged in
        Assert.StartsWith("T7 OK", Tagged(await wire.CommandAsync("NOOP")));
    }

    [Fact]
    public async Task Malformed_commands_get_bad_and_the_session_survives()
    {
        await using var wire = await LoggedInAsync();
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("LIST \"\" (")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("STATUS INBOX (MESSAGES")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("STATUS INBOX MESSAGES)")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("CREATE \"unterminated")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("CREATE &Jjo")));     // invalid modified UTF-7
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("CREATE &AGE-")));    // 'a' encoded: not allowed in modified UTF-7
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("SELECT")));
        Assert.StartsWith("T9 OK", Tagged(await wire.CommandAsync("SELECT INBOX")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("FETCH 1:5 FLAGS"))); // no such messages
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("FETCH 1 (FLAGS")));
        Assert.StartsWith("T12 OK", Tagged(await wire.CommandAsync("NOOP")));
    }

    [Fact]
    public async Task A_huge_literal_announcement_is_refused_without_reading_it()
    {
        await using var wire = await LoggedInAsync();
        await wire.SendAsync("A1 APPEND INBOX {999999999999}\r\n");
        var answer = await wire.ReadLineAsync();
        Assert.StartsWith("A1 BAD [TOOBIG]", answer);
        Assert.StartsWith("T2 OK", Tagged(await wire.CommandAsync("NOOP")));
        // LITERAL+ over the limit: the octets are already coming, so the server must end the session.
        await wire.SendAsync("A2 APPEND INBOX {999999999999+}\r\nxx");
        Assert.StartsWith("A2 BAD [TOOBIG]", await wire.ReadLineAsync());
        Assert.StartsWith("* BYE", await wire.ReadLineAsync());
        Assert.Null(await wire.ReadLineAsync());
    }

    [Fact]
    public async Task Append_select_fetch_store_search_expunge_by_hand()
    {
        await using var wire = await LoggedInAsync();
        var message = "From: Bob <bob@example.org>\r\nTo: alice@gateway.test\r\nSubject: hello there\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nfirst body line\r\n";
        var bytes = System.Text.Encoding.ASCII.GetByteCount(message);
        await wire.SendAsync($"A1 APPEND INBOX (\\Flagged) \"24-Nov-2026 10:00:00 +0000\" {{{bytes}}}\r\n");
        Assert.StartsWith("+", await wire.ReadLineAsync());
        await wire.SendAsync(message + "\r\n");
        var appended = Tagged(await wire.ReadUntilTaggedAsync("A1"));
        Assert.Matches(@"^A1 OK \[APPENDUID \d+ 1\]", appended);
        await wire.SendAsync($"A2 APPEND INBOX {{{bytes}+}}\r\n{message}\r\n"); // LITERAL+
        var a2 = await wire.ReadUntilTaggedAsync("A2");
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(Tagged(a2), @"^A2 OK \[APPENDUID \d+ 2\]"), string.Join("\n", a2));

        var select = await wire.CommandAsync("SELECT INBOX");
        Assert.Contains("* 2 EXISTS", select);
        Assert.Contains(select, l => l.StartsWith("* OK [UIDVALIDITY "));
        Assert.Contains("* OK [UIDNEXT 3] Predicted next UID", select);
        Assert.Contains(select, l => l.StartsWith("* OK [PERMANENTFLAGS ("));
        Assert.Contains("[READ-WRITE]", Tagged(select));

        var fetch = await wire.CommandAsync("FETCH 1 (FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])");
        Assert.Contains($"RFC822.SIZE {bytes}", fetch[0]);
        Assert.Contains("INTERNALDATE \"24-Nov-2026 10:00:00 +0000\"", fetch[0]);
        Assert.Contains("\\Flagged", fetch[0]);
        Assert.Contains(message, fetch[0]);

        var store = await wire.CommandAsync("STORE 1 +FLAGS (\\Seen $Important)");
        Assert.Contains(store, l => l.StartsWith("* 1 FETCH (FLAGS (") && l.Contains("\\Seen") && l.Contains("$Important"));
        Assert.Equal("* SEARCH 1", (await wire.CommandAsync("SEARCH SEEN"))[0]);
        Assert.Equal("* SEARCH 2", (await wire.CommandAsync("SEARCH UNSEEN"))[0]);
        Assert.Equal("* SEARCH 1 2", (await wire.CommandAsync("SEARCH SUBJECT \"HELLO\""))[0]);
        Assert.Equal("* SEARCH 1 2", (await wire.CommandAsync("SEARCH BODY \"first body\""))[0]);
        Assert.Equal("* SEARCH", (await wire.CommandAsync("SEARCH FROM nobody"))[0]);
        Assert.Equal("* SEARCH 2", (await wire.CommandAsync("UID SEARCH UID 2:*"))[0]);
        Assert.Contains("NO [BADCHARSET", Tagged(await wire.CommandAsync("SEARCH CHARSET KOI8-R ALL")));

        await wire.CommandAsync("STORE 1 +FLAGS.SILENT (\\Deleted)");
        var expunge = await wire.CommandAsync("EXPUNGE");
        Assert.Contains("* 1 EXPUNGE", expunge);
        var after = await wire.CommandAsync("UID FETCH 1:* (UID FLAGS)");
        Assert.Single(after, l => l.StartsWith("* 1 FETCH (UID 2 "));
    }

    [Fact]
    public async Task Header_fetches_are_served_from_the_kept_header_without_the_message_file()
    {
        await using var wire = await LoggedInAsync();
        var msg = "Subject: kept aside\r\nX-Other: one\r\n  folded\r\nMessage-ID: <k@example.org>\r\n\r\nthe body\r\n";
        await wire.SendAsync($"A1 APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
        Assert.StartsWith("A1 OK", Tagged(await wire.ReadUntilTaggedAsync("A1")));
        var record = _gw.MailStore.Messages(_gw.MailStore.Find(User, "INBOX")!.Id).Single();
        Assert.Equal("Subject: kept aside\r\nX-Other: one\r\n  folded\r\nMessage-ID: <k@example.org>\r\n\r\n", Encoding.ASCII.GetString(_gw.MailStore.HeaderOf(record)!));
        File.Delete(_gw.MailStore.Blobs.PathOf(record.BlobId)); // only the record is left to answer from

        await wire.CommandAsync("SELECT INBOX");
        var fields = await wire.CommandAsync("FETCH 1 (BODY.PEEK[HEADER.FIELDS (x-other)] BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Other)])");
        Assert.StartsWith("T", Tagged(fields));
        Assert.Contains(" OK ", Tagged(fields));
        Assert.Equal("* 1 FETCH (BODY[HEADER.FIELDS (X-OTHER)] {26}\r\nX-Other: one\r\n  folded\r\n\r\n BODY[HEADER.FIELDS.NOT (SUBJECT X-OTHER)] {31}\r\nMessage-ID: <k@example.org>\r\n\r\n)",
            string.Concat(fields.Take(fields.Count - 1)));
        var whole = await wire.CommandAsync("FETCH 1 (RFC822.HEADER BODY.PEEK[HEADER]<9.5>)");
        Assert.Contains(" OK ", Tagged(whole));
        var text = string.Concat(whole);
        Assert.Contains("RFC822.HEADER {76}\r\nSubject: kept aside\r\nX-Other: one\r\n  folded\r\nMessage-ID: <k@example.org>\r\n\r\n", text);
        Assert.Contains("BODY[HEADER]<9> {5}\r\nkept )", text);

        // A second message, and a copy of both: the copies answer from their own kept headers, several at once.
        var second = "Subject: second\r\n\r\nbody two\r\n";
        await wire.SendAsync($"A2 APPEND INBOX {{{second.Length}+}}\r\n{second}\r\n");
        Assert.StartsWith("A2 OK", Tagged(await wire.ReadUntilTaggedAsync("A2")));
        File.Delete(_gw.MailStore.Blobs.PathOf(_gw.MailStore.Messages(_gw.MailStore.Find(User, "INBOX")!.Id)[1].BlobId));
        Assert.Contains(" OK ", Tagged(await wire.CommandAsync("COPY 1:2 Archive")));
        await wire.CommandAsync("SELECT Archive");
        var copies = await wire.CommandAsync("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (Subject)])");
        Assert.Contains(" OK ", Tagged(copies));
        Assert.Equal("* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {23}\r\nSubject: kept aside\r\n\r\n)* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: second\r\n\r\n)",
            string.Concat(copies.Take(copies.Count - 1)));
    }

    [Fact]
    public async Task Mailbox_management_list_create_rename_delete_status_and_quota()
    {
        await using var wire = await LoggedInAsync();
        var list = await wire.CommandAsync("LIST \"\" \"*\"");
        Assert.Contains("* LIST (\\HasNoChildren) \"/\" \"INBOX\"", list);
        Assert.Contains("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"", list);
        Assert.Contains(list, l => l.Contains("\\Trash") && l.EndsWith("\"Trash\""));
        Assert.Equal("* LIST (\\Noselect) \"/\" \"\"", (await wire.CommandAsync("LIST \"\" \"\""))[0]);

        Assert.StartsWith("T", Tagged(await wire.CommandAsync("CREATE Projects/2026")));
        Assert.Contains("ALREADYEXISTS", Tagged(await wire.CommandAsync("CREATE Projects")));
        Assert.Contains("* LIST (\\HasChildren) \"/\" \"Projects\"", await wire.CommandAsync("LIST \"\" \"Proj%\""));
        Assert.Contains("OK", Tagged(await wire.CommandAsync("CREATE \"Caf&AOk-\"")));   // "Café" in modified UTF-7
        Assert.Contains("* LIST (\\HasNoChildren) \"/\" \"Caf&AOk-\"", await wire.CommandAsync("LIST \"\" Caf*"));
        Assert.Contains("OK", Tagged(await wire.CommandAsync("RENAME Projects Work")));
        Assert.Contains("* LIST (\\HasNoChildren) \"/\" \"Work/2026\"", await wire.CommandAsync("LIST \"\" \"Work/*\""));
        Assert.Contains("INUSE", Tagged(await wire.CommandAsync("DELETE Work")));
        Assert.Contains("OK", Tagged(await wire.CommandAsync("DELETE Work/2026")));
        Assert.Contains("NO", Tagged(await wire.CommandAsync("DELETE INBOX")));
        Assert.Contains("NONEXISTENT", Tagged(await wire.CommandAsync("SELECT Nowhere")));

        var status = await wire.CommandAsync("STATUS INBOX (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)");
        Assert.Matches(@"^\* STATUS ""INBOX"" \(MESSAGES 0 UIDNEXT 1 UNSEEN 0 HIGHESTMODSEQ \d+\)$", status[0]);
        var quota = await wire.CommandAsync("GETQUOTAROOT INBOX");
        Assert.Contains("* QUOTAROOT \"INBOX\" \"\"", quota);
        Assert.Contains(quota, l => l.StartsWith("* QUOTA \"\" (STORAGE 0 "));
        Assert.Equal("* NAMESPACE ((\"\" \"/\")) NIL NIL", (await wire.CommandAsync("NAMESPACE"))[0]);
        Assert.StartsWith("* ID (\"name\" \"Gateway\"", (await wire.CommandAsync("ID (\"name\" \"test\")"))[0]);
    }

    [Fact]
    public async Task Appending_beyond_the_quota_is_refused_with_overquota()
    {
        await using var gw = await TestGateway.StartAsync(o => o.Imap.QuotaKilobytes = 2);
        gw.AddUser(User, Password);
        await using var wire = await ImapWire.ConnectAsync(gw.ImapsPort, implicitTls: true);
        await wire.ReadLineAsync();
        await wire.CommandAsync($"LOGIN {User} {Password}");
        var big = "Subject: big\r\n\r\n" + new string('x', 3000) + "\r\n";
        await wire.SendAsync($"A1 APPEND INBOX {{{big.Length}+}}\r\n{big}\r\n");
        Assert.StartsWith("A1 NO [OVERQUOTA]", Tagged(await wire.ReadUntilTaggedAsync("A1")));
        var small = "Subject: small\r\n\r\nhi\r\n";
        await wire.SendAsync($"A2 APPEND INBOX {{{small.Length}+}}\r\n{small}\r\n");
        Assert.StartsWith("A2 OK", Tagged(await wire.ReadUntilTaggedAsync("A2")));
    }

    [Fact]
    public async Task A_large_appended_message_is_stored_whole_from_its_working_copy_and_read_back_exactly()
    {
        // Over the reader's spool size and the working copies' in-memory size: the literal goes through a sealed file.
        var marker = "large-append-" + Guid.NewGuid().ToString("N");
        var line = "The quick brown fox " + marker + " jumps over the lazy dog.\r\n";
        var text = new StringBuilder("From: <alice@gateway.test>\r\nTo: <alice@gateway.test>\r\nSubject: large append\r\n\r\n");
        while (text.Length < 1_500_000) text.Append(line);
        var original = Encoding.ASCII.GetBytes(text.ToString());
        await using (var wire = await LoggedInAsync())
        {
            await wire.SendAsync($"A1 APPEND INBOX {{{original.Length}+}}\r\n{text}\r\n");
            Assert.StartsWith("A1 OK [APPENDUID", Tagged(await wire.ReadUntilTaggedAsync("A1")));
        }
        using var client = await ImapClients.ConnectAsync(_gw.ImapsPort, User, Password);
        await client.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        using var stream = await client.Inbox.GetStreamAsync(0, "");
        var back = new MemoryStream();
        await stream.CopyToAsync(back);
        Assert.Equal(original.Length, back.Length);
        Assert.True(original.AsSpan().SequenceEqual(back.ToArray()), "the message read back differs from the one appended");
        await client.DisconnectAsync(true);
        // The working copy was sealed: the data directory holds no plaintext of it.
        Assert.Empty(Gateway.Tests.Sealing.NothingRestsInClearTests.Leaks(_gw.DataDirectory, new[] { marker }));
    }

    [Fact]
    public async Task Two_sessions_see_each_others_flag_changes_and_expunges()
    {
        await using var a = await LoggedInAsync();
        await using var b = await LoggedInAsync();
        var msg = "Subject: shared\r\n\r\nx\r\n";
        for (var i = 0; i < 3; i++)
        {
            await a.SendAsync($"A{i} APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
            await a.ReadUntilTaggedAsync($"A{i}");
        }
        await a.CommandAsync("SELECT INBOX");
        Assert.Contains("* 3 EXISTS", await b.CommandAsync("SELECT INBOX"));

        await a.CommandAsync("STORE 2 +FLAGS (\\Answered)");
        var noop = await b.CommandAsync("NOOP");
        Assert.True(noop.Any(l => l.StartsWith("* 2 FETCH (UID 2 FLAGS (\\Answered")), string.Join("\n", noop));

        await a.CommandAsync("STORE 1 +FLAGS (\\Deleted)");
        await a.CommandAsync("EXPUNGE");
        // A FETCH by sequence number must not shift numbers under the client: the expunge waits (RFC 3501 7.4.1).
        var fetch = await b.CommandAsync("FETCH 1:3 (UID)");
        Assert.DoesNotContain(fetch, l => l.Contains("EXPUNGE"));
        var later = await b.CommandAsync("NOOP");
        Assert.Contains("* 1 EXPUNGE", later);
        Assert.Contains(later, l => l.StartsWith("* SEARCH") == false);
        Assert.Equal("* SEARCH 1 2", (await b.CommandAsync("SEARCH ALL"))[0]);

        // IDLE: b hears of a new message the moment it is appended.
        await b.SendAsync("I1 IDLE\r\n");
        Assert.StartsWith("+", await b.ReadLineAsync());
        await a.SendAsync($"A9 APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
        await a.ReadUntilTaggedAsync("A9");
        Assert.Equal("* 3 EXISTS", await b.ReadLineAsync(TimeSpan.FromSeconds(5)));
        Assert.StartsWith("* ", await b.ReadLineAsync(TimeSpan.FromSeconds(5))); // RECENT
        await b.SendAsync("DONE\r\n");
        Assert.StartsWith("I1 OK", Tagged(await b.ReadUntilTaggedAsync("I1")));
    }

    [Fact]
    public async Task Copy_and_move_answer_copyuid()
    {
        await using var wire = await LoggedInAsync();
        var msg = "Subject: move me\r\n\r\nx\r\n";
        await wire.SendAsync($"A1 APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
        await wire.ReadUntilTaggedAsync("A1");
        await wire.SendAsync($"A2 APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
        await wire.ReadUntilTaggedAsync("A2");
        await wire.CommandAsync("SELECT INBOX");
        Assert.Matches(@"OK \[COPYUID \d+ 1 1\]", Tagged(await wire.CommandAsync("COPY 1 Archive")));
        Assert.Contains("TRYCREATE", Tagged(await wire.CommandAsync("COPY 1:* Nowhere")));
        var move = await wire.CommandAsync("UID MOVE 1:2 Trash");
        Assert.Contains(move, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\* OK \[COPYUID \d+ 1:2 1:2\]"));
        Assert.Equal(2, move.Count(l => l.EndsWith(" EXPUNGE")));
        Assert.Contains("BAD", Tagged(await wire.CommandAsync("COPY 1:* Archive"))); // the mailbox is empty now
        var status = await wire.CommandAsync("STATUS Trash (MESSAGES)");
        Assert.Equal("* STATUS \"Trash\" (MESSAGES 2)", status[0]);
    }

    [Fact]
    public async Task Condstore_reports_modseq_and_refuses_stale_conditional_stores()
    {
        await using var wire = await LoggedInAsync();
        var msg = "Subject: c\r\n\r\nx\r\n";
        await wire.SendAsync($"A1 APPEND INBOX {{{msg.Length}+}}\r\n{msg}\r\n");
        await wire.ReadUntilTaggedAsync("A1");
        Assert.Equal("* ENABLED CONDSTORE", (await wire.CommandAsync("ENABLE CONDSTORE"))[0]);
        var select = await wire.CommandAsync("SELECT INBOX");
        Assert.True(select.Any(l => l.Contains("HIGHESTMODSEQ")), string.Join("\n", select));
        var highest = ulong.Parse(System.Text.RegularExpressions.Regex.Match(string.Join("\n", select), @"HIGHESTMODSEQ (\d+)").Groups[1].Value);
        var store = await wire.CommandAsync($"STORE 1 (UNCHANGEDSINCE {highest}) +FLAGS (\\Seen)");
        var modseq = ulong.Parse(System.Text.RegularExpressions.Regex.Match(store[0], @"MODSEQ \((\d+)\)").Groups[1].Value);
        Assert.True(modseq > highest);
        Assert.Contains("[MODIFIED 1]", Tagged(await wire.CommandAsync($"STORE 1 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)")));
        Assert.Single(await wire.CommandAsync($"FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")); // only the tagged OK
        Assert.Equal("* SEARCH 1 (MODSEQ " + modseq + ")", (await wire.CommandAsync($"SEARCH MODSEQ {modseq}"))[0]);
    }

    [Fact]
    public async Task Sessions_per_user_are_limited_and_a_freed_slot_can_be_used_again()
    {
        await using var gw = await TestGateway.StartAsync(o => o.Imap.MaxConnectionsPerUser = 2);
        gw.AddUser(User, Password);
        async Task<(ImapWire Wire, string Reply)> LoginAsync()
        {
            var wire = await ImapWire.ConnectAsync(gw.ImapsPort, implicitTls: true);
            await wire.ReadLineAsync();
            return (wire, Tagged(await wire.CommandAsync($"LOGIN {User} {Password}")));
        }
        var first = await LoginAsync();
        var second = await LoginAsync();
        var third = await LoginAsync();
        Assert.StartsWith("T1 OK", first.Reply);
        Assert.StartsWith("T1 OK", second.Reply);
        Assert.StartsWith("T1 NO [LIMIT]", third.Reply);
        await first.Wire.CommandAsync("LOGOUT");
        await first.Wire.DisposeAsync();
        Assert.StartsWith("T2 OK", Tagged(await third.Wire.CommandAsync($"LOGIN {User} {Password}")));
        await second.Wire.DisposeAsync();
        await third.Wire.DisposeAsync();
    }

    [Fact]
    public async Task Repeated_login_failures_lock_the_user_out_even_with_the_right_password()
    {
        await using var gw = await TestGateway.StartAsync(o => o.Limits.MaxAuthFailures = 3);
        gw.AddUser(User, Password);
        await using var wire = await ImapWire.ConnectAsync(gw.ImapsPort, implicitTls: true);
        await wire.ReadLineAsync();
        for (var i = 0; i < 3; i++)
            Assert.Contains("NO [AUTHENTICATIONFAILED]", Tagged(await wire.CommandAsync($"LOGIN {User} wrong-{i}")));
        Assert.Contains("NO [UNAVAILABLE]", Tagged(await wire.CommandAsync($"LOGIN {User} {Password}")));
    }

    [Fact]
    public async Task An_overlong_command_line_gets_bad_and_the_session_goes_on()
    {
        await using var wire = await LoggedInAsync();
        await wire.SendAsync("L1 NOOP " + new string('a', 70_000) + "\r\n");
        Assert.StartsWith("L1 BAD Command line too long", await wire.ReadLineAsync());
        Assert.StartsWith("T2 OK", Tagged(await wire.CommandAsync("NOOP")));
    }
}
