using System.Globalization;
using Gateway.Storage.Mail;

namespace Gateway.Imap;

/// <summary>Commands of the selected state (RFC 3501 6.4) with UIDPLUS, MOVE, CONDSTORE, plus IDLE (RFC 2177).</summary>
public sealed partial class ImapSession
{
    MailboxView Selected => _selected ?? throw new InvalidOperationException("no mailbox selected");

    SequenceSet ParseSet(ImapValue? value, bool byUid)
    {
        var text = value?.AsString() ?? throw new ImapSyntaxException("a message set is missing");
        if (text == "$") throw new ImapSyntaxException("SEARCHRES ($) is not supported");
        if (!SequenceSet.TryParse(text, out var set)) throw new ImapSyntaxException($"'{text}' is not a message set");
        if (!byUid && Selected.OutOfRange(set)) throw new ImapSyntaxException("invalid message sequence number: beyond the last message");
        return set;
    }

    Outcome Close(ImapCommand c, bool expunge)
    {
        if (expunge && !Selected.ReadOnly) _store.Expunge(Selected.MailboxId);
        _selected = null;
        _state = ImapState.Authenticated;
        _io.WriteLine($"{c.Tag} OK {c.Name} completed");
        return Outcome.Ok;
    }

    /// <summary>EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315 2.1); the EXPUNGE responses come from the sync.</summary>
    Outcome Expunge(ImapCommand c, IReadOnlyList<ImapValue> args, bool byUid)
    {
        if (Selected.ReadOnly) return No(c, "[READ-ONLY] The mailbox is read-only (EXAMINE)");
        if (byUid != (args.Count == 1)) return Bad(c, byUid ? "UID EXPUNGE needs a UID set" : "EXPUNGE takes no arguments");
        IReadOnlySet<uint>? only = byUid ? Selected.Resolve(ParseSet(args[0], true), true).ToHashSet() : null;
        _store.Expunge(Selected.MailboxId, only);
        return Ok(c, $"{(byUid ? "UID " : "")}EXPUNGE completed");
    }

    /// <summary>COPY (RFC 3501 6.4.7) and MOVE (RFC 6851) answering COPYUID (RFC 4315).</summary>
    Outcome Copy(ImapCommand c, IReadOnlyList<ImapValue> args, bool byUid, bool move)
    {
        var verb = move ? "MOVE" : "COPY";
        if (args.Count != 2) return Bad(c, $"{verb} needs a message set and a mailbox name");
        if (move && Selected.ReadOnly) return No(c, "[READ-ONLY] The mailbox is read-only (EXAMINE)");
        var uids = Selected.Resolve(ParseSet(args[0], byUid), byUid);
        var target = _store.Find(_user!, MailboxName(args[1]));
        if (target is null) return No(c, "[TRYCREATE] The target mailbox does not exist");
        if (uids.Count == 0) return Ok(c, $"{verb} completed: no messages");
        var mapping = _store.Copy(Selected.MailboxId, uids, target.Id, move);
        var copyUid = mapping.Count == 0 ? "" : $"[COPYUID {target.UidValidity} {ImapText.Set(mapping.Select(m => m.Source))} {ImapText.Set(mapping.Select(m => m.Target))}] ";
        if (!move) return Ok(c, copyUid + "COPY completed");
        // RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        if (copyUid.Length > 0) _io.WriteLine("* OK " + copyUid + "Moved");
        return Ok(c, "MOVE completed");
    }

