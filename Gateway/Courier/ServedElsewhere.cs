namespace Gateway.Courier;

/// <summary>
/// Addresses of our domains that another courier serves now (a user transferred there, or one an Invitation Reject
/// named), as the Foreground's peer table knows them: mail for them is still accepted here and passed on to that
/// courier (courier mail through the elements, other mail to its delivery listener).
/// </summary>
public sealed class ServedElsewhere(Func<PeerTable?> foregroundPeers)
{
    /// <summary>The host:port of the courier serving <paramref name="address"/>, or null.</summary>
    public string? EndpointOf(string address) =>
        foregroundPeers()?.ServingAddress(address) is { Endpoint.Length: > 0 } peer ? peer.Endpoint : null;
}
