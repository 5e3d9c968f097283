using System.Text;
using Gateway.Smtp;

namespace Gateway.Tests.Unit;

public class HeaderSectionScannerTests
{
    static HeaderSectionScanner Scan(string message, int chunk)
    {
        var scanner = new HeaderSectionScanner();
        var bytes = Encoding.ASCII.GetBytes(message);
        for (var i = 0; i < bytes.Length; i += chunk)
            scanner.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        return scanner;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4096)]
    public void Finds_fields_in_any_chunking(int chunk)
    {
        var s = Scan("From: a@b\r\nSubject: x\r\n folded: not-a-field\r\nmessage-id : <1@x>\r\n\r\nDate: body line\r\n", chunk);
        Assert.True(s.HasFrom);
        Assert.True(s.HasMessageId);
        Assert.False(s.HasDate); // "Date:" in the body does not count
        Assert.True(s.HeaderSectionEnded);
    }

    [Fact]
    public void Continuation_lines_are_not_fields()
    {
        var s = Scan("Subject: hello\r\n\tDate: inside subject\r\n\r\n", 5);
        Assert.False(s.HasDate);
    }

    [Fact]
    public void Empty_message_has_no_fields() => Assert.False(Scan("", 1).HasMessageId);
}