    /// <summary>STORE (RFC 3501 6.4.6) with UNCHANGEDSINCE (RFC 7162 3.1.3).</summary>
    Outcome Store(ImapCommand c, IReadOnlyList<ImapValue> args, bool byUid)
    {
        if (args.Count < 3) return Bad(c, "STORE needs a message set, an item such as +FLAGS and flags");
        var set = ParseSet(args[0], byUid);
        var i = 1;
        ulong? unchangedSince = null;
        if (args[i] is ImapValue.List modifiers)
        {
            if (modifiers.Items.Count != 2 || !string.Equals(modifiers.Items[0].AsString(), "UNCHANGEDSINCE", StringComparison.OrdinalIgnoreCase)
                || !ulong.TryParse(modifiers.Items[1].AsString(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
                return Bad(c, "the only STORE modifier is (UNCHANGEDSINCE modseq)");
            unchangedSince = limit;
            _condstore = true;
            i++;
        }
        if (args.Count <= i + 1 || args[i] is not ImapValue.Atom { Text: var itemText }) return Bad(c, "STORE needs FLAGS, +FLAGS or -FLAGS");
        var item = itemText.ToUpperInvariant();
        var silent = item.EndsWith(".SILENT", StringComparison.Ordinal);
        var operation = (silent ? item[..^".SILENT".Length] : item) switch
        {
            "FLAGS" => FlagOperation.Replace,
            "+FLAGS" => FlagOperation.Add,
            "-FLAGS" => FlagOperation.Remove,
            _ => throw new ImapSyntaxException($"unknown STORE item {itemText}"),
        };
        if (!(item is "FLAGS" or "+FLAGS" or "-FLAGS" or "FLAGS.SILENT" or "+FLAGS.SILENT" or "-FLAGS.SILENT")) return Bad(c, $"unknown STORE item {itemText}");
        var flagValues = args.Count == i + 2 && args[i + 1] is ImapValue.List list ? list.Items : args.Skip(i + 1).ToList();
        var flags = ParseFlags(flagValues);
        if (Selected.ReadOnly) return No(c, "[READ-ONLY] The mailbox is read-only (EXAMINE)");

        var uids = Selected.Resolve(set, byUid);
        var (changed, modified) = _store.StoreFlags(Selected.MailboxId, uids, operation, flags, unchangedSince);
        foreach (var m in changed) Selected.Observe(m.Uid, m.ModSeq);
        if (!silent || unchangedSince is not null)
        {
            // Unchanged messages still get a FETCH (RFC 3501 6.4.6: the updated value), unless .SILENT.
            var current = silent ? changed : _store.Messages(Selected.MailboxId, uids).Where(m => !modified.Contains(m.Uid)).ToList();
            foreach (var m in current)
            {
                var seq = Selected.SequenceOf(m.Uid);
                if (seq == 0) continue;
                var modseq = _condstore ? $" MODSEQ ({m.ModSeq})" : "";
                _io.WriteLine(silent
                    ? $"* {seq} FETCH ({(byUid ? $"UID {m.Uid} " : "")}MODSEQ ({m.ModSeq}))"
                    : $"* {seq} FETCH ({(byUid ? $"UID {m.Uid} " : "")}FLAGS {ImapText.FlagList(Selected.FlagsOf(m))}{modseq})");
            }
        }
        if (modified.Count > 0)
        {
            var reported = byUid ? modified : modified.Select(u => (uint)Selected.SequenceOf(u));
            return Ok(c, $"[MODIFIED {ImapText.Set(reported.OrderBy(x => x))}] Conditional STORE failed for some messages");
        }
        return Ok(c, "STORE completed");
    }

    /// <summary>
    /// IDLE (RFC 2177): reports changes to the selected mailbox as they happen until the client sends DONE.
    /// The server ends it after the autologout time, as the RFC allows; clients re-issue IDLE well before that.
    /// </summary>
    async Task<Outcome> IdleAsync(ImapCommand c)
    {
        if (c.Arguments.Count != 0) return Bad(c, "IDLE takes no arguments");
        FlushUpdates(allowExpunge: true);
        _io.WriteLine("+ idling");
        await _io.FlushAsync(_closed);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(_closed, _stopping);
        idle.CancelAfter(TimeSpan.FromMinutes(_settings.Limits.IdleTimeoutMinutes));
        var done = _io.Reader.ReadTextLineAsync(idle.Token).AsTask();
        while (true)
        {
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(idle.Token);
            var changed = _changed.WaitAsync(wake.Token);
            var first = await Task.WhenAny(done, changed);
            if (first == changed && changed.IsCompletedSuccessfully)
            {
                while (_changed.CurrentCount > 0) _changed.Wait(0);
                FlushUpdates(allowExpunge: true);
                if (_state == ImapState.Logout) return Outcome.Ok;
                await _io.FlushAsync(_closed);
                continue;
            }
            // DONE arrived, or the IDLE timer / shutdown / disconnect cancelled the wait.
            wake.Cancel();
            try { await changed; } catch (OperationCanceledException) { }
            string? line;
            try { line = await done; }
            catch (OperationCanceledException)
            {
                if (!_closed.IsCancellationRequested)
                    _io.WriteLine(_stopping.IsCancellationRequested ? "* BYE Server shutting down" : "* BYE Autologout; idle for too long");
                _state = ImapState.Logout;
                return Outcome.Ok;
            }
            if (line is null) { _state = ImapState.Logout; return Outcome.Ok; }
            if (!line.Equals("DONE", StringComparison.OrdinalIgnoreCase)) return Bad(c, "Expected DONE to end IDLE");
            return Ok(c, "IDLE terminated");
        }
    }
}
