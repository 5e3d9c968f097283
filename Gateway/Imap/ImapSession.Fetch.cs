using System.Globalization;
using System.Text;
using Gateway.Storage.Mail;

namespace Gateway.Imap;

/// <summary>FETCH (RFC 3501 6.4.5, CHANGEDSINCE from RFC 7162 3.1.4) and SEARCH (RFC 3501 6.4.4).</summary>
public sealed partial class ImapSession
{
    async Task<Outcome> FetchAsync(ImapCommand c, IReadOnlyList<ImapValue> args, bool byUid)
    {
        if (args.Count is < 2 or > 3) return Bad(c, "FETCH needs a message set and the items to fetch");
        var set = ParseSet(args[0], byUid);
        var items = FetchAttributes.Parse(args[1]);
        ulong? changedSince = null;
        if (args.Count == 3)
        {
            if (args[2] is not ImapValue.List { Items: [var name, var value] } || !string.Equals(name.AsString(), "CHANGEDSINCE", StringComparison.OrdinalIgnoreCase)
                || !ulong.TryParse(value.AsString(), NumberStyles.None, CultureInfo.InvariantCulture, out var since))
                return Bad(c, "the only FETCH modifier is (CHANGEDSINCE modseq)");
            changedSince = since;
            _condstore = true;
        }
        if (items.Any(i => i.Kind == FetchKind.ModSeq)) _condstore = true;

        var view = Selected;
        var uids = view.Resolve(set, byUid);
        var records = _store.Messages(view.MailboxId, uids).ToDictionary(m => m.Uid);
        var targets = uids.Where(records.ContainsKey).Select(u => records[u]).Where(m => changedSince is null || m.ModSeq > changedSince).ToList();

        // Reading a body sets \Seen (RFC 3501 6.4.5), once for the whole command.
        var marksSeen = !view.ReadOnly && items.Any(i => i.Kind is FetchKind.Rfc822 or FetchKind.Rfc822Text || i.Kind == FetchKind.BodySection && !i.Peek);
        var newlySeen = new HashSet<uint>();
        if (marksSeen)
        {
            var unseen = targets.Where(m => !m.Flags.Contains("\\Seen")).Select(m => m.Uid).ToList();
            if (unseen.Count > 0)
            {
                var (changed, _) = _store.StoreFlags(view.MailboxId, unseen, FlagOperation.Add, new[] { "\\Seen" });
                foreach (var m in changed)
                {
                    records[m.Uid] = m;
                    view.Observe(m.Uid, m.ModSeq);
                    newlySeen.Add(m.Uid);
                }
                targets = targets.Select(m => records[m.Uid]).ToList();
            }
        }

        var wantsUid = byUid || items.Any(i => i.Kind == FetchKind.Uid);
        // Kept headers are read a batch at a time: one query for many messages instead of one each.
        var wantsHeaders = items.Any(ReadsTopHeader);
        IReadOnlyDictionary<uint, byte[]>? headers = null;
        for (var i = 0; i < targets.Count; i++)
        {
            var message = targets[i];
            if (wantsHeaders && i % HeaderBatch == 0)
            {
                // A range read when the UIDs are close together; one look-up each for a scattered set.
                var count = Math.Min(HeaderBatch, targets.Count - i);
                var last = targets[i + count - 1].Uid;
                headers = last - message.Uid < 4L * count ? _store.SealedHeadersOf(view.MailboxId, message.Uid, last) : null;
            }
            var seq = view.SequenceOf(message.Uid);
            if (seq == 0) continue;
            await WriteFetchAsync(seq, message, items, wantsUid, newlySeen.Contains(message.Uid), headers);
            if (Output.UnflushedBytes > 256 * 1024) await _io.FlushAsync(_closed);
        }
        return Ok(c, $"{(byUid ? "UID " : "")}FETCH completed");
    }

    System.IO.Pipelines.PipeWriter Output => _io.Output;

    const int HeaderBatch = 256;

