using Gateway.Imap;
using Gateway.Smtp;

namespace Gateway.Storage;

/// <summary>
/// Checks AUTH credentials against the user store. An unknown user costs the same Argon2id work as a known
/// one, so response time does not reveal which addresses exist.
/// </summary>
public sealed class UserAuthenticator(IUserStore users) : ISmtpAuthenticator, IImapAuthenticator
{
    static readonly Lazy<string> DummyHash = new(() => PasswordHasher.Hash(Guid.NewGuid().ToString()));

    public ValueTask<string?> AuthenticateAsync(string user, string password, CancellationToken cancellationToken)
    {
        if (user.Length is 0 or > 320 || password.Length > 1024) return ValueTask.FromResult<string?>(null);
        return new ValueTask<string?>(Task.Run(() =>
        {
            var record = users.Find(user);
            var ok = PasswordHasher.Verify(password, record?.PasswordHash ?? DummyHash.Value);
            return ok && record is not null ? record.Address : null;
        }, cancellationToken));
    }
}
