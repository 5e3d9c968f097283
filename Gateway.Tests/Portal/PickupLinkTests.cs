using Gateway.Courier.Portal;

namespace Gateway.Tests.Portal;

public sealed class PickupLinkTests
{
    static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_link_names_its_message_and_recipient_until_it_expires()
    {
        var links = PickupLink.Ephemeral();
        var token = links.Create("1a2b3c", "Carol@Outside.test", Now.AddDays(7));
        Assert.DoesNotContain("carol", token, StringComparison.OrdinalIgnoreCase); // not readable, but ...
        var claims = links.Verify(token, Now, out _);
        Assert.NotNull(claims);
        Assert.Equal("1a2b3c", claims!.MessageId);
        Assert.Equal("carol@outside.test", claims.Recipient);
        Assert.Equal(Now.AddDays(7), claims.ExpiresUtc);
        Assert.Equal(32, claims.LinkId.Length);
        Assert.NotEqual(claims.LinkId, links.Verify(links.Create("1a2b3c", "carol@outside.test", Now.AddDays(7)), Now, out _)!.LinkId);

        Assert.Null(links.Verify(token, Now.AddDays(7), out var problem));
        Assert.Equal(PickupLinkProblem.Expired, problem);
    }

    [Fact]
    public void A_changed_made_up_or_foreign_link_is_refused()
    {
        var links = PickupLink.Ephemeral();
        var token = links.Create("1a2b3c", "carol@outside.test", Now.AddDays(7));
        var flipped = (token[10] == 'A' ? 'B' : 'A') + "";
        Assert.Null(links.Verify(token[..10] + flipped + token[11..], Now, out var problem));
        Assert.Equal(PickupLinkProblem.Forged, problem);
        Assert.Null(PickupLink.Ephemeral().Verify(token, Now, out problem)); // another courier's key
        Assert.Equal(PickupLinkProblem.Forged, problem);
        foreach (var junk in new[] { "", "abc", "!!!", new string('A', 5000), token + "=", token[..^5] })
        {
            Assert.Null(links.Verify(junk, Now, out problem));
            Assert.NotEqual(PickupLinkProblem.Expired, problem);
        }
        Assert.Throws<ArgumentException>(() => links.Create("a\nb", "carol@outside.test", Now));
    }
}
