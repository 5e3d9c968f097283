using System.IO.Pipelines;
using System.Text;
using Gateway.Smtp;

namespace Gateway.Tests.Unit;

/// <summary>The DATA decoder (dot-unstuffing, CRLF.CRLF, limits) fed through a real pipe in arbitrary pieces.</summary>
public class DataDecoderTests
{
    static async Task<(DataRead Result, string Content, string Remainder)> Decode(string wire, int pieceSize, long maxSize = 1_000_000, int maxLine = 1000)
    {
        var pipe = new Pipe();
        var outbound = new Pipe();
        var io = new SmtpStreamIo(new DuplexPipe(pipe.Reader, outbound.Writer), maxLine);
        var bytes = Encoding.UTF8.GetBytes(wire);
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < bytes.Length; i += pieceSize)
            {
                await pipe.Writer.WriteAsync(bytes.AsMemory(i, Math.Min(pieceSize, bytes.Length - i)));
                await Task.Yield();
            }
            await pipe.Writer.CompleteAsync();
        });
        var sink = new MemoryStream();
        var result = await io.ReadDataAsync(sink, new HeaderSectionScanner(), maxSize, () => CancellationToken.None);
        await writer;
        var rest = "";
        if (result.Status == DataStatus.Complete)
        {
            var line = await io.ReadLineAsync(CancellationToken.None);
            rest = line.Status == LineStatus.Ok ? line.Text : line.Status.ToString();
        }
        return (result, Encoding.UTF8.GetString(sink.ToArray()), rest);
    }

    sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(65536)]
    public async Task Unstuffs_dots_and_stops_at_crlf_dot_crlf_in_any_segmentation(int piece)
    {
        var (r, content, rest) = await Decode("Subject: x\r\n\r\n..leading dot\r\n.not end\r\n...\r\n.\r\nQUIT\r\n", piece);
        Assert.Equal(DataStatus.Complete, r.Status);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\nnot end\r\n..\r\n", content);
        Assert.Equal("QUIT", rest);
    }

    [Fact]
    public async Task Lone_dot_line_in_the_middle_is_the_end_and_the_rest_is_commands()
    {
        var (r, content, rest) = await Decode("a\r\n.\r\nb\r\n", 3);
        Assert.Equal("a\r\n", content);
        Assert.Equal("b", rest);
        Assert.Equal(3, r.Size);
    }

    [Fact]
    public async Task Empty_message_is_complete_and_empty()
    {
        var (r, content, _) = await Decode(".\r\n", 1);
        Assert.Equal(DataStatus.Complete, r.Status);
        Assert.Equal("", content);
        Assert.Equal(0, r.Size);
    }

    [Fact]
    public async Task Bare_lf_never_ends_data_and_marks_the_message()
    {
        // The SMTP smuggling pattern: <LF>.<LF> and <LF>.<CR><LF> must not end the data.
        var (r, _, rest) = await Decode("a\n.\nb\r\n\n.\r\nMAIL FROM:<evil@x>\r\n.\r\nNOOP\r\n", 4);
        Assert.True(r.BareLinefeed);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Oversized_message_is_flagged_but_read_to_the_end()
    {
        var body = string.Concat(Enumerable.Repeat("0123456789012345678901234567890123456789\r\n", 100));
        var (r, content, rest) = await Decode(body + ".\r\nNOOP\r\n", 100, maxSize: 1000);
        Assert.True(r.TooLarge);
        Assert.True(content.Length <= 1000);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Overlong_line_is_flagged_and_session_stays_in_step()
    {
        var (r, _, rest) = await Decode("short\r\n" + new string('x', 5000) + "\r\n.\r\nNOOP\r\n", 512);
        Assert.True(r.LineTooLong);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Line_of_exactly_the_limit_is_accepted()
    {
        var line = new string('y', 998) + "\r\n"; // 1000 octets including CRLF
        var (r, content, _) = await Decode(line + ".\r\n", 300);
        Assert.False(r.LineTooLong);
        Assert.Equal(line, content);
        var (r2, _, _) = await Decode(new string('y', 999) + "\r\n.\r\n", 300);
        Assert.True(r2.LineTooLong);
    }

    [Fact]
    public async Task Connection_closed_mid_data_is_reported()
    {
        var (r, _, _) = await Decode("Subject: half\r\nbody without end\r\n", 5);
        Assert.Equal(DataStatus.Closed, r.Status);
    }

    [Fact]
    public async Task Nul_and_eight_bit_octets_pass_through_unchanged()
    {
        var (r, content, _) = await Decode("x\0y \u00e9\u4e2d\r\n.\r\n", 2);
        Assert.Equal(DataStatus.Complete, r.Status);
        Assert.Equal("x\0y \u00e9\u4e2d\r\n", content);
    }
}
