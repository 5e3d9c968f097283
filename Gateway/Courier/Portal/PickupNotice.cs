using System.Net;
using System.Text;
using MimeKit;

namespace Gateway.Courier.Portal;

/// <summary>What the notification says about a held message (nothing of its content, unless policy shows the subject).</summary>
public sealed record PickupNoticeFacts(
    MailboxAddress From, string Recipient, DateTimeOffset SentUtc, AccessRestrictions Restrictions, DateTimeOffset LinkExpiresUtc, string Link, string? Subject);

/// <summary>
/// The mail an outside recipient gets instead of the message: from the sender, through this courier, naming who sent
/// it, when, how long and how often it may be read, and the link to the pickup page. It carries no content: no body,
/// no attachment, and the subject only when <c>Courier:Portal:ShowSubject</c> says so.
/// </summary>
public static class PickupNotice
{
    public static MimeMessage Build(PickupNoticeFacts facts, string hostname)
    {
        var message = new MimeMessage();
        message.From.Add(facts.From);
        message.ReplyTo.Add(new MailboxAddress(facts.From.Name, facts.From.Address));
        message.To.Add(MailboxAddress.Parse(facts.Recipient));
        var who = string.IsNullOrWhiteSpace(facts.From.Name) ? facts.From.Address : facts.From.Name;
        message.Subject = facts.Subject is { Length: > 0 } subject ? $"Protected message from {who}: {subject}" : $"{who} sent you a protected message";
        message.Date = facts.SentUtc;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(hostname);

        var lines = new List<string>
        {
            $"{facts.From.Address} sent you a protected message on {facts.SentUtc:yyyy-MM-dd HH:mm} UTC.",
            "",
            "It is kept for you on the sender's mail gateway. Open it here:",
            facts.Link,
            "",
        };
        lines.AddRange(Terms(facts));
        lines.Add("");
        lines.Add("To open it you will be asked for a one-time code, which is mailed to this address when you ask for it.");
        lines.Add("This mail carries no part of the message itself.");
        var text = string.Join("\r\n", lines) + "\r\n";

        static string H(string s) => WebUtility.HtmlEncode(s);
        var html = new StringBuilder()
            .Append("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">")
            .Append("<p>").Append(H(facts.From.Address)).Append(" sent you a protected message on ").Append(H($"{facts.SentUtc:yyyy-MM-dd HH:mm} UTC")).Append(".</p>")
            .Append("<p>It is kept for you on the sender's mail gateway.</p>")
            .Append("<p><a href=\"").Append(H(facts.Link)).Append("\">Open the message</a></p><ul>");
        foreach (var term in Terms(facts)) html.Append("<li>").Append(H(term)).Append("</li>");
        html.Append("</ul><p>To open it you will be asked for a one-time code, which is mailed to this address when you ask for it. ")
            .Append("This mail carries no part of the message itself.</p></body></html>");

        message.Body = new MultipartAlternative
        {
            new TextPart("plain") { Text = text },
            new TextPart("html") { Text = html.ToString() },
        };
        return message;
    }

    static IEnumerable<string> Terms(PickupNoticeFacts facts)
    {
        var r = facts.Restrictions;
        var until = r.ExpiresUtc is { } expires && expires < facts.LinkExpiresUtc ? expires : facts.LinkExpiresUtc;
        yield return $"It can be read until {until:yyyy-MM-dd HH:mm} UTC.";
        if (r.MaxOpens is { } max) yield return max == 1 ? "It can be opened once." : $"It can be opened {max} times.";
        if (r.NoForward) yield return "The sender asked that it not be forwarded.";
        if (r.ReceiptWanted) yield return "The sender is told when you open it.";
    }
}
