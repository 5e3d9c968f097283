using System.Globalization;
using System.Text.RegularExpressions;
using Gateway.Storage.Mail;

namespace Gateway.Imap;

/// <summary>Commands of the authenticated state: mailboxes, APPEND and QUOTA (RFC 3501 6.3, RFC 9208).</summary>
public sealed partial class ImapSession
{
    static readonly string[] SystemFlags = { "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft" };

    /// <summary>A mailbox argument: modified UTF-7 on the wire (RFC 3501 5.1.3), Unicode in the store.</summary>
    static string MailboxName(ImapValue? value)
    {
        var raw = value?.AsString() ?? throw new ImapSyntaxException("a mailbox name is missing");
        if (!ModifiedUtf7.TryDecode(raw, out var name)) throw new ImapSyntaxException($"'{raw}' is not valid modified UTF-7 (RFC 3501 5.1.3)");
        if (name.Length > 512) throw new ImapSyntaxException("mailbox name too long");
        if (name.Any(ch => ch < ' ' || ch == 127)) throw new ImapSyntaxException("control characters are not allowed in mailbox names");
        return MailStore.Normalise(name);
    }

    MailboxRecord RequireMailbox(string name) =>
        _store.Find(_user!, name) ?? throw new MailboxException($"Mailbox {name} does not exist", "NONEXISTENT");

    /// <summary>SELECT and EXAMINE (RFC 3501 6.3.1-2), with the (CONDSTORE) parameter of RFC 7162 3.1.8.</summary>
    Outcome Select(ImapCommand c, bool readOnly)
    {
        if (c.Arguments.Count is < 1 or > 2) return Bad(c, $"{c.Name} needs a mailbox name");
        if (c.Arguments.Count == 2)
        {
            if (c.Arguments[1] is not ImapValue.List parameters || parameters.Items.Any(p => !string.Equals(p.AsString(), "CONDSTORE", StringComparison.OrdinalIgnoreCase)))
                return Bad(c, $"the only {c.Name} parameter supported is (CONDSTORE)");
            _condstore = true;
        }
        var name = MailboxName(c.Arguments[0]);
        var wasSelected = _selected is not null;
        _selected = null;
        _state = ImapState.Authenticated;
        if (wasSelected) _io.WriteLine("* OK [CLOSED] Previous mailbox closed");
        var mailbox = _store.Find(_user!, name);
        if (mailbox is null) return No(c, $"[NONEXISTENT] Mailbox {name} does not exist");

        var view = MailboxView.Open(_store, mailbox, readOnly, out var messages);
        var keywords = messages.SelectMany(m => m.Flags).Where(f => !f.StartsWith('\\')).Distinct(StringComparer.OrdinalIgnoreCase).OrderBy(f => f, StringComparer.Ordinal);
        var flags = ImapText.FlagList(SystemFlags.Concat(keywords));
        _io.WriteLine($"* FLAGS {flags}");
        _io.WriteLine(readOnly
            ? "* OK [PERMANENTFLAGS ()] Read-only mailbox"
            : $"* OK [PERMANENTFLAGS {ImapText.FlagList(SystemFlags.Concat(keywords).Append("\\*"))}] Flags permitted");
        _io.WriteLine($"* {view.Count} EXISTS");
        _io.WriteLine($"* {view.RecentCount} RECENT");
        var firstUnseen = messages.Select((m, i) => (m, i)).FirstOrDefault(x => !x.m.Flags.Contains("\\Seen"));
        if (firstUnseen.m is not null) _io.WriteLine($"* OK [UNSEEN {firstUnseen.i + 1}] First unseen");
        _io.WriteLine($"* OK [UIDVALIDITY {view.UidValidity}] UIDs valid");
        _io.WriteLine($"* OK [UIDNEXT {view.UidNext}] Predicted next UID");
        _io.WriteLine($"* OK [HIGHESTMODSEQ {view.HighestModSeq}] Highest");
        _selected = view;
        _state = ImapState.Selected;
        _io.WriteLine($"{c.Tag} OK [{(readOnly ? "READ-ONLY" : "READ-WRITE")}] {c.Name} completed");
        return Outcome.Ok;
    }