    async Task WriteFetchAsync(int seq, MessageRecord message, IReadOnlyList<FetchItem> items, bool wantsUid, bool flagsChanged,
        IReadOnlyDictionary<uint, byte[]>? sealedHeaders)
    {
        MessageStructure? structure = null;
        Stream? content = null;
        var size = message.Size;
        ProtectedView? shown = null;
        if (message.ProtectedId is { } protectedId && ProtectedReader is not null && items.Any(NeedsContent))
        {
            // A protected message is shown as its Agent opens it: the original, or a notice saying why not.
            var servesBody = items.Any(ServesBody);
            var again = _openedProtected.Contains(protectedId);
            shown = await ProtectedReader.ReadAsync(_user!, message, countAsOpen: servesBody && !again, openedInSession: again, _closed);
            if (servesBody && shown.IsOriginal) _openedProtected.Add(protectedId);
            size = shown.Length;
        }
        MessageStructure Structure()
        {
            if (structure is not null) return structure;
            if (shown is null) return structure = StoredStructure(message);
            using var view = shown.Open();
            return structure = MessageStructure.Parse(view);
        }
        Stream Content() => content ??= shown is not null ? shown.Open() : _store.OpenContent(message);
        // The top-level header the store keeps sealed beside the structure: header fetches open no message file.
        // Not for protected mail, which is shown as its Agent opens it.
        byte[]? header = null;
        var headerKept = message.ProtectedId is null && message.HeaderKept;
        byte[]? StoredHeader() => !headerKept ? null
            : header ??= sealedHeaders is not null ? _store.OpenHeader(message, sealedHeaders.GetValueOrDefault(message.Uid)) : _store.HeaderOf(message);
        try
        {
            _io.Write($"* {seq} FETCH (");
            var first = true;
            void Item(string text)
            {
                if (!first) _io.Write(" ");
                first = false;
                _io.Write(text);
            }
            // UID first: Thunderbird relies on it (RFC 3501 allows any order).
            if (wantsUid) Item($"UID {message.Uid}");
            var sentFlags = false;
            if (flagsChanged && !items.Any(i => i.Kind == FetchKind.Flags))
            {
                // Reading set \Seen: say so (RFC 3501 6.4.5), up front as Dovecot does.
                Item($"FLAGS {ImapText.FlagList(Selected.FlagsOf(message))}");
                sentFlags = true;
            }
            var sentModSeq = false;
            foreach (var item in items)
            {
                switch (item.Kind)
                {
                    case FetchKind.Uid: break;
                    case FetchKind.Flags: Item($"FLAGS {ImapText.FlagList(Selected.FlagsOf(message))}"); sentFlags = true; break;
                    case FetchKind.ModSeq: Item($"MODSEQ ({message.ModSeq})"); sentModSeq = true; break;
                    case FetchKind.InternalDate: Item($"INTERNALDATE {ImapText.DateTime(message.InternalDateUtc)}"); break;
                    case FetchKind.Rfc822Size: Item($"RFC822.SIZE {size}"); break;
                    case FetchKind.Envelope: Item("ENVELOPE " + Structure().Envelope); break;
                    case FetchKind.Body: Item("BODY " + Structure().BodyStructure(extended: false)); break;
                    case FetchKind.BodyStructure: Item("BODYSTRUCTURE " + Structure().BodyStructure(extended: true)); break;
                    case FetchKind.Rfc822:
                        Item("RFC822 ");
                        await WriteSectionAsync(Structure().Rfc822, Content(), null, null);
                        break;
                    case FetchKind.Rfc822Header:
                        Item("RFC822.HEADER ");
                        if (StoredHeader() is { } whole) await WriteSectionAsync(SectionContent.Computed(whole), Stream.Null, null, null);
                        else await WriteSectionAsync(Structure().Rfc822Header, Content(), null, null);
                        break;
                    case FetchKind.Rfc822Text:
                        Item("RFC822.TEXT ");
                        await WriteSectionAsync(Structure().Rfc822Text, Content(), null, null);
                        break;
                    case FetchKind.BodySection:
                        Item("BODY" + item.Section + (item.PartialOffset is { } origin ? $"<{origin}>" : "") + " ");
                        if (FromStoredHeader(item.Section!, StoredHeader) is { } computed)
                            await WriteSectionAsync(computed, Stream.Null, item.PartialOffset, item.PartialLength);
                        else
                            await WriteSectionAsync(Structure().Resolve(item.Section!, Content()), Content(), item.PartialOffset, item.PartialLength);
                        break;
                }
            }
            if (flagsChanged && !sentFlags) Item($"FLAGS {ImapText.FlagList(Selected.FlagsOf(message))}");
            if (_condstore && !sentModSeq) Item($"MODSEQ ({message.ModSeq})");
            _io.Write(")\r\n"u8);
        }
        finally
        {
            if (content is not null) await content.DisposeAsync();
            shown?.Dispose();
        }
    }

    /// <summary>BODY[HEADER], BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] of the top-level message, from
    /// the header the store keeps; null for any other section, or when no header is kept.</summary>
    static SectionContent? FromStoredHeader(BodySection section, Func<byte[]?> storedHeader)
    {
        if (!IsTopHeader(section)) return null;
        if (storedHeader() is not { } header) return null;
        return section.Text == SectionText.Header
            ? SectionContent.Computed(header)
            : SectionContent.Computed(MessageStructure.FilterHeader(header, section.Fields, section.Text == SectionText.HeaderFieldsNot));
    }

