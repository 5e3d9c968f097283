namespace Gateway.Courier;

/// <summary>
/// What the registration page needs: to check a link from an Invitation and to register the person who opened it.
/// The Foreground's <see cref="InvitationDesk"/> in one process; with the Agent on a host of its own,
/// <see cref="Gateway.Web.RemoteRegistrationDesk"/> there (which asks the Foreground's desk over HTTPS).
/// </summary>
public interface IRegistrationDesk
{
    /// <summary>The open invitation a link names; <see cref="RegistrationException"/> says why the link does not work.</summary>
    Task<InvitationRecord> CheckAsync(string? token, CancellationToken cancellationToken);

    /// <summary>Creates the account with <paramref name="password"/> and the user's certificate, tells the elements, sends the welcome mail.</summary>
    Task<InvitationRecord> RegisterAsync(string token, string password, CancellationToken cancellationToken);
}
