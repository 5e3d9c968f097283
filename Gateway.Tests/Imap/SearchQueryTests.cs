using Gateway.Imap;

namespace Gateway.Tests.Imap;

public class SearchQueryTests
{
    static SearchKey S(string arguments) =>
        SearchQuery.Parse(ImapCommandParser.Parse(ImapRawCommand.FromText("a SEARCH " + arguments)).Arguments);

    [Fact]
    public void Keys_side_by_side_mean_and()
    {
        var and = Assert.IsType<SearchKey.And>(S("UNSEEN FROM \"bob@example.org\" SINCE 1-Feb-2026 LARGER 1000"));
        Assert.Equal(new SearchKey.Flag("\\Seen", false), and.Keys[0]);
        Assert.Equal(new SearchKey.Header("From", "bob@example.org"), and.Keys[1]);
        Assert.Equal(new SearchKey.Date(DateComparison.Since, false, new DateOnly(2026, 2, 1)), and.Keys[2]);
        Assert.Equal(new SearchKey.Size(true, 1000), and.Keys[3]);
    }

    [Fact]
    public void Or_not_parentheses_sequence_sets_and_uid()
    {
        var or = Assert.IsType<SearchKey.Or>(S("OR (FLAGGED SUBJECT urgent) NOT DELETED"));
        Assert.IsType<SearchKey.And>(or.Left);
        Assert.Equal(new SearchKey.Not(new SearchKey.Flag("\\Deleted", true)), or.Right);
        var seq = Assert.IsType<SearchKey.Sequence>(S("1:5,9"));
        Assert.False(seq.ByUid);
        Assert.True(seq.Set.Contains(3, 10));
        Assert.True(Assert.IsType<SearchKey.Sequence>(S("UID 100:*")).ByUid);
    }

    [Fact]
    public void Charset_utf8_is_accepted_and_text_keeps_non_ascii()
    {
        var and = Assert.IsType<SearchKey.And>(S("CHARSET UTF-8 TEXT \"Grüße\" HEADER X-Priority 1"));
        Assert.Equal(new SearchKey.FullText("Grüße"), and.Keys[0]);
        Assert.Equal(new SearchKey.Header("X-Priority", "1"), and.Keys[1]);
    }

    [Fact]
    public void Unsupported_charset_is_badcharset_not_syntax()
    {
        var ex = Assert.Throws<BadCharsetException>(() => S("CHARSET KOI8-R TEXT x"));
        Assert.Equal("KOI8-R", ex.Charset);
    }

    [Fact]
    public void Modseq_with_and_without_the_entry_pair()
    {
        Assert.Equal(new SearchKey.ModSeq(620162338), S("MODSEQ 620162338"));
        Assert.Equal(new SearchKey.ModSeq(7), S("MODSEQ \"/flags/\\\\draft\" all 7"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("FROM")]
    [InlineData("SINCE 31-Feb-2026")]
    [InlineData("SINCE 2026-02-01")]
    [InlineData("LARGER big")]
    [InlineData("OR SEEN")]
    [InlineData("KEYWORD \\Seen")]
    [InlineData("HEADER \"bad field:\" x")]
    [InlineData("NONSENSE")]
    [InlineData("()")]
    [InlineData("UID 0:5")]
    public void Bad_criteria_are_syntax_errors(string arguments) => Assert.Throws<ImapSyntaxException>(() => S(arguments));
}
