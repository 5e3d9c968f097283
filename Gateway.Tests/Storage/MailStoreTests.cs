using System.Text;
using Gateway.Storage.Mail;
using Gateway.Tests.Support;

namespace Gateway.Tests.Storage;

public class MailStoreTests
{
    static readonly string[] Users = { "alice@example.org", "bob@example.org", "carol@example.org", "dan@example.org", "dave@example.org", "erin@example.org", "fay@example.org",
        "a@example.org", "b@example.org", "c@example.org" };

    static MailStore Open(string dir, long quotaKilobytes = 0) =>
        new(Path.Combine(dir, "mail.db"), Path.Combine(dir, "blobs"), TestMailboxSeal.For(Path.Combine(dir, "keys"), Users), quotaKilobytes);
    static MemoryStream Msg(string subject) => new(Encoding.ASCII.GetBytes($"Subject: {subject}\r\n\r\nbody\r\n"));

    [Fact]
    public void Every_user_gets_inbox_and_the_special_use_mailboxes()
    {
        using var store = Open(TempDirectory.Create("mail"));
        var boxes = store.Mailboxes("Alice@Example.org");
        Assert.Equal(new[] { "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive" }, boxes.Select(b => b.Name));
        Assert.Equal("\\Sent", boxes.Single(b => b.Name == "Sent").SpecialUse);
        Assert.All(boxes, b => Assert.True(b.UidValidity > 0));
        Assert.NotNull(store.Find("alice@example.org", "inbox")); // INBOX is case-insensitive, the user too
    }

    [Fact]
    public async Task Uids_ascend_modseq_grows_and_both_survive_reopening()
    {
        var dir = TempDirectory.Create("mail");
        uint validity;
        using (var store = Open(dir))
        {
            var first = await store.AppendAsync("bob@example.org", "INBOX", Msg("one"), new[] { "\\Seen" });
            var second = await store.AppendAsync("bob@example.org", "INBOX", Msg("two"));
            Assert.Equal(1u, first.Uid);
            Assert.Equal(2u, second.Uid);
            Assert.True(second.ModSeq > first.ModSeq);
            Assert.Equal(new[] { "\\Seen" }, first.Flags);
            validity = store.Find("bob@example.org", "INBOX")!.UidValidity;
        }
        using (var store = Open(dir))
        {
            var inbox = store.Find("bob@example.org", "INBOX")!;
            Assert.Equal(validity, inbox.UidValidity);
            Assert.Equal(3u, inbox.UidNext);
            var third = await store.AppendAsync("bob@example.org", "INBOX", Msg("three"));
            Assert.Equal(3u, third.Uid);
            Assert.Equal(new uint[] { 1, 2, 3 }, store.Messages(inbox.Id).Select(m => m.Uid));
        }
    }

    [Fact]
    public async Task A_repeated_local_delivery_lands_once()
    {
        using var store = Open(TempDirectory.Create("mail"));
        var first = await store.AppendAsync("carol@example.org", "INBOX", Msg("once"), deliveryKey: "q123/carol@example.org");
        var again = await store.AppendAsync("carol@example.org", "INBOX", Msg("once"), deliveryKey: "q123/carol@example.org");
        Assert.Equal(first.Uid, again.Uid);
        Assert.Single(store.Messages(store.Find("carol@example.org", "INBOX")!.Id));
        var other = await store.AppendAsync("carol@example.org", "INBOX", Msg("once"), deliveryKey: "q124/carol@example.org");
        Assert.Equal(first.Uid + 1, other.Uid);
    }

