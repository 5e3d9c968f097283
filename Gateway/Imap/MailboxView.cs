using Gateway.Storage.Mail;

namespace Gateway.Imap;

/// <summary>
/// One session's picture of its selected mailbox: message sequence numbers mapped to UIDs, the MODSEQ of each message
/// as last reported, and which messages are \Recent for this session. <see cref="Sync"/> compares it with the store
/// and produces the untagged EXISTS, RECENT, EXPUNGE and FETCH (flags) responses that bring the client up to date
/// (RFC 3501 7.3.1, 7.4.1, 7.4.2). Expunges are held back while a command that works on sequence numbers runs,
/// since reporting them then would shift the numbers under the client (RFC 3501 7.4.1).
/// </summary>
public sealed class MailboxView
{
    readonly List<uint> _uids = new();
    readonly Dictionary<uint, ulong> _modSeqs = new();
    readonly HashSet<uint> _recent = new();
    ulong _highestModSeq;
    uint _uidNext;

    public int MailboxId { get; }
    public string Name { get; }
    public bool ReadOnly { get; }
    public uint UidValidity { get; }
    public IReadOnlyList<uint> Uids => _uids;
    public int Count => _uids.Count;
    public int RecentCount => _recent.Count;
    public ulong HighestModSeq => _highestModSeq;
    public uint UidNext => _uidNext;

    MailboxView(MailboxRecord mailbox, bool readOnly)
    {
        MailboxId = mailbox.Id;
        Name = mailbox.Name;
        ReadOnly = readOnly;
        UidValidity = mailbox.UidValidity;
    }

    /// <summary>SELECT (claims \Recent) or EXAMINE (read-only, changes nothing: RFC 3501 6.3.2).</summary>
    public static MailboxView Open(MailStore store, MailboxRecord mailbox, bool readOnly, out IReadOnlyList<MessageRecord> messages)
    {
        var view = new MailboxView(mailbox, readOnly);
        messages = store.Messages(mailbox.Id);
        var claimed = readOnly ? store.ClaimRecent(mailbox.Id, 1) : store.ClaimRecent(mailbox.Id, mailbox.UidNext);
        foreach (var m in messages)
        {
            view._uids.Add(m.Uid);
            view._modSeqs[m.Uid] = m.ModSeq;
            if (m.Uid > claimed) view._recent.Add(m.Uid);
        }
        view._highestModSeq = mailbox.HighestModSeq;
        view._uidNext = mailbox.UidNext;
        return view;
    }

    public bool IsRecent(uint uid) => _recent.Contains(uid);

    /// <summary>The sequence number (1-based) of a UID, or 0 when this view does not hold it.</summary>
    public int SequenceOf(uint uid)
    {
        var i = _uids.BinarySearch(uid);
        return i >= 0 ? i + 1 : 0;
    }

    public uint UidAt(int sequence) => _uids[sequence - 1];

    /// <summary>Records a change this session made itself and reported already (STORE), so it is not reported twice.</summary>
    public void Observe(uint uid, ulong modSeq)
    {
        if (_modSeqs.ContainsKey(uid)) _modSeqs[uid] = modSeq;
    }

    /// <summary>UIDs selected by a set of sequence numbers (<paramref name="byUid"/> false) or of UIDs, ascending.</summary>
    public IReadOnlyList<uint> Resolve(SequenceSet set, bool byUid)
    {
        if (_uids.Count == 0) return Array.Empty<uint>();
        if (byUid)
        {
            // "*" is the highest UID in use; a range over no existing UID selects nothing (RFC 3501 6.4.8).
            var largest = _uids[^1];
            return _uids.Where(u => set.Contains(u, largest)).ToList();
        }
        var result = new List<uint>();
        for (var i = 1; i <= _uids.Count; i++)
            if (set.Contains((uint)i, (uint)_uids.Count)) result.Add(_uids[i - 1]);
        return result;
    }

    /// <summary>Whether a sequence set names a message number beyond the mailbox (a BAD, RFC 3501 9 "seq-number").</summary>
    public bool OutOfRange(SequenceSet set) => set.MaxNumber(_uids.Count == 0 ? 0u : (uint)_uids.Count) > (uint)_uids.Count;

