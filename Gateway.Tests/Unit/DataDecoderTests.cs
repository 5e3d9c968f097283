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
        var result = await io.ReadDataAsync(sink, new HeaderSectionScanner(), maxSize, _ => CancellationToken.None);
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
        Assert.Equal(DataDefect.BareLinefeed, r.Defect);
        Assert.Equal("NOOP", rest);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4096)]
    public async Task Bare_cr_never_ends_data_and_the_message_is_refused(int piece)
    {
        // <CR>.<CR> smuggling: a next hop that reads a bare CR as a line end would see the end of our message here.
        var (r, content, rest) = await Decode("Subject: x\r\n\r\na\r.\rMAIL FROM:<evil@x>\r\n.\r\nNOOP\r\n", piece);
        Assert.Equal(DataStatus.Complete, r.Status);
        Assert.Equal(DataDefect.BareCarriageReturn, r.Defect);
        Assert.DoesNotContain("evil", content);
        Assert.Equal("NOOP", rest);
        var (r2, _, _) = await Decode("a\r\r\n.\r\n", piece);
        Assert.Equal(DataDefect.BareCarriageReturn, r2.Defect);
    }

    [Fact]
    public async Task Nul_is_refused_and_the_session_stays_in_step()
    {
        var (r, _, rest) = await Decode("Subject: x\r\n\r\nzero \0 here\r\n.\r\nNOOP\r\n", 5);
        Assert.Equal(DataDefect.Nul, r.Defect);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Cr_lf_pairs_and_a_leading_dot_stay_clean()
    {
        var (r, content, _) = await Decode("a\r\n..\r\n\r\nb\r\n.\r\n", 1);
        Assert.Equal(DataDefect.None, r.Defect);
        Assert.Equal("a\r\n.\r\n\r\nb\r\n", content);
    }

    [Fact]
    public async Task Oversized_message_is_flagged_but_read_to_the_end()
    {
        var body = string.Concat(Enumerable.Repeat("0123456789012345678901234567890123456789\r\n", 100));
        var (r, content, rest) = await Decode(body + ".\r\nNOOP\r\n", 100, maxSize: 1000);
        Assert.Equal(DataDefect.TooLarge, r.Defect);
        Assert.True(content.Length <= 1000);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Overlong_line_is_flagged_and_session_stays_in_step()
    {
        var (r, _, rest) = await Decode("short\r\n" + new string('x', 5000) + "\r\n.\r\nNOOP\r\n", 512);
        Assert.Equal(DataDefect.LineTooLong, r.Defect);
        Assert.Equal("NOOP", rest);
    }

    [Fact]
    public async Task Line_of_exactly_the_limit_is_accepted()
    {
        var line = new string('y', 998) + "\r\n"; // 1000 octets including CRLF
        var (r, content, _) = await Decode(line + ".\r\n", 300);
        Assert.Equal(DataDefect.None, r.Defect);
        Assert.Equal(line, content);
        var (r2, _, _) = await Decode(new string('y', 999) + "\r\n.\r\n", 300);
        Assert.Equal(DataDefect.LineTooLong, r2.Defect);
    }

    [Fact]
    public async Task Connection_closed_mid_data_is_reported()
    {
        var (r, _, _) = await Decode("Subject: half\r\nbody without end\r\n", 5);
        Assert.Equal(DataStatus.Closed, r.Status);
    }

    [Fact]
    public async Task Eight_bit_octets_pass_through_unchanged()
    {
        var (r, content, _) = await Decode("xy \u00e9\u4e2d\r\n.\r\n", 2);
        Assert.Equal(DataStatus.Complete, r.Status);
        Assert.Equal(DataDefect.None, r.Defect);
        Assert.Equal("xy \u00e9\u4e2d\r\n", content);
    }
}
