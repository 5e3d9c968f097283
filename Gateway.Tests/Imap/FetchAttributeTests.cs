using Gateway.Imap;

namespace Gateway.Tests.Imap;

public class FetchAttributeTests
{
    static IReadOnlyList<FetchItem> F(string arguments) =>
        FetchAttributes.Parse(ImapCommandParser.Parse(ImapRawCommand.FromText("a FETCH 1 " + arguments)).Arguments[1]);

    [Fact]
    public void Macros_expand_and_stand_alone()
    {
        Assert.Equal(new[] { FetchKind.Flags, FetchKind.InternalDate, FetchKind.Rfc822Size, FetchKind.Envelope }, F("ALL").Select(i => i.Kind));
        Assert.Equal(5, F("full").Count);
        Assert.Throws<ImapSyntaxException>(() => F("(FAST UID)"));
    }

    [Fact]
    public void Thunderbird_style_request_parses()
    {
        var items = F("(UID RFC822.SIZE FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID)])");
        Assert.Equal(new[] { FetchKind.Uid, FetchKind.Rfc822Size, FetchKind.Flags, FetchKind.ModSeq, FetchKind.BodySection }, items.Select(i => i.Kind));
        var section = items[^1];
        Assert.True(section.Peek);
        Assert.Equal(SectionText.HeaderFields, section.Section!.Text);
        Assert.Equal(new[] { "From", "To", "Cc", "Subject", "Date", "Message-ID" }, section.Section.Fields);
        Assert.Empty(section.Section.Part);
    }

    [Theory]
    [InlineData("BODY[]", new int[0], SectionText.None, false)]
    [InlineData("BODY[TEXT]", new int[0], SectionText.Text, false)]
    [InlineData("BODY.PEEK[1.2]", new[] { 1, 2 }, SectionText.None, true)]
    [InlineData("BODY[2.1.MIME]", new[] { 2, 1 }, SectionText.Mime, false)]
    [InlineData("BODY[3.HEADER]", new[] { 3 }, SectionText.Header, false)]
    [InlineData("BODY[1.HEADER.FIELDS.NOT (Received)]", new[] { 1 }, SectionText.HeaderFieldsNot, false)]
    public void Sections_parse(string atom, int[] part, SectionText text, bool peek)
    {
        var item = Assert.Single(F(atom));
        Assert.Equal(part, item.Section!.Part);
        Assert.Equal(text, item.Section.Text);
        Assert.Equal(peek, item.Peek);
    }

    [Fact]
    public void Partial_ranges_parse()
    {
        var item = Assert.Single(F("BODY.PEEK[]<1024.4096>"));
        Assert.Equal(1024, item.PartialOffset);
        Assert.Equal(4096, item.PartialLength);
        Assert.Equal("[1.HEADER.FIELDS (A B)]", new BodySection(new[] { 1 }, SectionText.HeaderFields, new[] { "A", "B" }).ToString());
    }

    [Theory]
    [InlineData("BODY[MIME]")]                 // MIME needs a part
    [InlineData("BODY[0]")]                    // parts start at 1
    [InlineData("BODY[HEADER.FIELDS]")]        // needs a list
    [InlineData("BODY[TEXT (From)]")]          // only HEADER.FIELDS takes a list
    [InlineData("BODY[]<10.0>")]               // zero-length partial
    [InlineData("BODY[1.TEXTX]")]
    [InlineData("BODYSTRUCTURES")]
    [InlineData("(FLAGS \"UID\")")]
    public void Bad_items_are_syntax_errors(string arguments) => Assert.Throws<ImapSyntaxException>(() => F(arguments));
}