    [Fact]
    public async Task Messages_are_sealed_copies_share_their_blob_and_read_back_exactly()
    {
        var dir = TempDirectory.Create("mail");
        using var store = Open(dir);
        var a = await store.AppendAsync("dan@example.org", "INBOX", Msg("same"));
        var b = await store.AppendAsync("dan@example.org", "Archive", Msg("same"));
        Assert.NotEqual(a.BlobId, b.BlobId); // sealed blobs have random names: equal messages are not told apart on disk
        var archive = store.Find("dan@example.org", "Archive")!;
        store.Copy(store.Find("dan@example.org", "INBOX")!.Id, new[] { a.Uid }, archive.Id, move: false);
        Assert.Equal(a.BlobId, store.Messages(archive.Id).Last().BlobId);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "blobs"), "*.p7m", SearchOption.AllDirectories).Length);
        Assert.Empty(Directory.GetFiles(Path.Combine(dir, "blobs"), "tmp-*"));
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(dir, "blobs"), "*", SearchOption.AllDirectories), f => File.ReadAllText(f).Contains("Subject: same"));
        using var read = store.OpenContent(a);
        Assert.Equal("Subject: same\r\n\r\nbody\r\n", new StreamReader(read).ReadToEnd());
        Assert.Equal(a.Size, read.Length);
        Assert.Throws<MailboxException>(() => store.Copy(store.Find("dan@example.org", "INBOX")!.Id, new[] { a.Uid }, store.Find("erin@example.org", "INBOX")!.Id, move: false));
    }

    [Fact]
    public async Task A_delivery_retried_after_a_restart_lands_once()
    {
        // The crash window that matters: the message is in the store, but the queue never heard it was delivered,
        // so after the restart the queue delivers it again with the same key.
        var dir = TempDirectory.Create("mail");
        using (var store = Open(dir))
            await store.AppendAsync("dave@example.org", "INBOX", Msg("retried"), deliveryKey: "q9/dave@example.org");
        using (var store = Open(dir))
        {
            var again = await store.AppendAsync("dave@example.org", "INBOX", Msg("retried"), deliveryKey: "q9/dave@example.org");
            Assert.Equal(1u, again.Uid);
            Assert.Single(store.Messages(store.Find("dave@example.org", "INBOX")!.Id));
        }
    }

    [Fact]
    public async Task Flags_expunge_copy_and_move_keep_uids_modseq_and_blobs_right()
    {
        var dir = TempDirectory.Create("mail");
        using var store = Open(dir);
        var inbox = store.Find("erin@example.org", "INBOX")!;
        var a = await store.AppendAsync("erin@example.org", "INBOX", Msg("a"));
        var b = await store.AppendAsync("erin@example.org", "INBOX", Msg("b"));
        var (changed, modified) = store.StoreFlags(inbox.Id, new[] { a.Uid, b.Uid }, FlagOperation.Add, new[] { "\\seen", "$Work" }, unchangedSince: a.ModSeq);
        Assert.Equal(new[] { a.Uid }, changed.Select(m => m.Uid)); // b changed after a's MODSEQ: refused
        Assert.Equal(new[] { b.Uid }, modified);
        Assert.Equal(new[] { "\\Seen", "$Work" }, changed[0].Flags); // system flags in canonical case

        var archive = store.Find("erin@example.org", "Archive")!;
        var mapping = store.Copy(inbox.Id, new[] { a.Uid, b.Uid }, archive.Id, move: true);
        Assert.Equal(new[] { (a.Uid, 1u), (b.Uid, 2u) }, mapping);
        Assert.Empty(store.Messages(inbox.Id));
        Assert.Equal(new[] { a.Uid, b.Uid }, store.ExpungedSince(inbox.Id, 0).Select(e => e.Uid));
        var blob = store.Blobs.PathOf(a.BlobId);
        Assert.True(File.Exists(blob)); // still used by the moved copy

        store.StoreFlags(archive.Id, new[] { 1u, 2u }, FlagOperation.Add, new[] { "\\Deleted" });
        Assert.Equal(new[] { 1u, 2u }, store.Expunge(archive.Id));
        Assert.False(File.Exists(blob)); // the last message using the blob is gone, and so is the file
        Assert.Equal(0, store.UsedBytes("erin@example.org"));
    }

    [Fact]
    public async Task Ranges_and_changes_are_read_per_mailbox_by_uid_and_modseq()
    {
        using var store = Open(TempDirectory.Create("mail"));
        var inbox = store.Find("fay@example.org", "INBOX")!;
        var sent = store.Find("fay@example.org", "Sent")!;
        var other = store.Find("dan@example.org", "INBOX")!;
        // Interleaved, so neighbouring mailboxes share UIDs and MODSEQs.
        for (var i = 0; i < 6; i++)
        {
            await store.AppendAsync("fay@example.org", "INBOX", Msg("in" + i));
            await store.AppendAsync("fay@example.org", "Sent", Msg("sent" + i));
            await store.AppendAsync("dan@example.org", "INBOX", Msg("dan" + i));
        }
        Assert.Equal(new uint[] { 2, 3, 4 }, store.Messages(inbox.Id, 2, 4).Select(m => m.Uid));
        Assert.All(store.Messages(inbox.Id, 2, 4), m => Assert.Equal(inbox.Id, m.MailboxId));
        Assert.Equal(new uint[] { 1, 6 }, store.Messages(sent.Id, new uint[] { 6, 1, 9 }).Select(m => m.Uid));
        Assert.Empty(store.Messages(inbox.Id, 7, uint.MaxValue));

        var seen = store.Find("fay@example.org", "INBOX")!.HighestModSeq;
        var danSeen = store.Find("dan@example.org", "INBOX")!.HighestModSeq;
        Assert.Empty(store.ChangedSince(store.Find("fay@example.org", "INBOX")!, seen));
        store.StoreFlags(inbox.Id, new uint[] { 5, 2 }, FlagOperation.Add, new[] { "\\Flagged" });
        store.StoreFlags(other.Id, new uint[] { 1, 3 }, FlagOperation.Add, new[] { "\\Flagged" });
        await store.AppendAsync("fay@example.org", "INBOX", Msg("late"));
        store.StoreFlags(inbox.Id, new uint[] { 4 }, FlagOperation.Add, new[] { "\\Deleted" });
        store.Expunge(inbox.Id);

        var now = store.Find("fay@example.org", "INBOX")!;
        Assert.Equal(new uint[] { 2, 5, 7 }, store.ChangedSince(now, seen).Select(m => m.Uid));
        Assert.Equal(new uint[] { 4 }, store.ExpungedSince(inbox.Id, seen).Select(e => e.Uid));
        Assert.Empty(store.ExpungedSince(other.Id, 0));
        Assert.Equal(new uint[] { 1, 3 }, store.ChangedSince(store.Find("dan@example.org", "INBOX")!, danSeen).Select(m => m.Uid));
        // Nothing of the neighbours: every record returned is this mailbox's, above the MODSEQ asked for.
        Assert.All(store.ChangedSince(now, 0), m => Assert.Equal(inbox.Id, m.MailboxId));
        Assert.Equal(6, store.ChangedSince(now, 0).Count);
    }

    [Fact]
    public async Task A_listed_mailbox_answers_ranges_like_the_database_and_shows_every_change_at_once()
    {
        var dir = TempDirectory.Create("mail");
        using var store = Open(dir);
        var inbox = store.Find("erin@example.org", "INBOX")!;
        for (var i = 0; i < 12; i++) await store.AppendAsync("erin@example.org", "INBOX", Msg("m" + i));
        await store.AppendAsync("dan@example.org", "INBOX", Msg("neighbour"));
        store.StoreFlags(inbox.Id, new uint[] { 3, 4, 5 }, FlagOperation.Add, new[] { "\\Deleted" });
        store.Expunge(inbox.Id); // UIDs 1, 2, 6..12 are left: a gap to fall into

        // Each range as the listed records answer it: the UIDs a range read of the database gives.
        store.Messages(inbox.Id);
        {
            var cases = new (uint First, uint Last)[] { (1, 1), (1, 2), (2, 6), (3, 5), (4, 7), (6, 12), (9, uint.MaxValue), (12, uint.MaxValue), (13, uint.MaxValue), (0, uint.MaxValue), (uint.MaxValue, uint.MaxValue) };
            var expected = new Dictionary<(uint, uint), uint[]>
            {
                [(1, 1)] = [1], [(1, 2)] = [1, 2], [(2, 6)] = [2, 6], [(3, 5)] = [], [(4, 7)] = [6, 7], [(6, 12)] = [6, 7, 8, 9, 10, 11, 12],
                [(9, uint.MaxValue)] = [9, 10, 11, 12], [(12, uint.MaxValue)] = [12], [(13, uint.MaxValue)] = [], [(0, uint.MaxValue)] = [1, 2, 6, 7, 8, 9, 10, 11, 12],
                [(uint.MaxValue, uint.MaxValue)] = [],
            };
            foreach (var (first, last) in cases)
                Assert.Equal(expected[(first, last)], store.Messages(inbox.Id, first, last).Select(m => m.Uid).ToArray());
            Assert.Equal(new uint[] { 2, 7, 12 }, store.Messages(inbox.Id, new uint[] { 12, 2, 7, 4 }).Select(m => m.Uid));
        }

        // A flag change, an append and an expunge each show in the very next read of a listed mailbox.
        store.Messages(inbox.Id);
        store.StoreFlags(inbox.Id, new uint[] { 7 }, FlagOperation.Add, new[] { "\\Flagged" });
        Assert.Contains("\\Flagged", store.Messages(inbox.Id, 7, 7).Single().Flags);
        Assert.Contains("\\Flagged", store.Messages(inbox.Id).Single(m => m.Uid == 7).Flags);
        store.Messages(inbox.Id);
        var added = await store.AppendAsync("erin@example.org", "INBOX", Msg("late"));
        Assert.Equal(added.Uid, store.Messages(inbox.Id, 13, uint.MaxValue).Single().Uid);
        store.Messages(inbox.Id);
        store.StoreFlags(inbox.Id, new uint[] { 1 }, FlagOperation.Add, new[] { "\\Deleted" });
        store.Expunge(inbox.Id);
        Assert.DoesNotContain(1u, store.Messages(inbox.Id).Select(m => m.Uid));
        Assert.Empty(store.Messages(inbox.Id, 1, 1));

        // A conditional change refused for a message (CONDSTORE's UNCHANGEDSINCE) leaves the listed record as it was.
        var listed = store.Messages(inbox.Id).Single(m => m.Uid == 8);
        var (changed, modified) = store.StoreFlags(inbox.Id, new uint[] { 8 }, FlagOperation.Add, new[] { "\\Answered" }, unchangedSince: 0);
        Assert.Empty(changed);
        Assert.Equal(new uint[] { 8 }, modified);
        Assert.DoesNotContain("\\Answered", listed.Flags);
        Assert.DoesNotContain("\\Answered", store.Messages(inbox.Id, 8, 8).Single().Flags);
        store.StoreFlags(inbox.Id, new uint[] { 8 }, FlagOperation.Add, new[] { "\\Answered" });
        Assert.Contains("\\Answered", store.Messages(inbox.Id, 8, 8).Single().Flags);
    }

    [Fact]
    public async Task A_peek_shows_what_was_last_read_and_is_gone_after_any_change()
    {
        using var store = Open(TempDirectory.Create("mail"));
        var id = store.Find("bob@example.org", "INBOX")!.Id;
        var read = store.Get(id)!;
        Assert.Equal((read.HighestModSeq, read.UidNext), store.Peek(id));
        var added = await store.AppendAsync("bob@example.org", "INBOX", Msg("peek"));
        Assert.Null(store.Peek(id)); // a session must read the mailbox again: something changed
        Assert.Equal((added.ModSeq, added.Uid + 1), (store.Get(id)!.HighestModSeq, store.Get(id)!.UidNext));
        Assert.Equal((added.ModSeq, added.Uid + 1), store.Peek(id));
        store.StoreFlags(id, new[] { added.Uid }, FlagOperation.Add, new[] { "\\Seen" });
        Assert.Null(store.Peek(id));
        Assert.True(store.Get(id)!.HighestModSeq > added.ModSeq);
    }

    [Fact]
    public async Task Appends_at_the_same_time_are_recorded_together_each_once_with_its_own_uid_and_errors_stay_their_own()
    {
        var dir = TempDirectory.Create("mail");
        var expected = new List<string>();
        using (var store = Open(dir, quotaKilobytes: 4))
        {
            store.Create("dave@example.org", "Projects");
            var inbox = store.Find("dave@example.org", "INBOX")!;
            // 40 appends from 8 callers at once, into two mailboxes, a missing one and one too big for the quota.
            var tasks = Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
            {
                var box = i % 10 == 9 ? "Nowhere" : i % 2 == 0 ? "INBOX" : "Projects";
                var text = i == 17 ? "Subject: big\r\n\r\n" + new string('x', 8000) + "\r\n" : $"Subject: m{i}\r\n\r\nbody {i}\r\n";
                try
                {
                    var stored = await store.AppendAsync("dave@example.org", box, new MemoryStream(Encoding.ASCII.GetBytes(text)), deliveryKey: $"q{i}/dave@example.org");
                    return (i, box, (uint?)stored.Uid, (string?)null);
                }
                catch (Exception ex) when (ex is MailboxException or QuotaExceededException) { return (i, box, (uint?)null, ex.GetType().Name); }
            })).ToList();
            var outcomes = await Task.WhenAll(tasks);
            Assert.All(outcomes.Where(o => o.box == "Nowhere"), o => Assert.Equal(nameof(MailboxException), o.Item4));
            Assert.Equal(nameof(QuotaExceededException), outcomes.Single(o => o.i == 17).Item4);
            var stored = outcomes.Where(o => o.Item3 is not null).ToList();
            Assert.Equal(40 - 4 - 1, stored.Count);
            foreach (var box in new[] { "INBOX", "Projects" })
            {
                var uids = stored.Where(o => o.box == box).Select(o => o.Item3!.Value).Order().ToList();
                Assert.Equal(Enumerable.Range(1, uids.Count).Select(u => (uint)u), uids); // each once, no gap, no repeat
            }
            expected = store.Messages(inbox.Id).Select(m => m.DeliveryKey!).Order().ToList();
            Assert.Equal(stored.Count(o => o.box == "INBOX"), expected.Count);
        }
        using (var again = Open(dir, quotaKilobytes: 4))
            Assert.Equal(expected, again.Messages(again.Find("dave@example.org", "INBOX")!.Id).Select(m => m.DeliveryKey!).Order());
    }

    [Fact]
    public async Task A_kept_header_follows_its_message_through_copies_and_goes_with_it()
    {
        var dir = TempDirectory.Create("mail");
        var text = "Subject: kept\r\nX-Marker: header-kept-marker\r\n\r\nbody\r\n";
        var headerLength = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        using (var store = new MailStore(Path.Combine(dir, "mail.db"), Path.Combine(dir, "blobs"), TestMailboxSeal.For(Path.Combine(dir, "keys"), Users),
            describe: _ => new MessageDescription("{}", headerLength)))
        {
            var original = await store.AppendAsync("erin@example.org", "INBOX", new MemoryStream(Encoding.ASCII.GetBytes(text)));
            Assert.True(original.HeaderKept);
            Assert.Equal(text[..headerLength], Encoding.ASCII.GetString(store.HeaderOf(original)!));
            var inbox = store.Find("erin@example.org", "INBOX")!;
            var archive = store.Find("erin@example.org", "Archive")!;
            store.Copy(inbox.Id, new[] { original.Uid }, archive.Id, move: false);

            store.StoreFlags(inbox.Id, new[] { original.Uid }, FlagOperation.Add, new[] { "\\Deleted" });
            store.Expunge(inbox.Id);
            var copy = Assert.Single(store.Messages(archive.Id));
            Assert.Equal(text[..headerLength], Encoding.ASCII.GetString(store.HeaderOf(copy)!)); // the copy still has it

            store.StoreFlags(archive.Id, new[] { copy.Uid }, FlagOperation.Add, new[] { "\\Deleted" });
            store.Expunge(archive.Id);
        }
        using var db = new LiteDB.LiteDatabase(Path.Combine(dir, "mail.db"));
        Assert.Equal(0, db.GetCollection("headers").Count()); // nothing kept for a message that is gone
    }

    /// <summary>
    /// IMAP sessions read while deliveries write. LiteDB's page cache cannot take two callers at once once the
    /// database outgrows it (it recycles a page one reader has found but not yet pinned: "pages in memory store must
    /// be non-shared", then every later query fails), so the store lets one caller at a time into the database.
    /// The records here carry 6 KiB headers, so the file is well past the cache's 8 MiB.
    /// </summary>
    [Fact]
    public async Task Sessions_reading_while_deliveries_write_past_the_page_cache_all_succeed()
    {
        var dir = TempDirectory.Create("mail");
        var header = Encoding.ASCII.GetBytes("Subject: big\r\nX-Pad: " + new string('p', 6 * 1024) + "\r\n\r\n");
        using var store = new MailStore(Path.Combine(dir, "mail.db"), Path.Combine(dir, "blobs"), TestMailboxSeal.For(Path.Combine(dir, "keys"), Users),
            describe: _ => new MessageDescription("{}", header.Length));
        var body = header.Concat(Encoding.ASCII.GetBytes("body\r\n")).ToArray();
        const int Preloaded = 2400;
        for (var start = 0; start < Preloaded; start += 200)
        {
            var batch = Enumerable.Range(start, 200).Select(i => new AppendRequest(Users[i % 4], "INBOX", () => new MemoryStream(body))).ToList();
            Assert.All(await store.AppendManyAsync(batch), r => Assert.Null(r.Error));
        }
        Assert.True(new FileInfo(Path.Combine(dir, "mail.db")).Length > 16L << 20, "the database should be past LiteDB's page cache");
        var boxes = Users.Take(4).Select(u => store.Find(u, "INBOX")!.Id).ToArray();

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++) await store.AppendAsync(Users[i % 4], "INBOX", new MemoryStream(body), cancellationToken: deadline.Token);
        });
        var reads = 0;
        var readers = Enumerable.Range(0, 4).Select(r => Task.Run(() =>
        {
            var box = boxes[r];
            while (!writing.IsCompleted && !deadline.IsCancellationRequested)
            {
                var all = store.Messages(box);
                // Point reads all over the file keep the cache recycling pages while the others read.
                var random = new Random(r);
                for (var i = 0; i < 300; i++)
                {
                    var b = boxes[random.Next(boxes.Length)];
                    var uid = (uint)random.Next(1, Preloaded / 4);
                    Assert.Equal(uid, Assert.Single(store.Messages(b, uid, uid)).Uid);
                    Assert.NotNull(store.Get(b));
                }
                Assert.True(all.Count >= Preloaded / 4);
                Assert.All(store.Messages(box, 10, 40), m => Assert.Equal(box, m.MailboxId));
                Assert.NotEmpty(store.ChangedSince(store.Get(box)!, all[^1].ModSeq - 5));
                Assert.NotNull(store.HeaderOf(all[r * 7]));
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        await Task.WhenAll(readers.Append(writing));
        Assert.False(deadline.IsCancellationRequested, "the writer did not finish in time");
        Assert.True(reads > 4, $"only {reads} reads ran beside the writer");
        Assert.Equal(Preloaded + 60, boxes.Sum(b => store.Messages(b).Count));
    }

    [Fact]
    public async Task Quota_refuses_what_does_not_fit()
    {
        using var store = Open(TempDirectory.Create("mail"), quotaKilobytes: 1);
        await store.AppendAsync("fay@example.org", "INBOX", Msg("small"));
        await Assert.ThrowsAsync<QuotaExceededException>(() => store.AppendAsync("fay@example.org", "INBOX", new MemoryStream(new byte[2000])));
    }

    [Fact]
    public async Task A_batch_delivers_each_recipient_once_with_its_own_outcome()
    {
        var dir = TempDirectory.Create("mail");
        using var store = Open(dir, quotaKilobytes: 1);
        var big = new string('x', 2000);
        AppendRequest For(string user, string key, string body) =>
            new(user, "INBOX", () => new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {key}\r\n\r\n{body}\r\n")), DeliveryKey: key);

        var first = await store.AppendManyAsync(new[]
        {
            For("a@example.org", "q1/a", "small"),
            For("b@example.org", "q1/b", big), // over b's 1 KiB quota: refused alone
            For("c@example.org", "q1/c", "small"),
            For("c@example.org", "q1/c2", "also small"),
        });
        Assert.Equal(1u, first[0].Message!.Uid);
        Assert.IsType<QuotaExceededException>(first[1].Error);
        Assert.Equal(new uint[] { 1, 2 }, new[] { first[2].Message!.Uid, first[3].Message!.Uid });
        Assert.Empty(store.Messages(store.Find("b@example.org", "INBOX")!.Id));

        // The queue retries the whole message: the recipients already delivered are not delivered again.
        var again = await store.AppendManyAsync(new[] { For("a@example.org", "q1/a", "small"), For("c@example.org", "q1/c", "small") });
        Assert.Equal(first[0].Message!.Id, again[0].Message!.Id);
        Assert.Equal(first[2].Message!.Id, again[1].Message!.Id);
        Assert.Single(store.Messages(store.Find("a@example.org", "INBOX")!.Id));
        Assert.Equal(2, store.Messages(store.Find("c@example.org", "INBOX")!.Id).Count);
        // The refused message's file was not left behind.
        var files = Directory.GetFiles(Path.Combine(dir, "blobs"), "*.p7m", SearchOption.AllDirectories);
        Assert.Equal(3, files.Length);
    }
}
