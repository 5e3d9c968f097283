using MailKit.Net.Imap;
using MailKit.Security;

namespace Gateway.Tests.Support;

/// <summary>MailKit as a mail program would use it against a gateway: implicit TLS on loopback (test certificate accepted), logged in.</summary>
public static class ImapClients
{
    public static async Task<ImapClient> ConnectAsync(int imapsPort, string user, string password)
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", imapsPort, SecureSocketOptions.SslOnConnect);
        await client.AuthenticateAsync(user, password);
        return client;
    }
}
