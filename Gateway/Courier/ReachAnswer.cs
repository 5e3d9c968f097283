using Gateway.Crypto;

namespace Gateway.Courier;

/// <summary>
/// With the Agent on a host of its own, only the Foreground's router knows which addresses the courier network
/// serves (its peer table): the Agent asks it (<c>POST /courier/reach</c> with the addresses and a nonce) before it
/// splits a local user's mail, and takes the answer only when the Foreground signed it with that nonce. A forged or
/// replayed answer cannot send a message outside as plain mail.
/// </summary>
public sealed record ReachAnswer
{
    public const string MediaType = "application/vnd.gateway.reach+json";

    public string Nonce { get; init; } = "";
    /// <summary>The addresses asked about that go through the courier network.</summary>
    public List<string> Served { get; init; } = new();
    /// <summary>The addresses asked about that do not (Internet mail).</summary>
    public List<string> Outside { get; init; } = new();

    /// <summary>The answer as the Foreground sends it: opaque-signed by its introduction key.</summary>
    public byte[] Sign(IKeyRing foregroundKeys, CertificateDirectory directory) =>
        SignedJson.Sign(this, MediaType, foregroundKeys, directory, CourierElement.Foreground);

    /// <summary>Checks the Foreground's signature (chain, revocation, the signer is <paramref name="foreground"/>) and the nonce.</summary>
    public static ReachAnswer Open(CourierSecureMimeContext context, byte[] signed, string foreground, string nonce)
    {
        var answer = SignedJson.Open<ReachAnswer>(context, signed, MediaType, foreground);
        if (answer.Nonce != nonce) throw new PartRejectedException("the reach answer is for another question (a replay?)");
        return answer;
    }
}
