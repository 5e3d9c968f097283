using Gateway.Smtp;

namespace Gateway.Tests.Unit;

public class SmtpSyntaxTests
{
    [Theory]
    [InlineData("alice@example.org", "alice", "example.org")]
    [InlineData("Alice.Smith+tag@EXAMPLE.org", "Alice.Smith+tag", "example.org")]
    [InlineData("\"john doe\"@example.org", "\"john doe\"", "example.org")]
    [InlineData("user@[127.0.0.1]", "user", "[127.0.0.1]")]
    [InlineData("user@[IPv6:::1]", "user", "[ipv6:::1]")]
    [InlineData("用户@例子.广告", "用户", "例子.广告")]
    public void Parses_valid_mailboxes(string text, string local, string domain)
    {
        Assert.True(SmtpMailbox.TryParse(text, out var m));
        Assert.Equal(local, m.LocalPart);
        Assert.Equal(domain, m.Domain);
    }

    [Theory]
    [InlineData("")]
    [InlineData("no-at-sign")]
    [InlineData("@example.org")]
    [InlineData("user@")]
    [InlineData(".user@example.org")]
    [InlineData("us..er@example.org")]
    [InlineData("user@exa mple.org")]
    [InlineData("user@-bad.org")]
    [InlineData("user@[999.1.1.1]")]
    [InlineData("a b@example.org")]
    [InlineData("user@example..org")]
    public void Rejects_invalid_mailboxes(string text) => Assert.False(SmtpMailbox.TryParse(text, out _));

    [Fact]
    public void Non_ascii_mailbox_is_flagged()
    {
        Assert.True(SmtpMailbox.TryParse("josé@example.org", out var m));
        Assert.False(m.IsAscii);
        Assert.True(SmtpMailbox.TryParse("jose@example.org", out var a));
        Assert.True(a.IsAscii);
    }

    [Fact]
    public void Path_parser_reads_address_and_parameters()
    {
        Assert.True(SmtpPathParser.TryParse("FROM:<a@b.org> SIZE=100 BODY=8BITMIME smtputf8", "FROM:", out var p, out _));
        Assert.Equal("a@b.org", p.Path);
        Assert.Equal(new[] { "SIZE", "BODY", "SMTPUTF8" }, p.Parameters.Select(x => x.Key));
        Assert.Equal("100", p.Parameters[0].Value);
        Assert.Null(p.Parameters[2].Value);
    }

    [Fact]
    public void Path_parser_accepts_null_path_space_after_colon_and_source_routes()
    {
        Assert.True(SmtpPathParser.TryParse("FROM:<>", "FROM:", out var p, out _));
        Assert.Equal("", p.Path);
        Assert.True(SmtpPathParser.TryParse("to: <x@y.org>", "TO:", out p, out _));
        Assert.Equal("x@y.org", p.Path);
        Assert.True(SmtpPathParser.TryParse("TO:<@relay.org,@other.org:x@y.org>", "TO:", out p, out _));
        Assert.Equal("x@y.org", p.Path);
        Assert.True(SmtpPathParser.TryParse("TO:<\"odd>name\"@y.org>", "TO:", out p, out _));
        Assert.Equal("\"odd>name\"@y.org", p.Path);
    }

    [Theory]
    [InlineData("FROM:a@b.org")]
    [InlineData("FROM:<a@b.org")]
    [InlineData("TO:<a@b.org>")]
    [InlineData("FROM:<a@b.org>SIZE=1")]
    [InlineData("FROM:<a@b.org> =1")]
    public void Path_parser_rejects_malformed(string argument) =>
        Assert.False(SmtpPathParser.TryParse(argument, "FROM:", out _, out _));

    [Fact]
    public void Xtext_round_trips_and_rejects_bad_escapes()
    {
        var original = "id+with=odd chars\u00e9";
        var encoded = XText.Encode(original);
        Assert.DoesNotContain(' ', encoded);
        Assert.True(XText.TryDecode("abc+2Bdef+3D", out var decoded));
        Assert.Equal("abc+def=", decoded);
        Assert.False(XText.TryDecode("abc+2", out _));
        Assert.False(XText.TryDecode("a=b", out _));
        Assert.False(XText.TryDecode("a b", out _));
        Assert.Contains("+2B", encoded);
    }

    [Fact]
    public void Reply_formats_multiline_with_continuation_dashes()
    {
        var reply = new SmtpReply(250, "2.0.0", new[] { "first", "second", "third" });
        Assert.Equal("250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0 third\r\n", reply.Format());
        Assert.Equal("354 go\r\n", new SmtpReply(354, null, "go").Format());
    }
}
