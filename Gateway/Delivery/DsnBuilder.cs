using System.Text;
using Gateway.Configuration;
using Gateway.Queue;
using Gateway.Smtp;
using MimeKit;

namespace Gateway.Delivery;

public enum DsnAction { Failed, Delayed, Delivered, Relayed }

/// <summary>
/// Builds delivery status notifications (RFC 3464): a multipart/report with a human-readable part, the
/// message/delivery-status part, and the original message (RFC 3461 RET=FULL) or only its headers.
/// </summary>
public sealed class DsnBuilder(GatewayOptions options)
{
    /// <summary>Above this size the original is returned as headers only, unless the sender asked RET=FULL.</summary>
    const long FullReturnLimit = 10 * 1024 * 1024;

    public MimeMessage Build(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, DsnAction action, Stream originalContent, DateTimeOffset now)
    {
        var dsn = new MimeMessage();
        dsn.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + options.Hostname));
        dsn.To.Add(MailboxAddress.Parse(message.Sender!));
        dsn.Subject = action switch
        {
            DsnAction.Failed => "Undelivered Mail Returned to Sender",
            DsnAction.Delayed => "Delayed Mail (still being retried)",
            DsnAction.Relayed => "Mail Relayed (no further delivery reports)",
            _ => "Successful Mail Delivery Report",
        };
        dsn.Date = now;
        dsn.MessageId = $"{message.Id}.{action.ToString().ToLowerInvariant()}.{now.ToUnixTimeSeconds()}@{options.Hostname}";
        dsn.Headers.Add("Auto-Submitted", "auto-replied"); // RFC 3834 5

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = HumanReadable(message, recipients, action) });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + options.Hostname },
        };
        if (message.EnvelopeId is not null) perMessage.Add("Original-Envelope-Id", message.EnvelopeId);
        perMessage.Add("Arrival-Date", TraceHeaders.FormatDate(message.ArrivedUtc));
        status.StatusGroups.Add(perMessage);
        foreach (var r in recipients)
        {
            var group = new HeaderList();
            if (r.OriginalRecipient is not null) group.Add("Original-Recipient", r.OriginalRecipient);
            group.Add("Final-Recipient", "rfc822; " + r.Address);
            group.Add("Action", action.ToString().ToLowerInvariant());
            group.Add("Status", r.Status ?? (action == DsnAction.Failed ? "5.0.0" : action == DsnAction.Delayed ? "4.0.0" : "2.0.0"));
            if (r.RemoteMta is not null) group.Add("Remote-MTA", "dns; " + r.RemoteMta);
            if (r.Diagnostic is not null) group.Add("Diagnostic-Code", "smtp; " + OneLine(r.Diagnostic));
            if (r.LastAttemptUtc is { } last) group.Add("Last-Attempt-Date", TraceHeaders.FormatDate(last));
            if (action == DsnAction.Delayed)
                group.Add("Will-Retry-Until", TraceHeaders.FormatDate(message.ArrivedUtc.AddSeconds(options.Delivery.MaxQueueAgeSeconds)));
            status.StatusGroups.Add(group);
        }
        report.Add(status);

        var original = MimeMessage.Load(originalContent);
        var full = action == DsnAction.Failed
            ? message.Ret != DsnReturn.Headers && (message.Ret == DsnReturn.Full || message.Size <= FullReturnLimit)
            : message.Ret == DsnReturn.Full;
        if (full)
        {
            report.Add(new MessagePart { Message = original });
        }
        else
        {
            var headers = new TextRfc822Headers();
            var stream = new MemoryStream();
            original.Headers.WriteTo(stream);
            stream.Position = 0;
            headers.Message = MimeMessage.Load(stream);
            report.Add(headers);
        }
        dsn.Body = report;
        return dsn;
    }

    string HumanReadable(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, DsnAction action)
    {
        var sb = new StringBuilder();
        sb.Append("This is the Gateway mail system at ").Append(options.Hostname).Append(".\n\n");
        sb.Append(action switch
        {
            DsnAction.Failed => "Your message could not be delivered to the recipients below. This is a permanent error; it will not be retried.\n",
            DsnAction.Delayed => $"Your message has not been delivered yet to the recipients below. Delivery will be retried until {message.ArrivedUtc.AddSeconds(options.Delivery.MaxQueueAgeSeconds):u}; you do not need to resend it.\n",
            DsnAction.Relayed => "Your message was handed to a mail server that does not send delivery reports; no further report will follow.\n",
            _ => "Your message was delivered to the recipients below.\n",
        });
        sb.Append('\n');
        foreach (var r in recipients)
            sb.Append('<').Append(r.Address).Append(">: ").Append(OneLine(r.Diagnostic ?? r.Status ?? "")).Append('\n');
        sb.Append("\nQueue id: ").Append(message.Id).Append('\n');
        return sb.ToString();
    }

    static string OneLine(string text) => text.Replace("\r", " ").Replace("\n", " ");
}
