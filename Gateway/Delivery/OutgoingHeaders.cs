using MimeKit;

namespace Gateway.Delivery;

/// <summary>
/// Header fields that are the gateway's own business and never leave it with a user's mail: the restriction fields a
/// mail program sets for the courier (<c>X-Gateway-Expires</c>, <c>X-Gateway-Max-Opens</c>, ...) and every other
/// <c>X-Gateway-</c> field. Only the message's own header is touched; MIME parts (which a user may have signed) are not.
/// </summary>
public static class OutgoingHeaders
{
    public const string InternalPrefix = "X-Gateway-";

    public static bool IsInternal(string field) => field.StartsWith(InternalPrefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Removes the internal fields from the message's header; returns the same message.</summary>
    public static MimeMessage Strip(MimeMessage message)
    {
        for (var i = message.Headers.Count - 1; i >= 0; i--)
            if (IsInternal(message.Headers[i].Field)) message.Headers.RemoveAt(i);
        return message;
    }
}
