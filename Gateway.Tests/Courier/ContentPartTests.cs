using System.Text;
using Gateway.Courier;
using Gateway.Tests.Support;
using MimeKit;

namespace Gateway.Tests.Courier;

/// <summary>The content part's KEK layer: opened by openssl cms with the CEK and its id, by nobody without them.</summary>
public class ContentPartTests
{
    static readonly byte[] Message = Encoding.ASCII.GetBytes("From: alice@a.test\r\nTo: bob@a.test\r\nSubject: secret plans\r\n\r\nmeet at noon\r\n");

    static string Hex(byte[] b) => Convert.ToHexString(b).ToLowerInvariant();

    [Fact]
    public async Task Openssl_opens_the_part_with_the_cek_and_fails_without_it()
    {
        ExternalTool.Require("openssl");
        var dir = TempDirectory.Create("content-part");
        var cek = ContentPart.NewCek();
        var der = ContentPart.Seal(Message, "0193abc-msg", cek);
        var path = Path.Combine(dir, "part.der");
        await File.WriteAllBytesAsync(path, der);
        Assert.DoesNotContain("secret plans", Encoding.ASCII.GetString(der));

        var keyId = Hex(Encoding.UTF8.GetBytes("0193abc-msg"));
        var opened = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-secretkey", Hex(cek), "-secretkeyid", keyId, "-out", Path.Combine(dir, "plain") });
        Assert.True(opened.ExitCode == 0, opened.StdErr);
        Assert.Equal(Message, await File.ReadAllBytesAsync(Path.Combine(dir, "plain")));

        var wrongKey = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-secretkey", Hex(ContentPart.NewCek()), "-secretkeyid", keyId, "-out", Path.Combine(dir, "wrong") });
        Assert.NotEqual(0, wrongKey.ExitCode);
        var noKey = await ExternalTool.RunAsync("openssl", new[] { "cms", "-decrypt", "-inform", "DER", "-in", path, "-out", Path.Combine(dir, "none") });
        Assert.NotEqual(0, noKey.ExitCode);
        Assert.False(File.Exists(Path.Combine(dir, "wrong")) && File.ReadAllBytes(Path.Combine(dir, "wrong")).SequenceEqual(Message));
    }

    [Fact]
    public void Opens_only_with_its_own_cek_and_message_id()
    {
        var cek = ContentPart.NewCek();
        var der = ContentPart.Seal(Message, "m-1", cek);
        Assert.Equal("m-1", ContentPart.MessageIdOf(der));
        Assert.Equal(Message, ContentPart.Open(der, "m-1", cek));
        Assert.Throws<ContentPartException>(() => ContentPart.Open(der, "m-2", cek));
        Assert.Throws<ContentPartException>(() => ContentPart.Open(der, "m-1", ContentPart.NewCek()));
        var tampered = (byte[])der.Clone();
        tampered[^5] ^= 0x40;
        Assert.ThrowsAny<Exception>(() => ContentPart.Open(tampered, "m-1", cek));
        Assert.Throws<ContentPartException>(() => ContentPart.MessageIdOf(Encoding.ASCII.GetBytes("not cms")));
    }

    [Fact]
    public void Arm_round_trips_and_refuses_what_it_cannot_use()
    {
        var arm = new AccessRestrictionsMessage
        {
            MessageId = "m-1", Cek = ContentPart.NewCek(), ContentDigest = new byte[32], Sender = "alice@a.test",
            Recipients = new[] { "bob@a.test" }, CreatedUtc = DateTimeOffset.UnixEpoch,
            Restrictions = new AccessRestrictions { MaxOpens = 2, ReceiptWanted = true },
        };
        var back = AccessRestrictionsMessage.Parse(arm.ToJson());
        Assert.Equal(arm.Cek, back.Cek);
        Assert.Equal(arm.Restrictions, back.Restrictions);
        Assert.DoesNotContain(Hex(arm.Cek), arm.ToString());
        Assert.Throws<FormatException>(() => AccessRestrictionsMessage.Parse("{\"version\":2}"u8));
        Assert.Throws<FormatException>(() => AccessRestrictionsMessage.Parse("not json"u8));
        Assert.Throws<FormatException>(() => AccessRestrictionsMessage.Parse(arm.ToJson().AsSpan(0, 20)));
    }

    [Fact]
    public void Headers_set_restrictions_and_policy_is_a_floor()
    {
        var now = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
        var headers = HeaderList.Load(new MemoryStream(Encoding.ASCII.GetBytes(
            "X-Gateway-Expires: 2d\r\nX-Gateway-Max-Opens: 3\r\nDisposition-Notification-To: alice@a.test\r\n\r\n")));
        var fromHeaders = RestrictionHeaders.Read(headers, now);
        Assert.Equal(now.AddDays(2), fromHeaders.ExpiresUtc);
        Assert.Equal(3, fromHeaders.MaxOpens);
        Assert.True(fromHeaders.ReceiptWanted);
        Assert.False(fromHeaders.NoForward);

        var policy = new AccessRestrictions { MaxOpens = 1, ExpiresUtc = now.AddDays(30), NoForward = true };
        var effective = policy.Strictest(fromHeaders);
        Assert.Equal(1, effective.MaxOpens);
        Assert.Equal(now.AddDays(2), effective.ExpiresUtc);
        Assert.True(effective.NoForward && effective.ReceiptWanted);

        var problems = new List<string>();
        var bad = RestrictionHeaders.Read(HeaderList.Load(new MemoryStream(Encoding.ASCII.GetBytes("X-Gateway-Expires: soon\r\nX-Gateway-Max-Opens: -1\r\n\r\n"))), now, problems);
        Assert.Equal(AccessRestrictions.None, bad);
        Assert.Equal(2, problems.Count);
    }
}
