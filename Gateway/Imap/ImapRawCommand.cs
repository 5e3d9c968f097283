namespace Gateway.Imap;

/// <summary>A piece of a command as it arrived: command text, or the octets of a literal.</summary>
public abstract record ImapRawPart
{
    public sealed record Text(string Value) : ImapRawPart;
    public sealed record Literal(byte[] Bytes) : ImapRawPart;
}

/// <summary>One complete command line with its literals in place, ready for <see cref="ImapCommandParser"/>.</summary>
public sealed record ImapRawCommand(IReadOnlyList<ImapRawPart> Parts)
{
    public static ImapRawCommand FromText(string line) => new(new ImapRawPart[] { new ImapRawPart.Text(line) });
}
