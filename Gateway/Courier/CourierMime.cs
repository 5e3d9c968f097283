using MimeKit;

namespace Gateway.Courier;

/// <summary>The few MIME shapes the courier roles build and read: base64 parts of bytes, and addressed envelopes around them.</summary>
public static class CourierMime
{
    /// <summary>A base64 part holding <paramref name="content"/>.</summary>
    public static MimePart Part(string mediaType, byte[] content, string? fileName = null)
    {
        var part = new MimePart(mediaType) { Content = new MimeContent(new MemoryStream(content, writable: false)), ContentTransferEncoding = ContentEncoding.Base64 };
        if (fileName is not null) part.FileName = fileName;
        return part;
    }

    /// <summary>A base64 part whose content is read from <paramref name="content"/> (positioned at its start) when the
    /// part is written: a large content is encoded as it is written, never held whole.</summary>
    public static MimePart Part(string mediaType, Stream content, string? fileName = null)
    {
        var part = new MimePart(mediaType) { Content = new MimeContent(content), ContentTransferEncoding = ContentEncoding.Base64 };
        if (fileName is not null) part.FileName = fileName;
        return part;
    }

    /// <summary>The decoded bytes of a part (empty when it has no content).</summary>
    public static byte[] Decode(MimePart part) => Collect(buffer => part.Content?.DecodeTo(buffer));

    /// <summary>A message from one address to another carrying <paramref name="body"/>.</summary>
    public static MimeMessage Message(string from, string to, string subject, MimeEntity body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = body;
        return message;
    }

    /// <summary>The first address in a header's From field, lower-cased, or "" (reading the header only, not the body).</summary>
    public static string FromAddress(HeaderList headers) =>
        headers[HeaderId.From] is { } from && InternetAddressList.TryParse(from, out var list)
            ? list.Mailboxes.FirstOrDefault()?.Address.ToLowerInvariant() ?? ""
            : "";

    public static byte[] Bytes(MimeMessage message) => Collect(buffer => message.WriteTo(buffer));

    /// <summary>The message as <see cref="Bytes"/> makes it, written to <paramref name="output"/> as it is encoded.</summary>
    public static void WriteTo(MimeMessage message, Stream output) => message.WriteTo(output);

    /// <summary>What <paramref name="write"/> writes, written in blocks and then copied once into an array of the exact
    /// size: a growing MemoryStream would allocate about twice a large part again on its way up.</summary>
    static byte[] Collect(Action<Stream> write)
    {
        using var buffer = new MimeKit.IO.MemoryBlockStream();
        write(buffer);
        var bytes = new byte[buffer.Length];
        buffer.Position = 0;
        buffer.ReadExactly(bytes);
        return bytes;
    }
}