    Outcome Create(ImapCommand c)
    {
        if (c.Arguments.Count != 1) return Bad(c, "CREATE needs a mailbox name");
        var name = MailboxName(c.Arguments[0]);
        if (name == "INBOX") return No(c, "[ALREADYEXISTS] INBOX always exists");
        _store.Create(_user!, name);
        _store.Subscribe(_user!, name.TrimEnd(MailStore.Separator));
        return Ok(c, "CREATE completed");
    }

    Outcome Delete(ImapCommand c)
    {
        if (c.Arguments.Count != 1) return Bad(c, "DELETE needs a mailbox name");
        var name = MailboxName(c.Arguments[0]);
        if (_selected is not null && _selected.Name == name) return No(c, "[INUSE] The mailbox is selected; CLOSE it first");
        _store.Delete(_user!, name);
        return Ok(c, "DELETE completed");
    }

    Outcome Rename(ImapCommand c)
    {
        if (c.Arguments.Count != 2) return Bad(c, "RENAME needs the old and the new mailbox name");
        var from = MailboxName(c.Arguments[0]);
        var to = MailboxName(c.Arguments[1]);
        _store.Rename(_user!, from, to);
        var subscriptions = _store.Subscriptions(_user!);
        foreach (var s in subscriptions.Where(s => s == from || s.StartsWith(from + MailStore.Separator, StringComparison.Ordinal)))
        {
            if (from == "INBOX") break;
            _store.Unsubscribe(_user!, s);
            _store.Subscribe(_user!, to + s[from.Length..]);
        }
        return Ok(c, "RENAME completed");
    }

    Outcome Subscribe(ImapCommand c, bool subscribe)
    {
        if (c.Arguments.Count != 1) return Bad(c, $"{c.Name} needs a mailbox name");
        var name = MailboxName(c.Arguments[0]);
        if (subscribe)
        {
            RequireMailbox(name);
            _store.Subscribe(_user!, name);
        }
        else _store.Unsubscribe(_user!, name);
        return Ok(c, $"{c.Name} completed");
    }

    /// <summary>
    /// LIST and LSUB (RFC 3501 6.3.8-9). Also accepts the LIST-EXTENDED forms clients send when they see SPECIAL-USE
    /// (RFC 5258 / RFC 6154): selection options (SUBSCRIBED, SPECIAL-USE) before the reference and RETURN options after.
    /// </summary>
    Outcome List(ImapCommand c, bool lsub)
    {
        var args = c.Arguments.ToList();
        var selection = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var returns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (!lsub && args.Count > 0 && args[0] is ImapValue.List sel)
        {
            foreach (var o in sel.Items) selection.Add(o.AsString() ?? throw new ImapSyntaxException("LIST selection options are atoms"));
            args.RemoveAt(0);
        }
        if (!lsub && args.Count >= 4 && args[^2] is ImapValue.Atom { Text: var word } && word.Equals("RETURN", StringComparison.OrdinalIgnoreCase) && args[^1] is ImapValue.List ret)
        {
            foreach (var o in ret.Items) returns.Add(o.AsString() ?? throw new ImapSyntaxException("LIST return options are atoms"));
            args.RemoveRange(args.Count - 2, 2);
        }
        if (args.Count != 2) return Bad(c, $"{c.Name} needs a reference and a mailbox pattern");
        var reference = args[0].AsString() == "" ? "" : MailboxName(args[0]);
        var patterns = args[1] is ImapValue.List many ? many.Items.Select(MailboxName).ToList() : new List<string> { args[1].AsString() is "" ? "" : MailboxName(args[1]) };

        if (patterns.Count == 1 && patterns[0] == "")
            return Ok(c, $"{c.Name} completed", $"* {c.Name} (\\Noselect) \"/\" \"\"");

        var mailboxes = _store.Mailboxes(_user!);
        var names = mailboxes.Select(m => m.Name).ToHashSet();
        var subscribed = _store.Subscriptions(_user!).ToHashSet();
        var lines = new List<string>();
        var matchers = patterns.Select(p => Matcher(reference + p)).ToList();
        var subscribedOnly = lsub || selection.Contains("SUBSCRIBED");
        var candidates = subscribedOnly ? subscribed.OrderBy(n => n == "INBOX" ? "" : n, StringComparer.Ordinal).ToList() : mailboxes.Select(m => m.Name).ToList();
        foreach (var name in candidates)
        {
            if (!matchers.Any(m => m.IsMatch(name))) continue;
            var mailbox = mailboxes.FirstOrDefault(m => m.Name == name);
            if (selection.Contains("SPECIAL-USE") && mailbox?.SpecialUse is null) continue;
            var attributes = new List<string>();
            if (mailbox is null) attributes.Add(lsub ? "\\Noselect" : "\\NonExistent");
            else attributes.Add(names.Any(n => n.StartsWith(name + MailStore.Separator, StringComparison.Ordinal)) ? "\\HasChildren" : "\\HasNoChildren");
            if (!lsub && (subscribedOnly || returns.Contains("SUBSCRIBED")) && subscribed.Contains(name)) attributes.Add("\\Subscribed");
            if (mailbox?.SpecialUse is { } use && !lsub) attributes.Add(use);
            lines.Add($"* {c.Name} ({string.Join(' ', attributes)}) \"/\" {ImapText.Mailbox(name)}");
        }
        return Ok(c, $"{c.Name} completed", lines.ToArray());
    }