    /// <summary>Whether the item is served from the kept top-level header (<see cref="FromStoredHeader"/>, RFC822.HEADER).</summary>
    static bool ReadsTopHeader(FetchItem item) =>
        item.Kind == FetchKind.Rfc822Header || item.Kind == FetchKind.BodySection && IsTopHeader(item.Section!);

    /// <summary>BODY[HEADER], BODY[HEADER.FIELDS (...)] or BODY[HEADER.FIELDS.NOT (...)] of the top-level message.</summary>
    static bool IsTopHeader(BodySection section) =>
        section.Part.Count == 0 && section.Text is SectionText.Header or SectionText.HeaderFields or SectionText.HeaderFieldsNot;

    static bool NeedsContent(FetchItem item) =>
        item.Kind is not (FetchKind.Uid or FetchKind.Flags or FetchKind.InternalDate or FetchKind.ModSeq);

    /// <summary>Whether the item hands out message content (an open), not only header fields or structure.</summary>
    static bool ServesBody(FetchItem item) => item.Kind switch
    {
        FetchKind.Rfc822 or FetchKind.Rfc822Text => true,
        FetchKind.BodySection => item.Section!.Text is not (SectionText.Header or SectionText.HeaderFields or SectionText.HeaderFieldsNot or SectionText.Mime),
        _ => false,
    };

    /// <summary>The structure stored with a message, opened for its owner (parsed from the octets if none was stored).</summary>
    MessageStructure StoredStructure(MessageRecord message)
    {
        if (_structures.TryGetValue(message.Id, out var known)) return known;
        var parsed = _store.StructureOf(message) is { } json ? MessageStructure.FromJson(json) : ParseStored(message);
        if (_structures.Count >= MaxCachedStructures) _structures.Clear();
        return _structures[message.Id] = parsed;
    }

    MessageStructure ParseStored(MessageRecord message)
    {
        using var stream = _store.OpenContent(message);
        return MessageStructure.Parse(stream);
    }

    /// <summary>Writes a section as a literal; a partial fetch (RFC 3501 6.4.5 &lt;origin.octets&gt;) cuts it first.</summary>
    async Task WriteSectionAsync(SectionContent section, Stream content, long? offset, long? length)
    {
        if (offset is { } o) section = section.Partial(o, length!.Value);
        _io.Write($"{{{section.Length}}}\r\n");
        if (section.Length == 0) return;
        if (section.Data is { } bytes)
        {
            _io.Write(bytes.AsSpan((int)section.Start, (int)section.Length));
            return;
        }
        content.Seek(section.Start, SeekOrigin.Begin);
        await _io.CopyAsync(content, section.Length, _closed);
    }

    // ---- SEARCH -------------------------------------------------------------------------------------------------

    async Task<Outcome> SearchAsync(ImapCommand c, IReadOnlyList<ImapValue> args, bool byUid)
    {
        if (args.Count > 0 && args[0] is ImapValue.Atom { Text: var first } && first.Equals("RETURN", StringComparison.OrdinalIgnoreCase))
            return Bad(c, "SEARCH RETURN (ESEARCH) is not supported");
        var key = SearchQuery.Parse(args);
        var view = Selected;
        // Only the records the key can match: a client polling with "UID SEARCH UID n:*" reads what is new, not the mailbox.
        var records = (Candidates(key, view) is { } uids ? _store.Messages(view.MailboxId, uids) : _store.Messages(view.MailboxId)).ToDictionary(m => m.Uid);
        var largestUid = view.Count > 0 ? view.Uids[^1] : 0;
        var hits = new List<(int Seq, MessageRecord Message)>();
        for (var seq = 1; seq <= view.Count; seq++)
        {
            if (!records.TryGetValue(view.UidAt(seq), out var message)) continue;
            var candidate = new SearchCandidate(this, message, seq, view.Count, largestUid);
            try
            {
                if (await candidate.MatchesAsync(key)) hits.Add((seq, message));
            }
            finally { candidate.Dispose(); }
        }
        var numbers = string.Concat(hits.Select(h => " " + (byUid ? h.Message.Uid : (uint)h.Seq)));
        var modseq = Contains<SearchKey.ModSeq>(key) && hits.Count > 0 ? $" (MODSEQ {hits.Max(h => h.Message.ModSeq)})" : "";
        if (Contains<SearchKey.ModSeq>(key)) _condstore = true;
        return Ok(c, $"{(byUid ? "UID " : "")}SEARCH completed", "* SEARCH" + numbers + modseq);
    }

