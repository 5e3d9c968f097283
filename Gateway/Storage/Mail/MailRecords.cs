namespace Gateway.Storage.Mail;

/// <summary>A user's mailbox (RFC 3501 2.3.1.1: UIDVALIDITY and UIDNEXT; RFC 7162: HIGHESTMODSEQ).</summary>
public sealed class MailboxRecord
{
    public int Id { get; set; }
    /// <summary>The owner's address, lower-cased.</summary>
    public string User { get; set; } = "";
    /// <summary>The mailbox name in Unicode, with '/' as hierarchy separator; INBOX is always "INBOX".</summary>
    public string Name { get; set; } = "";
    /// <summary>"user/Name" with INBOX in upper case: the unique key.</summary>
    public string Key { get; set; } = "";
    public uint UidValidity { get; set; }
    public uint UidNext { get; set; } = 1;
    public ulong HighestModSeq { get; set; } = 1;
    /// <summary>RFC 6154 attribute such as "\\Sent", or null.</summary>
    public string? SpecialUse { get; set; }
}

/// <summary>One message in a mailbox. The octets live once on disk under <see cref="BlobId"/>.</summary>
public sealed class MessageRecord
{
    public long Id { get; set; }
    public int MailboxId { get; set; }
    public uint Uid { get; set; }
    public ulong ModSeq { get; set; }
    public List<string> Flags { get; set; } = new();
    public DateTime InternalDateUtc { get; set; }
    public long Size { get; set; }
    /// <summary>The file name in the blob store: random (a sealed blob), or the SHA-256 of a plain one an earlier version wrote.</summary>
    public string BlobId { get; set; } = "";
    /// <summary>The key that opens the blob, sealed under the owner's mailbox key; null only for a plain legacy blob.</summary>
    public byte[]? SealedKey { get; set; }
    /// <summary>For local delivery: queue id + recipient. One message per key, so a delivery repeated after a crash is a no-op.</summary>
    public string? DeliveryKey { get; set; }
    /// <summary>The parsed MIME layout (offsets, envelope, body structure), computed once when the message is stored,
    /// sealed under the owner's mailbox key (<see cref="MailStore.StructureOf"/> opens it).</summary>
    public byte[]? SealedStructure { get; set; }
    /// <summary>Whether the top-level header section is kept, sealed like the structure, beside the record (in a collection
    /// of its own, so listing a mailbox does not read it; <see cref="MailStore.HeaderOf"/> opens it): what a FETCH of header
    /// fields sends, without opening the message file. False for messages an earlier version stored, and large headers.</summary>
    public bool HeaderKept { get; set; }
    /// <summary>The same in clear, as an earlier version stored it; moved into <see cref="SealedStructure"/> by the upgrade.</summary>
    public string? Structure { get; set; }
    /// <summary>
    /// Set when the stored octets are a protected content part (not readable as they are): the courier message id
    /// under which the reading side finds its key. The IMAP server then asks its <c>IProtectedMessageReader</c>.
    /// </summary>
    public string? ProtectedId { get; set; }
}

/// <summary>A removed message, kept so sessions (and QRESYNC clients) learn of the expunge by MODSEQ.</summary>
public sealed class ExpungeRecord
{
    public long Id { get; set; }
    public int MailboxId { get; set; }
    public uint Uid { get; set; }
    public ulong ModSeq { get; set; }
}

/// <summary>An LSUB/LIST-SUBSCRIBED entry (RFC 3501 6.3.6): a name, which need not exist.</summary>
public sealed class SubscriptionRecord
{
    public string Id { get; set; } = "";
    public string User { get; set; } = "";
    public string Name { get; set; } = "";
}

public enum FlagOperation { Replace, Add, Remove }

/// <summary>The mailbox would exceed the user's quota (RFC 9208: OVERQUOTA).</summary>
public sealed class QuotaExceededException(long usedKilobytes, long limitKilobytes)
    : Exception($"quota exceeded: {usedKilobytes} KiB of {limitKilobytes} KiB used")
{
    public long UsedKilobytes { get; } = usedKilobytes;
    public long LimitKilobytes { get; } = limitKilobytes;
}

/// <summary>A mailbox operation refused for a reason the client should read (NO with this text).</summary>
public sealed class MailboxException(string message, string? responseCode = null) : Exception(message)
{
    /// <summary>RFC 5530 response code such as ALREADYEXISTS or NONEXISTENT.</summary>
    public string? ResponseCode { get; } = responseCode;
}

/// <summary>What the store keeps about a message besides its octets: its structure (JSON, the IMAP layer's) and the
/// length of its top-level header section, blank line included.</summary>
public sealed record MessageDescription(string Structure, int HeaderLength);
