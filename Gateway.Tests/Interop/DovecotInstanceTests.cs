using System.Text;
using Gateway.Tests.Support;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MimeKit;

namespace Gateway.Tests.Interop;

/// <summary>The Dovecot reference instance works: the comparison tests of our IMAP server stand on it.</summary>
public class DovecotInstanceTests
{
    [Fact]
    public async Task A_client_logs_in_appends_and_fetches_the_message_back_byte_exact_and_sees_the_special_use_folders()
    {
        await using var dovecot = await DovecotInstance.StartAsync();

        var original = Encoding.UTF8.GetBytes(
            "From: Alice <alice@dovecot.test>\r\n" +
            "To: Bob <bob@example.test>\r\n" +
            "Subject: =?utf-8?q?reference_=C3=A9?= with a long subject line that is folded\r\n" +
            "\tacross two lines\r\n" +
            $"Message-ID: <{Guid.NewGuid():N}@dovecot.test>\r\n" +
            "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
            "\r\n" +
            "--b1\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "caf\u00e9 cr\u00e8me\r\n" +
            ".a line starting with a dot\r\n" +
            "trailing spaces   \r\n" +
            "--b1\r\n" +
            "Content-Type: application/octet-stream\r\n" +
            "Content-Transfer-Encoding: base64\r\n" +
            "\r\n" +
            Convert.ToBase64String(Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray(), Base64FormattingOptions.InsertLineBreaks) + "\r\n" +
            "--b1--\r\n");

        using var client = new ImapClient();
        await client.ConnectAsync(dovecot.Host, dovecot.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(dovecot.User, dovecot.Password);
        Assert.True(client.IsAuthenticated, dovecot.Log);
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.CondStore), client.Capabilities.ToString());
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.QuickResync), client.Capabilities.ToString());
        Assert.True(client.Capabilities.HasFlag(ImapCapabilities.SpecialUse), client.Capabilities.ToString());

        // MimeKit writes a parsed, unmodified message back exactly as it was read.
        var message = await MimeMessage.LoadAsync(new MemoryStream(original));
        var appended = await client.Inbox.AppendAsync(new AppendRequest(message, MessageFlags.Seen));
        Assert.NotNull(appended); // UIDPLUS

        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.Equal(1, client.Inbox.Count);
        using (var stream = await client.Inbox.GetStreamAsync(appended!.Value, ""))
        {
            var fetched = new MemoryStream();
            await stream.CopyToAsync(fetched);
            Assert.Equal(original, fetched.ToArray());
        }
        var summary = (await client.Inbox.FetchAsync(new[] { appended.Value }, MessageSummaryItems.Flags | MessageSummaryItems.Size)).Single();
        Assert.Equal((uint)original.Length, summary.Size);
        Assert.True(summary.Flags!.Value.HasFlag(MessageFlags.Seen));

        var folders = await client.GetFoldersAsync(client.PersonalNamespaces[0]);
        var names = folders.Select(f => f.FullName).ToList();
        foreach (var name in new[] { "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive" })
            Assert.Contains(name, names);
        Assert.True(folders.Single(f => f.FullName == "Sent").Attributes.HasFlag(FolderAttributes.Sent));
        Assert.True(folders.Single(f => f.FullName == "Archive").Attributes.HasFlag(FolderAttributes.Archive));
        Assert.Equal("Sent", client.GetFolder(SpecialFolder.Sent)?.FullName);
        Assert.Equal("Trash", client.GetFolder(SpecialFolder.Trash)?.FullName);

        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_wrong_password_is_refused()
    {
        await using var dovecot = await DovecotInstance.StartAsync(password: "right-password");
        using var client = new ImapClient();
        await client.ConnectAsync(dovecot.Host, dovecot.Port, SecureSocketOptions.None);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(dovecot.User, "wrong-password"));
    }
}
