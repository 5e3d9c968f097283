namespace Gateway.Imap;

/// <summary>A piece of a command as it arrived: command text, or the octets of a literal.</summary>
public abstract record ImapRawPart
{
    public sealed record Text(string Value) : ImapRawPart;
    public sealed record Literal(byte[] Bytes) : ImapRawPart;

    /// <summary>A large literal (an APPENDed message), kept in a working copy as it arrived instead of one array: in
    /// memory while small, then in a sealed file (<see cref="Gateway.Sealing.ScratchSpace"/>). Its command disposes it.</summary>
    public sealed record SpooledLiteral(Stream Content) : ImapRawPart;
}

/// <summary>One complete command line with its literals in place, ready for <see cref="ImapCommandParser"/>. Disposing it
/// gives up the working copies of its large literals.</summary>
public sealed record ImapRawCommand(IReadOnlyList<ImapRawPart> Parts) : IDisposable
{
    public static ImapRawCommand FromText(string line) => new(new ImapRawPart[] { new ImapRawPart.Text(line) });

    public void Dispose()
    {
        foreach (var part in Parts)
            if (part is ImapRawPart.SpooledLiteral spooled) spooled.Content.Dispose();
    }
}
