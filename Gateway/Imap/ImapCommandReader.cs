using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.RegularExpressions;

namespace Gateway.Imap;

public enum ImapReadStatus { Ok, LineTooLong, LiteralTooLarge, Closed }

/// <param name="CanContinue">False when the client is already sending octets we refused (an oversized LITERAL+): the session must end.</param>
public readonly record struct ImapRead(ImapReadStatus Status, ImapRawCommand? Command, string? Tag = null, bool CanContinue = true);

/// <summary>
/// Reads one IMAP command from the connection, literals included (RFC 3501 7.5 and 9; LITERAL+ RFC 7888):
/// a line ending in <c>{n}</c> gets a continuation request before its n octets are read; <c>{n+}</c> does not.
/// Lines and literals are bounded; a synchronizing literal over the limit is refused without reading it, and the
/// session stays in step because the client sends nothing more until it hears from us. A literal over
/// <see cref="SpoolAbove"/> octets (an APPENDed message) is written to a working copy as it arrives, never gathered
/// into one array.
/// </summary>
public sealed partial class ImapCommandReader(PipeReader input, int maxLineLength, long maxLiteralSize, long maxCommandSize)
{
    [GeneratedRegex(@"\{(\d{1,19})(\+?)\}$")]
    private static partial Regex LiteralMarker();

    /// <summary>Literals larger than this go to a working copy (<see cref="ImapRawPart.SpooledLiteral"/>).</summary>
    public const long SpoolAbove = 64 * 1024;

    /// <summary>Reads one command; a command that does not come whole gives up the working copies of its literals.</summary>
    public async ValueTask<ImapRead> ReadAsync(Func<ValueTask> sendContinuation, CancellationToken cancellationToken)
    {
        var parts = new List<ImapRawPart>();
        try
        {
            var read = await ReadPartsAsync(parts, sendContinuation, cancellationToken);
            if (read.Command is null) new ImapRawCommand(parts).Dispose();
            return read;
        }
        catch
        {
            new ImapRawCommand(parts).Dispose();
            throw;
        }
    }

    /// <param name="sendContinuation">Writes and flushes "+ ..." to the client before a synchronizing literal.</param>
    async ValueTask<ImapRead> ReadPartsAsync(List<ImapRawPart> parts, Func<ValueTask> sendContinuation, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken);
            if (line.Status != ImapReadStatus.Ok) return line.Status == ImapReadStatus.LineTooLong
                ? new ImapRead(ImapReadStatus.LineTooLong, null, TagOf(parts, line.Text))
                : new ImapRead(line.Status, null);
            total += line.Text!.Length;
            var marker = LiteralMarker().Match(line.Text);
            if (!marker.Success)
            {
                parts.Add(new ImapRawPart.Text(line.Text));
                return new ImapRead(ImapReadStatus.Ok, new ImapRawCommand(parts));
            }

            parts.Add(new ImapRawPart.Text(line.Text[..marker.Index]));
            var synchronizing = marker.Groups[2].Value.Length == 0;
            if (!long.TryParse(marker.Groups[1].Value, out var size) || size > maxLiteralSize || total + size > maxCommandSize)
            {
                // A synchronizing literal was never asked for, so the client sends nothing more: a BAD keeps us in step.
                // A LITERAL+ one is already on its way, and the only safe answer is to end the session (RFC 7888 4).
                return new ImapRead(ImapReadStatus.LiteralTooLarge, null, TagOf(parts, null), CanContinue: synchronizing);
            }
            if (synchronizing) await sendContinuation();
            if (size > SpoolAbove)
            {
                var copy = Gateway.Sealing.ScratchSpace.Create();
                parts.Add(new ImapRawPart.SpooledLiteral(copy)); // given up with the command, whole or not
                if (!await CopyOctetsAsync(size, copy, cancellationToken)) return new ImapRead(ImapReadStatus.Closed, null);
                copy.Position = 0;
            }
            else
            {
                var literal = await ReadOctetsAsync(size, cancellationToken);
                if (literal is null) return new ImapRead(ImapReadStatus.Closed, null);
                parts.Add(new ImapRawPart.Literal(literal));
            }
            total += size;
        }
    }

    /// <summary>
    /// One plain line (a SASL response, or IDLE's DONE), without command parsing; null when the connection closed
    /// or the line is over the limit.
    /// </summary>
    public async ValueTask<string?> ReadTextLineAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken);
        return line.Status == ImapReadStatus.Ok ? line.Text : null;
    }

    readonly record struct Line(ImapReadStatus Status, string? Text);

    async ValueTask<Line> ReadLineAsync(CancellationToken cancellationToken)
    {
        var discarding = false;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is null)
            {
                if (result.IsCompleted) { input.AdvanceTo(buffer.End); return new Line(ImapReadStatus.Closed, null); }
                if (buffer.Length > maxLineLength) { discarding = true; input.AdvanceTo(buffer.End); continue; }
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }
            var lineBytes = buffer.Slice(0, lf.Value);
            var next = buffer.GetPosition(1, lf.Value);
            if (discarding || lineBytes.Length > maxLineLength)
            {
                var head = Encoding.UTF8.GetString(lineBytes.Slice(0, Math.Min(64, lineBytes.Length)));
                input.AdvanceTo(next);
                return new Line(ImapReadStatus.LineTooLong, discarding ? null : head);
            }
            var text = Encoding.UTF8.GetString(lineBytes).TrimEnd('\r');
            input.AdvanceTo(next);
            return new Line(ImapReadStatus.Ok, text);
        }
    }

    async ValueTask<byte[]?> ReadOctetsAsync(long size, CancellationToken cancellationToken)
    {
        var bytes = new byte[size];
        return await CopyOctetsAsync(size, new MemoryStream(bytes), cancellationToken) ? bytes : null;
    }

    /// <summary>Copies the next <paramref name="size"/> octets to <paramref name="target"/> as they arrive; false when
    /// the connection closed first.</summary>
    async ValueTask<bool> CopyOctetsAsync(long size, Stream target, CancellationToken cancellationToken)
    {
        long read = 0;
        while (read < size)
        {
            var result = await input.ReadAsync(cancellationToken);
            var take = result.Buffer.Slice(0, Math.Min(size - read, result.Buffer.Length));
            foreach (var segment in take) target.Write(segment.Span);
            read += take.Length;
            input.AdvanceTo(take.End);
            if (read < size && result.IsCompleted) return false;
        }
        return true;
    }

    static string? TagOf(List<ImapRawPart> parts, string? text)
    {
        var first = parts.Count > 0 && parts[0] is ImapRawPart.Text t ? t.Value : text;
        if (string.IsNullOrEmpty(first)) return null;
        var space = first.IndexOf(' ');
        var tag = space > 0 ? first[..space] : null;
        return tag is not null && ImapChars.IsTag(tag) ? tag : null;
    }
}
