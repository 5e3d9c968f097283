namespace Gateway.Courier;

/// <summary>Where a sent message stands for one recipient, as the sender's status page and <c>gateway message show</c> tell it.</summary>
public enum RecipientState
{
    /// <summary>No ARM for this recipient is kept here (not a local user, or not arrived yet).</summary>
    NotDelivered,
    /// <summary>The ARM is stored for the recipient; they have not opened the message.</summary>
    Delivered,
    /// <summary>The key was released to the recipient's Agent at least once.</summary>
    Opened,
    /// <summary>Every attempt to open it was refused (expired, revoked, open count used up).</summary>
    Refused,
}

public sealed record RecipientStatus(string Recipient, RecipientState State, DateTime? Utc, int Opens, int Refusals, string Detail);

/// <summary>A sent message with the state of each recipient, computed from the Background's records.</summary>
public sealed record SentMessageStatus(SentRecord Message, IReadOnlyList<RecipientStatus> Recipients)
{
    public static SentMessageStatus Of(BackgroundStore store, SentRecord sent)
    {
        var arms = store.ArmsOf(sent.Id).ToDictionary(a => a.Recipient, StringComparer.OrdinalIgnoreCase);
        var recipients = sent.Recipients.Select(r => arms.TryGetValue(r, out var arm) ? StatusOf(arm) : new RecipientStatus(r, RecipientState.NotDelivered, null, 0, 0, "not delivered on this courier")).ToList();
        return new SentMessageStatus(sent, recipients);
    }

    static RecipientStatus StatusOf(ArmRecord arm)
    {
        var refusals = arm.Events.Where(e => !e.Released).ToList();
        if (arm.FirstOpenedUtc is { } opened)
        {
            var detail = $"opened {arm.Opens} time(s), first at {opened.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC";
            if (refusals.Count > 0) detail += $"; {refusals.Count} later attempt(s) refused, last: {refusals[^1].Detail}";
            return new RecipientStatus(arm.Recipient, RecipientState.Opened, opened.ToUniversalTime(), arm.Opens, refusals.Count, detail);
        }
        if (refusals.Count > 0)
            return new RecipientStatus(arm.Recipient, RecipientState.Refused, refusals[^1].Utc.ToUniversalTime(), 0, refusals.Count, refusals[^1].Detail);
        return new RecipientStatus(arm.Recipient, RecipientState.Delivered, arm.CreatedUtc.ToUniversalTime(), 0, 0,
            $"delivered at {arm.CreatedUtc.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC, not opened");
    }

    /// <summary>Finds a sent message by the courier's message id or by its Internet Message-ID (with or without angle brackets).</summary>
    public static SentRecord? Find(BackgroundStore store, string id)
    {
        var byId = store.Sent.FindById(id);
        if (byId is not null) return byId;
        var bare = id.Trim().TrimStart('<').TrimEnd('>');
        return store.Sent.FindOne(s => s.InternetMessageId == bare) ?? store.Sent.FindOne(s => s.InternetMessageId == "<" + bare + ">");
    }
}
