namespace Gateway.Storage.Mail;

/// <summary>A user's mailbox (RFC 3501 2.3.1.1: UIDVALIDITY and UIDNEXT; RFC 7162: HIGHESTMODSEQ).</summary>
public sealed class MailboxRecord
{
    public int Id { get; set; }
    /// <summary>The owner's address, lower-cased.</summary>
    public string User { get; set; } = "";
    /// <summary>The mailbox name in Unicode, with '/' as hierarchy separator; INBOX is always "INBOX".</summary>
    public string Name { get; set; } = "";
    /// <summary>"User/Name" lower-cased where INBOX is concerned: the unique key.</summary>
    public string Key { get; set; } = "";
    public uint UidValidity { get; set; }
    public uint UidNext { get; set; } = 1;
    public ulong HighestModSeq { get; set; } = 1;
    /// <summary>RFC 6154 attribute such as "\\Sent", or null.</summary>
    public string? SpecialUse { get; set; }
    public bool Subscribed { get; set; } = true;
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
    /// <summary>SHA-256 of the octets, hex: the file name in the blob store.</summary>
    public string BlobId { get; set; } = "";
    /// <summary>For local delivery: queue id + recipient. One message per key, so a delivery repeated after a crash is a no-op.</summary>
    public string? DeliveryKey { get; set; }
}