    /// <summary>The UIDs a SEARCH key can match at most, from its UID and message-number sets; null when it can match any.</summary>
    static HashSet<uint>? Candidates(SearchKey key, MailboxView view)
    {
        switch (key)
        {
            case SearchKey.Sequence s:
                return view.Resolve(s.Set, s.ByUid).ToHashSet();
            case SearchKey.And a:
                HashSet<uint>? all = null;
                foreach (var part in a.Keys)
                    if (Candidates(part, view) is { } some)
                    {
                        if (all is null) all = some;
                        else all.IntersectWith(some);
                    }
                return all;
            case SearchKey.Or o:
                if (Candidates(o.Left, view) is not { } left || Candidates(o.Right, view) is not { } right) return null;
                left.UnionWith(right);
                return left;
            default:
                return null;
        }
    }

    static bool Contains<T>(SearchKey key) where T : SearchKey => key switch
    {
        T => true,
        SearchKey.Not n => Contains<T>(n.Key),
        SearchKey.Or o => Contains<T>(o.Left) || Contains<T>(o.Right),
        SearchKey.And a => a.Keys.Any(Contains<T>),
        _ => false,
    };

    /// <summary>
    /// One message under test by a SEARCH. Header keys and dates use the structure stored with the message (opened for
    /// its owner); only BODY and TEXT open the message file. A protected message is searched as FETCH shows it: the
    /// Agent opens it the way ENVELOPE does (a preview, which counts no open), so SEARCH finds what ENVELOPE and
    /// BODY[] show, and a message that can no longer be opened (expired, revoked, opened too often) matches only on
    /// the notice shown in its place.
    /// </summary>
    sealed class SearchCandidate(ImapSession session, MessageRecord message, int seq, int count, uint largestUid) : IDisposable
    {
        MessageStructure? _structure;
        Stream? _content;
        ProtectedView? _shown;

        async ValueTask<ProtectedView?> ShownAsync()
        {
            if (_shown is not null || message.ProtectedId is not { } id || session.ProtectedReader is null) return _shown;
            var again = session._openedProtected.Contains(id);
            return _shown = await session.ProtectedReader.ReadAsync(session._user!, message, countAsOpen: false, openedInSession: again, session._closed);
        }

        async ValueTask<MessageStructure> StructureAsync()
        {
            if (_structure is not null) return _structure;
            if (await ShownAsync() is not { } shown) return _structure = session.StoredStructure(message);
            using var view = shown.Open();
            return _structure = MessageStructure.Parse(view);
        }

        async ValueTask<bool> BodyContainsAsync(string text) =>
            await MessageStructure.BodyContainsAsync(_content ??= await ShownAsync() is { } shown ? shown.Open() : session._store.OpenContent(message),
                await StructureAsync(), text, session._closed);

        public async ValueTask<bool> MatchesAsync(SearchKey key)
        {
            switch (key)
            {
                case SearchKey.All: return true;
                case SearchKey.Flag f: return message.Flags.Contains(f.Name, StringComparer.OrdinalIgnoreCase) == f.Set;
                case SearchKey.Recent: return session.Selected.IsRecent(message.Uid);
                case SearchKey.New: return session.Selected.IsRecent(message.Uid) && !message.Flags.Contains("\\Seen");
                case SearchKey.Old: return !session.Selected.IsRecent(message.Uid);
                case SearchKey.Size s: return s.Larger ? message.Size > s.Octets : message.Size < s.Octets;
                case SearchKey.Sequence s: return s.ByUid ? s.Set.Contains(message.Uid, largestUid) : s.Set.Contains((uint)seq, (uint)count);
                case SearchKey.ModSeq m: return message.ModSeq >= m.Value;
                case SearchKey.Date d:
                {
                    // SENT*: the sender's own calendar day (RFC 3501 6.4.4); without a usable Date: the internal date, as
                    // Dovecot does. The others: the internal date.
                    var day = d.Sent && (await StructureAsync()).Date is { } sent ? DateOnly.FromDateTime(sent.DateTime) : DateOnly.FromDateTime(message.InternalDateUtc);
                    return d.Comparison switch
                    {
                        DateComparison.Before => day < d.Day,
                        DateComparison.On => day == d.Day,
                        _ => day >= d.Day,
                    };
                }
                case SearchKey.Header h: return (await StructureAsync()).HeaderContains(h.Field, h.Text);
                case SearchKey.Body b: return await BodyContainsAsync(b.Text);
                case SearchKey.FullText t:
                {
                    var structure = await StructureAsync();
                    return structure.Headers.Any(h => structure.HeaderContains(h.Name, t.Value)) || await BodyContainsAsync(t.Value);
                }
                case SearchKey.Not n: return !await MatchesAsync(n.Key);
                case SearchKey.Or o: return await MatchesAsync(o.Left) || await MatchesAsync(o.Right);
                case SearchKey.And a:
                    foreach (var k in a.Keys) if (!await MatchesAsync(k)) return false;
                    return true;
                default: return false;
            }
        }

        public void Dispose()
        {
            _content?.Dispose();
            _shown?.Dispose();
        }
    }
}
