namespace Gateway.Courier;

/// <summary>
/// The Foreground's side of Invitations: inviting an unknown address (a Public courier), noting that an invitation
/// was answered by an Invitation Reject,.
/// </summary>
public interface IInvitationDesk
{
    /// <summary>Invites the address (once: a second part for the same address joins the open invitation).</summary>
    Task InviteAsync(string address, string sender, string messageId, CancellationToken cancellationToken);

    /// <summary>Another courier answered our invitation: the address is served there; the registration is cancelled.</summary>
    void Answered(string invitationId, string? address, string courier);
}
