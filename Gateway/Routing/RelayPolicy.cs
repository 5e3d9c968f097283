using Gateway.Configuration;
using Gateway.Smtp;
using Gateway.Storage;

namespace Gateway.Routing;

/// <summary>
/// Who may send and receive through this courier. On the delivery port only the served domains are accepted
/// (no open relay); on the submission port an authenticated user may send anywhere, but only as themselves.
/// </summary>
public sealed class RelayPolicy(RouteTable routes, IUserStore users, Courier.InterCourierGate? interCourier = null,
    Courier.ForegroundDelivery? foregroundDelivery = null, Courier.ServedElsewhere? servedElsewhere = null, Courier.KeyReplacementIntake? keyReplacement = null) : ISmtpPolicy
{
    public ValueTask<SmtpReply?> CheckSenderAsync(SmtpSessionInfo session, SmtpMailbox? sender, CancellationToken cancellationToken)
    {
        if (session.Role == ListenerRole.Submission)
        {
            if (sender is null || session.AuthenticatedUser is null ||
                !string.Equals(sender.Address, session.AuthenticatedUser, StringComparison.OrdinalIgnoreCase))
                return Refuse(553, "5.7.1", $"Sender address <{sender?.Address}> is not owned by user {session.AuthenticatedUser}");
        }
        return Accept();
    }

    public ValueTask<SmtpReply?> CheckRecipientAsync(SmtpSessionInfo session, SmtpMailbox recipient, CancellationToken cancellationToken)
    {
        // Peer couriers' elements write to ours on the delivery listener (checked in full after DATA).
        if (session.Role == ListenerRole.Delivery && interCourier?.ElementOf(recipient.Address) is not null) return Accept();
        // A user writes to people, not to the courier's elements: such a message would skip the checks of the delivery
        // listener and be refused by the element only later, left behind in its inbox.
        if (session.Role == ListenerRole.Submission && interCourier?.IsElementAddress(recipient.Address) == true)
            return Refuse(550, "5.7.1", $"<{recipient.Address}> is an element of this courier and takes no mail from users");
        var hop = routes.Resolve(recipient.Domain);
        switch (hop)
        {
            case NextHop.LocalMailbox:
                // A user who moved to another courier (Registration Transfer) still gets mail sent here: it is passed on.
                return users.Find(recipient.Address) is not null || servedElsewhere?.EndpointOf(recipient.Address) is not null
                    ? Accept()
                    : Refuse(550, "5.1.1", $"Recipient <{recipient.Address}> does not exist here");
            case NextHop.Static when routes.IsServed(recipient.Domain):
                return Accept();
            default:
                if (session.Role == ListenerRole.Submission && session.AuthenticatedUser is not null)
                    return Accept();
                // A registered user of an address outside our domains (an invited user) is delivered here too.
                if (users.Find(recipient.Address) is not null) return Accept();
                return Refuse(550, "5.7.1", $"Relaying denied: {recipient.Domain} is not served here; authenticate on the submission port to send elsewhere");
        }
    }

    /// <summary>
    /// A message for one of our elements must be a valid Inter-Courier message for that element alone: checked before
    /// 250, so a courier that is not under our Root (or is revoked) is refused at once and reports to its own sender.
    /// </summary>
    public async ValueTask<SmtpReply?> CheckMessageAsync(SmtpSessionInfo session, IReadOnlyList<SmtpRecipient> recipients, Stream content, CancellationToken cancellationToken)
    {
        if (session.Role != ListenerRole.Delivery) return null;
        // Messages for the Agent here (a protected part from our Foreground, a Key Replacement message our Background
        // carried) name themselves in a header and are checked in full; nobody else may send one.
        if (keyReplacement is { Active: true } || foregroundDelivery is { Active: true })
        {
            var (claimed, claimRefusal) = await CheckClaimedAsync(recipients, content, cancellationToken);
            if (claimed || foregroundDelivery is { Active: true }) return claimRefusal;
        }
        if (interCourier is null) return null;
        var elements = recipients.Select(r => interCourier.ElementOf(r.Mailbox.Address)).ToList();
        if (elements.All(e => e is null)) return null;
        if (elements.Any(e => e is null) || elements.Distinct().Count() > 1)
            return new SmtpReply(554, "5.5.4", "an Inter-Courier message goes to one element alone, with no other recipient");
        // Decrypting and checking the chain (a peer's CRL may be fetched) is done off the connection's thread.
        var refusal = await Task.Run(() => interCourier.Check(elements[0]!.Value, content, session.RemoteAddress.ToString()), cancellationToken);
        if (refusal is not { } r) return null;
        return r.Transient
            ? new SmtpReply(451, "4.7.5", "Inter-Courier message not checked yet, try again later: " + Sanitize(r.Reason))
            : new SmtpReply(554, "5.7.1", "Inter-Courier message refused: " + Sanitize(r.Reason));
    }

    /// <summary>A message that claims to be for the Agent here (a Key Replacement message, or on the Agent's own host a
    /// protected part from our Foreground) is checked before 250; returns whether it claimed to be one, and the refusal.</summary>
    async ValueTask<(bool Claimed, SmtpReply? Refusal)> CheckClaimedAsync(IReadOnlyList<SmtpRecipient> recipients, Stream content, CancellationToken cancellationToken)
    {
        var start = content.CanSeek ? content.Position : 0;
        var headers = await MimeKit.HeaderList.LoadAsync(content, cancellationToken);
        if (content.CanSeek) content.Position = start; // the other checks read the message from its start
        Action<MimeKit.MimeMessage, IReadOnlyCollection<string>>? check;
        string what;
        if (keyReplacement?.Claims(headers) == true) (check, what) = (keyReplacement.Check, "Key Replacement message");
        else if (foregroundDelivery?.Claims(headers) == true) (check, what) = ((m, r) => foregroundDelivery.Check(m, r), "protected part");
        else return (false, null);
        var message = await MimeKit.MimeMessage.LoadAsync(content, cancellationToken);
        try
        {
            await Task.Run(() => check(message, recipients.Select(r => r.Mailbox.Address).ToList()), cancellationToken);
            return (true, null);
        }
        catch (Courier.PartRejectedException ex)
        {
            return (true, ex.Transient
                ? new SmtpReply(451, "4.7.5", what + " not checked yet, try again later: " + Sanitize(ex.Message))
                : new SmtpReply(554, "5.7.1", what + " refused: " + Sanitize(ex.Message)));
        }
    }

    static string Sanitize(string text)
    {
        var clean = new string(text.Select(c => c is < ' ' or > '~' ? ' ' : c).ToArray());
        return clean.Length > 400 ? clean[..400] : clean;
    }

    static ValueTask<SmtpReply?> Accept() => ValueTask.FromResult<SmtpReply?>(null);
    static ValueTask<SmtpReply?> Refuse(int code, string enhanced, string text) => ValueTask.FromResult<SmtpReply?>(new SmtpReply(code, enhanced, text));
}
