using System.Text;
using Gateway.Smtp;

namespace Gateway.Tests.Unit;

/// <summary>The octet guard BDAT content passes through: bare CR, bare LF and NUL, across any chunk boundary.</summary>
public class MessageOctetGuardTests
{
    static DataDefect Check(string text, int piece)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        var guard = new MessageOctetGuard();
        for (var i = 0; i < bytes.Length; i += piece) guard.Feed(bytes.AsSpan(i, Math.Min(piece, bytes.Length - i)));
        return guard.Finish();
    }

    [Theory]
    [InlineData("Subject: a\r\n\r\nbody\r\n", DataDefect.None)]
    [InlineData("", DataDefect.None)]
    [InlineData("\r\n\r\n", DataDefect.None)]
    [InlineData("a\r.\r", DataDefect.BareCarriageReturn)]
    [InlineData("a\r\r\n", DataDefect.BareCarriageReturn)]
    [InlineData("ends with cr\r", DataDefect.BareCarriageReturn)]
    [InlineData("a\n.\n", DataDefect.BareLinefeed)]
    [InlineData("\n", DataDefect.BareLinefeed)]
    [InlineData("a\0b\r\n", DataDefect.Nul)]
    public void Finds_the_first_defect_in_any_split(string text, DataDefect expected)
    {
        foreach (var piece in new[] { 1, 2, 3, 7, 1000 })
            Assert.Equal(expected, Check(text, Math.Max(1, piece)));
    }

    [Fact]
    public void A_crlf_split_across_two_chunks_is_a_line_end()
    {
        var guard = new MessageOctetGuard();
        guard.Feed("line\r"u8);
        Assert.Equal(DataDefect.None, guard.Defect);
        guard.Feed("\nnext\r\n"u8);
        Assert.Equal(DataDefect.None, guard.Finish());
    }

    [Fact]
    public void Every_defect_has_a_550_or_size_reply_with_its_reason()
    {
        Assert.Equal("5.6.0", MessageOctetGuard.Refusal(DataDefect.BareCarriageReturn, 10, 1000).EnhancedCode);
        Assert.Contains("bare <CR>", string.Join(" ", MessageOctetGuard.Refusal(DataDefect.BareCarriageReturn, 10, 1000).Lines));
        Assert.Equal(550, MessageOctetGuard.Refusal(DataDefect.Nul, 10, 1000).Code);
        Assert.Equal(552, MessageOctetGuard.Refusal(DataDefect.TooLarge, 10, 1000).Code);
    }
}