    /// <summary>
    /// Brings the view up to date with the store, writing untagged responses to <paramref name="output"/>.
    /// Returns false when the mailbox no longer exists.
    /// </summary>
    /// <param name="allowExpunge">False during FETCH, STORE and SEARCH by sequence number.</param>
    /// <param name="qresync">Report expunges as VANISHED (RFC 7162 3.2.10) instead of EXPUNGE.</param>
    public bool Sync(MailStore store, List<string> output, bool allowExpunge, bool condstore, bool qresync = false)
    {
        // Most commands find nothing new: seen without a database read (the store's peek is never ahead of what is durable).
        if (store.Peek(MailboxId) is { } seen && seen.HighestModSeq == _highestModSeq && seen.UidNext == _uidNext) return true;
        var mailbox = store.Get(MailboxId);
        if (mailbox is null) return false;
        if (mailbox.HighestModSeq == _highestModSeq && mailbox.UidNext == _uidNext) return true;

        // Only what changed since this view's MODSEQ: the expunge records and the messages added or changed since
        // (their MODSEQ is above it), never the whole mailbox.
        var changed = store.ChangedSince(mailbox, _highestModSeq);
        var gone = store.ExpungedSince(MailboxId, _highestModSeq).Select(e => e.Uid).Where(u => _modSeqs.ContainsKey(u)).ToHashSet();

        var recentBefore = _recent.Count;
        if (gone.Count > 0 && allowExpunge)
        {
            if (qresync) output.Add("* VANISHED " + ImapText.Set(gone.Order().ToList()));
            for (var i = _uids.Count - 1; i >= 0; i--)
            {
                if (!gone.Contains(_uids[i])) continue;
                if (!qresync) output.Add($"* {i + 1} EXPUNGE");
                _modSeqs.Remove(_uids[i]);
                _recent.Remove(_uids[i]);
                _uids.RemoveAt(i);
            }
        }

        var lastKnown = Math.Max(_uidNext - 1, _uids.Count > 0 ? _uids[^1] : 0);
        var fresh = changed.Where(m => m.Uid > lastKnown).ToList();
        foreach (var m in changed)
        {
            if (m.Uid > lastKnown || !_modSeqs.TryGetValue(m.Uid, out var known) || m.ModSeq <= known) continue;
            _modSeqs[m.Uid] = m.ModSeq;
            output.Add($"* {SequenceOf(m.Uid)} FETCH (UID {m.Uid} FLAGS {ImapText.FlagList(FlagsOf(m))}" + (condstore ? $" MODSEQ ({m.ModSeq}))" : ")"));
        }
        if (fresh.Count > 0)
        {
            var claimed = ReadOnly ? store.ClaimRecent(MailboxId, 1) : store.ClaimRecent(MailboxId, mailbox.UidNext);
            foreach (var m in fresh)
            {
                _uids.Add(m.Uid);
                _modSeqs[m.Uid] = m.ModSeq;
                if (m.Uid > claimed) _recent.Add(m.Uid);
            }
            output.Add($"* {_uids.Count} EXISTS");
            output.Add($"* {_recent.Count} RECENT");
        }
        else if (_recent.Count != recentBefore) output.Add($"* {_recent.Count} RECENT"); // RFC 3501 7.3.2: on any change
        _uidNext = mailbox.UidNext;
        // Until held-back expunges are reported, the store's HIGHESTMODSEQ is not yet ours.
        if (gone.Count == 0 || allowExpunge) _highestModSeq = mailbox.HighestModSeq;
        return true;
    }

    /// <summary>The flags to show for a message: stored flags plus \Recent when it is recent for this session.</summary>
    /// <remarks>In a fixed order, system flags first, as Dovecot and Cyrus send them.</remarks>
    public IEnumerable<string> FlagsOf(MessageRecord message)
    {
        foreach (var system in SystemFlagOrder)
            if (message.Flags.Contains(system)) yield return system;
        if (_recent.Contains(message.Uid)) yield return "\\Recent";
        foreach (var flag in message.Flags)
            if (!flag.StartsWith('\\')) yield return flag;
    }

    static readonly string[] SystemFlagOrder = { "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft" };
}
