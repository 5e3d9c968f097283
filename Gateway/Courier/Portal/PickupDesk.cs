using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Queue;
using Gateway.Smtp;
using Gateway.Storage.Mail;
using Microsoft.Extensions.Logging;
using MimeKit;
using Org.BouncyCastle.X509;

namespace Gateway.Courier.Portal;

/// <summary>Why a certificate an outside recipient offered was not taken.</summary>
public sealed class CertificateOfferException(string message) : Exception(message);

/// <summary>
/// The pickup portal as the outside recipient's Agent: finds the held message a link names, has the recipient prove the
/// address with a one-time code mailed to it, opens the message through the <see cref="ReadingAgent"/> (each view a key
/// release the Background counts, refuses and reports as for any recipient), and takes the recipient's reply (protected
/// mail from the guest to the sender), their wish to register, or a certificate for future mail.
/// </summary>
public sealed class PickupDesk(
    PickupLink links,
    AddressProofs proofs,
    PortalGuests guests,
    MailStore mailboxes,
    IProtectedMessageReader reader,
    MessageQueue queue,
    CertificateDirectory directory,
    IInvitationDesk? invitations,
    Func<bool> invites,
    GatewayOptions options,
    ILogger<PickupDesk> logger,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public DateTimeOffset Now => _time.GetUtcNow();

    public PickupClaims? Verify(string token, out PickupLinkProblem problem) => links.Verify(token, _time.GetUtcNow(), out problem);

    /// <summary>The held message the link names, in the guest's mailbox; null when there is none (not arrived yet, or gone).</summary>
    public MessageRecord? Find(PickupClaims claims)
    {
        if (!guests.Contains(claims.Recipient)) return null;
        foreach (var mailbox in mailboxes.Mailboxes(claims.Recipient))
            if (mailboxes.Messages(mailbox.Id).FirstOrDefault(m => m.ProtectedId == claims.MessageId) is { } found) return found;
        return null;
    }

    /// <summary>The sender a held message names in its routing header fields (readable without opening it).</summary>
    public string SenderOf(MessageRecord message)
    {
        using var content = mailboxes.OpenContent(message);
        var headers = HeaderList.Load(content);
        return InternetAddressList.TryParse(headers[HeaderId.From] ?? "", out var from) && from.Mailboxes.FirstOrDefault() is { } first ? first.Address : "the sender";
    }

    /// <summary>Whether this courier still holds anything for the address (a guest): a link for an unknown one is no link.</summary>
    public bool IsGuest(string address) => guests.Contains(address);

    /// <summary>Asks for a code and mails it to the recipient in a mail of its own; the refusal when none is sent now.</summary>
    public async Task<CodeRequest> SendCodeAsync(PickupClaims claims, string senderOfMessage, CancellationToken cancellationToken)
    {
        var request = proofs.Request(claims.LinkId, claims.Recipient);
        if (request is not CodeRequest.Issued issued)
        {
            logger.LogWarning("Portal: no code sent for link {LinkId} ({Recipient}): {Reason}", claims.LinkId, claims.Recipient, ((CodeRequest.Refused)request).Reason);
            return request;
        }
        var mail = new MimeMessage();
        mail.From.Add(new MailboxAddress("Mail gateway " + options.Hostname, "postmaster@" + options.Hostname));
        mail.To.Add(MailboxAddress.Parse(claims.Recipient));
        mail.Subject = "Your code to open a protected message";
        mail.Date = _time.GetUtcNow();
        mail.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(options.Hostname);
        mail.Headers.Add(HeaderId.AutoSubmitted, "auto-generated");
        mail.Body = new TextPart("plain")
        {
            Text = $"Your code to open the protected message from {senderOfMessage}:\r\n\r\n    {issued.Code}\r\n\r\n" +
                   $"It works once, until {issued.ExpiresUtc:yyyy-MM-dd HH:mm} UTC. If you did not ask for it, ignore this mail:\r\n" +
                   "without the code nobody can open the message with your link.\r\n",
        };
        using var buffer = new MemoryStream(CourierMime.Bytes(mail), writable: false);
        var to = SmtpMailbox.TryParse(claims.Recipient, out var mailbox) ? mailbox : throw new FormatException("bad recipient address");
        // From the null sender, as an automatic notice: it can never cause a bounce loop.
        var queued = await queue.EnqueueAsync(buffer, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", cancellationToken);
        logger.LogInformation("Portal: code for link {LinkId} queued to {Recipient} as {QueueId}", claims.LinkId, claims.Recipient, queued.Id);
        return request;
    }

    public CodeCheck CheckCode(PickupClaims claims, string code)
    {
        var result = proofs.Check(claims.LinkId, code);
        if (result != CodeCheck.Accepted)
            logger.LogWarning("Portal: code for link {LinkId} ({Recipient}) not accepted: {Result}", claims.LinkId, claims.Recipient, result);
        return result;
    }

    /// <summary>The message for a proven recipient: <paramref name="counted"/> for a new view (an open the Background
    /// counts), else a further look within a view already counted (its attachments, its images).</summary>
    public Task<ProtectedView> OpenAsync(PickupClaims claims, MessageRecord message, bool counted, CancellationToken cancellationToken) =>
        reader.ReadAsync(claims.Recipient, message, countAsOpen: counted, openedInSession: !counted, cancellationToken);

    /// <summary>The recipient's reply: protected mail from the guest to the sender, split by the Agent like any local
    /// user's (it reaches the sender's INBOX as courier mail, sealed at rest).</summary>
    public async Task<string> ReplyAsync(PickupClaims claims, MimeMessage original, string text, CancellationToken cancellationToken)
    {
        var sender = original.From.Mailboxes.FirstOrDefault()?.Address ?? throw new FormatException("the message names no sender");
        var reply = new MimeMessage();
        reply.From.Add(MailboxAddress.Parse(claims.Recipient));
        reply.To.Add(MailboxAddress.Parse(sender));
        var subject = original.Subject ?? "";
        reply.Subject = subject.StartsWith("Re:", StringComparison.OrdinalIgnoreCase) ? subject : "Re: " + subject;
        reply.Date = _time.GetUtcNow();
        reply.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(options.Hostname);
        if (original.MessageId is { } id)
        {
            reply.InReplyTo = id;
            foreach (var r in original.References) reply.References.Add(r);
            reply.References.Add(id);
        }
        reply.Body = new TextPart("plain") { Text = text.Replace("\r\n", "\n").Replace("\n", "\r\n") };
        using var buffer = new MemoryStream(CourierMime.Bytes(reply), writable: false);
        if (!SmtpMailbox.TryParse(claims.Recipient, out var from) || !SmtpMailbox.TryParse(sender, out var to))
            throw new FormatException("an address of this message cannot be used in SMTP");
        var queued = await queue.EnqueueAsync(buffer, from, new[] { new SmtpRecipient(to, DsnNotify.None, null) }, "", cancellationToken, asUser: claims.Recipient);
        logger.LogInformation("Portal: reply from {Recipient} to {Sender} queued as {QueueId}", claims.Recipient, sender, queued.Id);
        return queued.Id;
    }

    /// <summary>Whether this courier invites addresses to register (then the portal offers an account).</summary>
    public bool OffersAccounts => invitations is not null && invites();

    /// <summary>Sends the recipient an Invitation (the registration path); false when this courier does not invite.</summary>
    public async Task<bool> InviteAsync(PickupClaims claims, string sender, CancellationToken cancellationToken)
    {
        if (!OffersAccounts) return false;
        await invitations!.InviteAsync(claims.Recipient, sender, claims.MessageId, cancellationToken);
        logger.LogInformation("Portal: {Recipient} asked for an account; Invitation sent", claims.Recipient);
        return true;
    }

    /// <summary>A certificate the recipient offers for future mail: kept, not approved (the operator approves it, as a
    /// harvested one, with 'gateway cert approve'). Throws <see cref="CertificateOfferException"/> when it is unusable.</summary>
    public X509Certificate OfferCertificate(PickupClaims claims, byte[] upload)
    {
        X509Certificate certificate;
        try
        {
            var text = System.Text.Encoding.ASCII.GetString(upload);
            certificate = text.Contains("-----BEGIN CERTIFICATE-----")
                ? (X509Certificate)new Org.BouncyCastle.OpenSsl.PemReader(new StringReader(text)).ReadObject()
                : new X509Certificate(upload);
            if (certificate is null) throw new CertificateOfferException("the file holds no certificate");
        }
        catch (Exception ex) when (ex is not CertificateOfferException)
        {
            throw new CertificateOfferException("the file is not an X.509 certificate (PEM or DER)");
        }
        if (!string.Equals(Certificates.EmailOf(certificate), claims.Recipient, StringComparison.OrdinalIgnoreCase))
            throw new CertificateOfferException($"the certificate is not for {claims.Recipient}");
        var now = _time.GetUtcNow().UtcDateTime;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
            throw new CertificateOfferException("the certificate is not valid now");
        directory.Add(certificate, "portal");
        logger.LogInformation("Portal: {Recipient} offered certificate {Serial}; it waits for approval ('gateway cert approve')",
            claims.Recipient, certificate.SerialNumber.ToString(16));
        return certificate;
    }
}
