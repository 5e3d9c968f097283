using System.Net.Security;
using Gateway.Configuration;

namespace Gateway.Imap;

/// <summary>What an IMAP session needs to know of its listener and limits.</summary>
public sealed class ImapSessionSettings
{
    public required string Hostname { get; init; }
    public required ListenerOptions Listener { get; init; }
    public required ImapOptions Limits { get; init; }
    public required Func<SslServerAuthenticationOptions> TlsOptions { get; init; }
    /// <summary>Time allowed to log in; RFC 3501 5.4's 30-minute autologout applies once authenticated.</summary>
    public TimeSpan PreAuthTimeout { get; init; } = TimeSpan.FromMinutes(3);
    /// <summary>Malformed or refused commands after which the session is closed.</summary>
    public int MaxBadCommands { get; init; } = 20;
}

/// <summary>Verifies LOGIN and AUTHENTICATE credentials.</summary>
public interface IImapAuthenticator
{
    /// <summary>The canonical user name on success, null on failure; takes the same time whether or not the user exists.</summary>
    ValueTask<string?> AuthenticateAsync(string user, string password, CancellationToken cancellationToken);
}

/// <summary>Counts sessions per user so one account cannot hold every connection (ImapOptions.MaxConnectionsPerUser).</summary>
public sealed class ImapUserSessions(int maxPerUser)
{
    readonly Dictionary<string, int> _count = new(StringComparer.OrdinalIgnoreCase);

    public bool TryAcquire(string user)
    {
        lock (_count)
        {
            _count.TryGetValue(user, out var n);
            if (n >= maxPerUser) return false;
            _count[user] = n + 1;
            return true;
        }
    }

    public void Release(string user)
    {
        lock (_count)
        {
            if (_count.TryGetValue(user, out var n)) { if (n <= 1) _count.Remove(user); else _count[user] = n - 1; }
        }
    }
}
