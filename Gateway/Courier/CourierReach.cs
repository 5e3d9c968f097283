namespace Gateway.Courier;

/// <summary>
/// Whether an address is reached through the courier network (a local user, a known courier, a Deferral to the
/// superior or an Invitation) rather than as plain outside mail; the Agent splits a local user's mail for these.
/// It asks the Foreground's router (the Background's makes the same decision from its own table).
/// </summary>
public sealed class CourierReach(Func<string, bool> servedByCouriers)
{
    public bool Serves(string address) => servedByCouriers(address);
}
