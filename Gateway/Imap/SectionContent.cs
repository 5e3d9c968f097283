using System.Buffers;

namespace Gateway.Imap;

/// <summary>
/// What a FETCH sends for a body section (RFC 3501 6.4.5): <see cref="Length"/> octets starting at
/// <see cref="Start"/>, taken from the stored message file, or from <see cref="Data"/> when the server had to compute
/// them (HEADER.FIELDS and HEADER.FIELDS.NOT).
/// </summary>
/// <remarks>The response is <c>BODY[section] {Length}CRLF</c> followed by the octets; <see cref="CopyToAsync"/>
/// streams them so that a large body is never held in memory.</remarks>
public readonly record struct SectionContent(long Start, long Length, byte[]? Data = null)
{
    const int CopyBufferSize = 64 * 1024;

    /// <summary>The empty string: also what a section that does not exist yields, as with Dovecot.</summary>
    public static SectionContent Empty => default;

    /// <summary>Octets <paramref name="start"/> to <paramref name="end"/> of the message file.</summary>
    public static SectionContent Range(long start, long end) => new(start, Math.Max(0, end - start));

    /// <summary>Computed octets.</summary>
    public static SectionContent Computed(byte[] data) => new(0, data.Length, data);

    /// <summary>
    /// The partial fetch <c>&lt;offset.length&gt;</c> of RFC 3501 6.4.5: at most <paramref name="length"/> octets from
    /// <paramref name="offset"/>, and the empty string when <paramref name="offset"/> is beyond the end.
    /// </summary>
    public SectionContent Partial(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset >= Length) return this with { Start = Start + Length, Length = 0 };
        return this with { Start = Start + offset, Length = Math.Min(length, Length - offset) };
    }

    /// <summary>Writes the octets to <paramref name="destination"/>, reading the stored ones from <paramref name="message"/>
    /// (which must be seekable) through a 64 KiB buffer.</summary>
    public async Task CopyToAsync(Stream message, Stream destination, CancellationToken cancellationToken = default)
    {
        if (Length == 0) return;
        if (Data is not null)
        {
            await destination.WriteAsync(Data.AsMemory(checked((int)Start), checked((int)Length)), cancellationToken).ConfigureAwait(false);
            return;
        }
        message.Seek(Start, SeekOrigin.Begin);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            var left = Length;
            while (left > 0)
            {
                var read = await message.ReadAsync(buffer.AsMemory(0, (int)Math.Min(CopyBufferSize, left)), cancellationToken).ConfigureAwait(false);
                if (read == 0) throw new EndOfStreamException("the message file is shorter than its recorded structure");
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The octets as an array: for small sections (and tests).</summary>
    public byte[] ToArray(Stream message)
    {
        if (Length == 0) return [];
        if (Data is not null) return Data.AsSpan(checked((int)Start), checked((int)Length)).ToArray();
        var octets = new byte[checked((int)Length)];
        message.Seek(Start, SeekOrigin.Begin);
        message.ReadExactly(octets);
        return octets;
    }
}
