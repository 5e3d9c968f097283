using System.Net;
using System.Text;
using Ganss.Xss;
using MimeKit;

namespace Gateway.Web.Pickup;

/// <summary>One leaf of a message as the pickup page lists it: its number (stable for the same octets), and whether it
/// is the body shown, an image the body shows, or an attachment.</summary>
public sealed record MailPart(int Number, MimePart Part, string FileName, bool Inline);

/// <summary>
/// A message as the pickup page shows it: the header fields people read, the body (HTML through HtmlSanitizer, with
/// remote content blocked unless allowed and <c>cid:</c> images pointed at the page's own part links; else the text,
/// escaped), and the attachments. Nothing of the message runs: no script survives the sanitizer and the page's
/// Content-Security-Policy allows none.
/// </summary>
public sealed class MailView
{
    public MimeMessage Message { get; }
    public IReadOnlyList<MimePart> Leaves { get; }
    readonly TextPart? _html;
    readonly TextPart? _text;

    public MailView(MimeMessage message)
    {
        Message = message;
        Leaves = message.BodyParts.OfType<MimePart>().ToList();
        _html = Leaves.OfType<TextPart>().FirstOrDefault(p => p.IsHtml && !p.IsAttachment);
        _text = Leaves.OfType<TextPart>().FirstOrDefault(p => p.IsPlain && !p.IsAttachment);
    }

    /// <summary>The attachments and images not shown in the body, in order.</summary>
    public IReadOnlyList<MailPart> Attachments(ISet<int> shownInline) =>
        Leaves.Select((p, i) => (Part: p, Number: i))
            .Where(x => x.Part != _html && x.Part != _text && !shownInline.Contains(x.Number)
                        && !(x.Part is TextPart && !x.Part.IsAttachment && x.Part.ContentDisposition is null))
            .Select(x => new MailPart(x.Number, x.Part, x.Part.FileName ?? $"part-{x.Number + 1}", false)).ToList();

    /// <summary>The body as safe HTML; <paramref name="partLink"/> makes the link to part number N; the numbers of the
    /// parts it shows inline are added to <paramref name="shownInline"/>.</summary>
    public string BodyHtml(Func<int, string> partLink, bool allowRemoteImages, ISet<int> shownInline)
    {
        if (_html is not null)
        {
            var byContentId = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < Leaves.Count; i++)
                if (Leaves[i].ContentId is { Length: > 0 } cid) byContentId[cid.Trim('<', '>')] = i;
            var sanitizer = new HtmlSanitizer();
            sanitizer.AllowedSchemes.Add("mailto");
            sanitizer.AllowedSchemes.Add("cid");
            sanitizer.FilterUrl += (_, e) =>
            {
                var original = e.OriginalUrl.Trim();
                var tag = e.Tag.TagName.ToLowerInvariant();
                if (original.StartsWith("cid:", StringComparison.OrdinalIgnoreCase))
                {
                    if (byContentId.TryGetValue(Uri.UnescapeDataString(original[4..]).Trim('<', '>'), out var number) && tag == "img")
                    {
                        shownInline.Add(number);
                        e.SanitizedUrl = partLink(number);
                    }
                    else e.SanitizedUrl = null;
                    return;
                }
                // Remote content (tracking pixels, styles' images) is blocked by default; links stay links.
                if (tag != "a" && !(allowRemoteImages && tag == "img" && original.StartsWith("https:", StringComparison.OrdinalIgnoreCase)))
                    e.SanitizedUrl = null;
            };
            sanitizer.PostProcessNode += (_, e) =>
            {
                if (e.Node is AngleSharp.Dom.IElement { TagName: "A" } a)
                {
                    a.SetAttribute("rel", "noopener noreferrer nofollow");
                    a.SetAttribute("target", "_blank");
                }
            };
            return sanitizer.Sanitize(_html.Text ?? "");
        }
        if (_text is not null) return "<pre class=\"text\">" + WebUtility.HtmlEncode(_text.Text ?? "") + "</pre>";
        return "<p><em>This message has no text.</em></p>";
    }

    /// <summary>The header fields shown above the body, as HTML.</summary>
    public string HeaderHtml()
    {
        static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
        var b = new StringBuilder("<dl class=\"headers\">");
        void Row(string name, string? value)
        {
            if (string.IsNullOrWhiteSpace(value)) return;
            b.Append("<dt>").Append(name).Append("</dt><dd>").Append(H(value)).Append("</dd>");
        }
        Row("From", Message.From.ToString());
        Row("To", Message.To.ToString());
        Row("Cc", Message.Cc.ToString());
        Row("Date", Message.Date == DateTimeOffset.MinValue ? null : Message.Date.ToString("yyyy-MM-dd HH:mm zzz"));
        Row("Subject", Message.Subject);
        return b.Append("</dl>").ToString();
    }
}
