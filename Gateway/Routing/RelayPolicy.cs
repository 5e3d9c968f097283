using Gateway.Configuration;
using Gateway.Smtp;
using Gateway.Storage;

namespace Gateway.Routing;

/// <summary>
/// Who may send and receive through this courier. On the delivery port only the served domains are accepted
/// (no open relay); on the submission port an authenticated user may send anywhere, but only as themselves.
/// </summary>
public sealed class RelayPolicy(RouteTable routes, IUserStore users) : ISmtpPolicy
{
    public ValueTask<SmtpReply?> CheckSenderAsync(SmtpSessionInfo session, SmtpMailbox? sender, CancellationToken cancellationToken)
    {
        if (session.Role == ListenerRole.Submission)
        {
            if (sender is null || session.AuthenticatedUser is null ||
                !string.Equals(sender.Address, session.AuthenticatedUser, StringComparison.OrdinalIgnoreCase))
                return Refuse(553, "5.7.1", $"Sender address <{sender?.Address}> is not owned by user {session.AuthenticatedUser}");
        }
        return Accept();
    }

    public ValueTask<SmtpReply?> CheckRecipientAsync(SmtpSessionInfo session, SmtpMailbox recipient, CancellationToken cancellationToken)
    {
        var hop = routes.Resolve(recipient.Domain);
        switch (hop)
        {
            case NextHop.LocalMailbox:
                return users.Find(recipient.Address) is not null
                    ? Accept()
                    : Refuse(550, "5.1.1", $"Recipient <{recipient.Address}> does not exist here");
            case NextHop.Static when routes.IsServed(recipient.Domain):
                return Accept();
            default:
                if (session.Role == ListenerRole.Submission && session.AuthenticatedUser is not null)
                    return Accept();
                return Refuse(550, "5.7.1", $"Relaying denied: {recipient.Domain} is not served here; authenticate on the submission port to send elsewhere");
        }
    }

    static ValueTask<SmtpReply?> Accept() => ValueTask.FromResult<SmtpReply?>(null);
    static ValueTask<SmtpReply?> Refuse(int code, string enhanced, string text) => ValueTask.FromResult<SmtpReply?>(new SmtpReply(code, enhanced, text));
}