    /// <summary>LIST wildcards (RFC 3501 6.3.8): '*' matches anything, '%' anything but the hierarchy separator.</summary>
    static Regex Matcher(string pattern)
    {
        var regex = "^" + string.Concat(pattern.Select(ch => ch switch
        {
            '*' => ".*",
            '%' => "[^/]*",
            _ => Regex.Escape(ch.ToString()),
        })) + "$";
        // INBOX matches case-insensitively; nothing else does.
        if (pattern.StartsWith("inbox", StringComparison.OrdinalIgnoreCase) && (pattern.Length == 5 || pattern[5] is '/' or '*' or '%'))
            regex = "^(?i:INBOX)" + regex[(1 + Regex.Escape("INBOX").Length)..];
        return new Regex(regex, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    /// <summary>STATUS (RFC 3501 6.3.10) with HIGHESTMODSEQ (RFC 7162) and SIZE (RFC 8438).</summary>
    Outcome Status(ImapCommand c)
    {
        if (c.Arguments.Count != 2 || c.Arguments[1] is not ImapValue.List items || items.Items.Count == 0)
            return Bad(c, "STATUS needs a mailbox name and a list of items");
        var name = MailboxName(c.Arguments[0]);
        var mailbox = RequireMailbox(name);
        var messages = _store.Messages(mailbox.Id);
        var parts = new List<string>();
        foreach (var item in items.Items)
        {
            var key = item.AsString()?.ToUpperInvariant();
            parts.Add(key switch
            {
                "MESSAGES" => $"MESSAGES {messages.Count}",
                "RECENT" => $"RECENT {CountRecent(mailbox, messages)}",
                "UIDNEXT" => $"UIDNEXT {mailbox.UidNext}",
                "UIDVALIDITY" => $"UIDVALIDITY {mailbox.UidValidity}",
                "UNSEEN" => $"UNSEEN {messages.Count(m => !m.Flags.Contains("\\Seen"))}",
                "HIGHESTMODSEQ" => $"HIGHESTMODSEQ {mailbox.HighestModSeq}",
                "SIZE" => $"SIZE {messages.Sum(m => m.Size)}",
                _ => throw new ImapSyntaxException($"unknown STATUS item {item}"),
            });
        }
        return Ok(c, "STATUS completed", $"* STATUS {ImapText.Mailbox(mailbox.Name)} ({string.Join(' ', parts)})");
    }

    int CountRecent(MailboxRecord mailbox, IReadOnlyList<MessageRecord> messages)
    {
        if (_selected?.MailboxId == mailbox.Id) return _selected.RecentCount;
        var claimed = _store.ClaimRecent(mailbox.Id, 1);
        return messages.Count(m => m.Uid > claimed);
    }

    /// <summary>APPEND (RFC 3501 6.3.11) answering APPENDUID (RFC 4315).</summary>
    async Task<Outcome> AppendAsync(ImapCommand c)
    {
        if (c.Arguments.Count is < 2 or > 4) return Bad(c, "APPEND needs a mailbox, optional flags and date, and the message as a literal");
        var name = MailboxName(c.Arguments[0]);
        var flags = new List<string>();
        DateTime? date = null;
        for (var i = 1; i < c.Arguments.Count - 1; i++)
        {
            switch (c.Arguments[i])
            {
                case ImapValue.List list when flags.Count == 0 && date is null:
                    flags = ParseFlags(list.Items);
                    break;
                case ImapValue.String s when !s.IsLiteral && date is null:
                    date = ParseDateTime(s.Text);
                    break;
                default:
                    return Bad(c, "APPEND arguments are: mailbox [(flags)] [\"date-time\"] literal");
            }
        }
        // A large message arrives in a working copy (ImapCommandReader.SpoolAbove) and is stored from it as it is read.
        Stream? message = c.Arguments[^1] switch
        {
            ImapValue.String s => new MemoryStream(s.Bytes, writable: false),
            ImapValue.Spooled spooled => spooled.Content,
            _ => null,
        };
        if (message is null) return Bad(c, "APPEND needs the message as a literal");
        if (message.Length == 0) return No(c, "An empty message cannot be appended");
        var mailbox = _store.Find(_user!, name);
        if (mailbox is null) return No(c, $"[TRYCREATE] Mailbox {name} does not exist");
        message.Position = 0;
        var stored = await _store.AppendAsync(_user!, name, message, flags, date, cancellationToken: _closed);
        _log.LogInformation("IMAP APPEND to {Mailbox}: UID {Uid}, {Size} octets", name, stored.Uid, stored.Size);
        return Ok(c, $"[APPENDUID {mailbox.UidValidity} {stored.Uid}] APPEND completed");
    }

    /// <summary>Flags from STORE and APPEND: system flags (not \Recent) and atoms as keywords.</summary>
    static List<string> ParseFlags(IEnumerable<ImapValue> values)
    {
        var flags = new List<string>();
        foreach (var v in values)
        {
            if (v is not ImapValue.Atom { Text: var flag }) throw new ImapSyntaxException("flags are atoms such as \\Seen or $Label1");
            if (flag.StartsWith('\\'))
            {
                var system = SystemFlags.FirstOrDefault(s => s.Equals(flag, StringComparison.OrdinalIgnoreCase))
                    ?? throw new ImapSyntaxException($"{flag} is not a system flag that can be set");
                flags.Add(system);
            }
            else if (ImapChars.IsAtom(flag) && !flag.Contains(']')) flags.Add(flag);
            else throw new ImapSyntaxException($"'{flag}' is not a valid keyword");
        }
        return flags;
    }

    /// <summary>RFC 3501 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", the day possibly space-padded.</summary>
    static DateTime ParseDateTime(string text)
    {
        if (DateTimeOffset.TryParseExact(text.Trim(), new[] { "d-MMM-yyyy HH:mm:ss zzz", "dd-MMM-yyyy HH:mm:ss zzz" }, CultureInfo.InvariantCulture,
                DateTimeStyles.None, out var parsed)
            || DateTimeOffset.TryParseExact(InsertColon(text.Trim()), new[] { "d-MMM-yyyy HH:mm:ss zzz", "dd-MMM-yyyy HH:mm:ss zzz" }, CultureInfo.InvariantCulture,
                DateTimeStyles.None, out parsed))
            return parsed.UtcDateTime;
        throw new ImapSyntaxException($"'{text}' is not a date-time like \"17-Jul-1996 02:44:25 -0700\"");

        static string InsertColon(string s) => s.Length > 5 && s[^5] is '+' or '-' ? s[..^2] + ":" + s[^2..] : s;
    }

    /// <summary>QUOTA (RFC 9208): one quota root "" per user covering all mailboxes; SETQUOTA is for the administrator.</summary>
    Outcome Quota(ImapCommand c, string name)
    {
        if (name == "SETQUOTA") return No(c, "[NOPERM] Quotas are set by the administrator");
        if (c.Arguments.Count != 1) return Bad(c, $"{name} needs one argument");
        var used = (_store.UsedBytes(_user!) + 1023) / 1024;
        var quota = _store.QuotaKilobytes > 0 ? $"* QUOTA \"\" (STORAGE {used} {_store.QuotaKilobytes})" : "* QUOTA \"\" ()";
        if (name == "GETQUOTA")
        {
            if (c.Arguments[0].AsString() != "") return No(c, "[NONEXISTENT] The only quota root is \"\"");
            return Ok(c, "GETQUOTA completed", quota);
        }
        var mailbox = RequireMailbox(MailboxName(c.Arguments[0]));
        return Ok(c, "GETQUOTAROOT completed", $"* QUOTAROOT {ImapText.Mailbox(mailbox.Name)} \"\"", quota);
    }
}
