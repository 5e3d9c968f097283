using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Crypto;
using MimeKit;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>The messages of a user's Key Replacement, in the order they go.</summary>
public enum KeyReplacementKind
{
    /// <summary>Foreground -> (Background) -> the user's Agent: replace this user's key now.</summary>
    NoticeToRekey,
    /// <summary>Agent -> Foreground: the user's new certificate (signed with the new key); Foreground -> (Background) ->
    /// Agent: the elements' introduction certificates, the Foreground's half of the exchange.</summary>
    ExchangeKeys,
    /// <summary>Agent -> Foreground: the Agent uses the new key from now on (the old one is kept for old mail).</summary>
    RekeyingComplete,
    /// <summary>Foreground -> Background, one-way and never answered: re-wrap ARMs to the user's new certificate.</summary>
    BackgroundKeyReplacement,
}

/// <summary>What a Key Replacement message says (JSON, <see cref="MediaType"/>).</summary>
public sealed record KeyReplacementBody
{
    public const string MediaType = "application/vnd.gateway.key-replacement+json";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public KeyReplacementKind Kind { get; init; }
    /// <summary>The Key Replacement this message belongs to (the Foreground's record).</summary>
    public string Id { get; init; } = "";
    public string Address { get; init; } = "";
    /// <summary>Notice to Rekey: why ("operator", "expiry").</summary>
    public string Reason { get; init; } = "";
    /// <summary>The user's new certificate (DER): Exchange Keys from the Agent, Rekeying Complete, Background Key Replacement.</summary>
    public byte[]? Certificate { get; init; }
    /// <summary>Exchange Keys from the Foreground: the Foreground's and the Background's introduction certificates (DER).</summary>
    public List<byte[]> ElementCertificates { get; init; } = new();
    /// <summary>Registration Transfer (Notice to Rekey carrying the new configuration, and the Agent's Exchange Keys
    /// accepting it): the courier the user moves to, where its elements listen, and the user's certificate made there.</summary>
    public string? Courier { get; init; }
    public string? ForegroundEndpoint { get; init; }
    public string? BackgroundEndpoint { get; init; }
    public byte[]? NewCertificate { get; init; }
    public DateTimeOffset CreatedUtc { get; init; }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static KeyReplacementBody Parse(byte[] json)
    {
        try { return JsonSerializer.Deserialize<KeyReplacementBody>(json, Json) ?? throw new PartRejectedException("the Key Replacement message is empty"); }
        catch (JsonException ex) { throw new PartRejectedException("the Key Replacement message is not valid: " + ex.Message, ex); }
    }
}

/// <summary>
/// Key Replacement between the Foreground, the Background and the user's Agent, as S/MIME messages like every other
/// message between a courier's roles, so each can run on a host of its own:
/// <list type="bullet">
/// <item>for the Agent (Notice to Rekey, the Foreground's Exchange Keys): signed by the Foreground and sealed to the
/// user's current certificate, which only the Agent's key opens; the Background carries it inside an envelope of its
/// own (signed by the Foreground, sealed to the Background) that names the user and nothing else;</item>
/// <item>from the Agent (Exchange Keys, Rekeying Complete): signed by the user's new key, a certificate only this
/// courier's CA can have issued, sealed to the Foreground;</item>
/// <item>Background Key Replacement: signed by the Foreground, sealed to the Background.</item>
/// </list>
/// </summary>
public static class KeyReplacementMessage
{
    /// <summary>Names a message for the Agent (the name it is kept under: the same message twice is one).</summary>
    public const string NameHeader = "X-Gateway-Key-Replacement";
    const string RelayMediaType = "message/vnd.gateway.for-agent";

    public static string Subject(KeyReplacementKind kind) => kind switch
    {
        KeyReplacementKind.NoticeToRekey => "Notice to Rekey",
        KeyReplacementKind.ExchangeKeys => "Exchange Keys",
        KeyReplacementKind.RekeyingComplete => "Rekeying Complete",
        _ => "Background Key Replacement",
    };

    /// <summary>The kind a subject names, if it names one (how an element host tells these from other traffic before opening them).</summary>
    public static KeyReplacementKind? KindOfSubject(string? subject) =>
        Enum.GetValues<KeyReplacementKind>().Cast<KeyReplacementKind?>().FirstOrDefault(k => Subject(k!.Value) == subject?.Trim());

    static string Prefix(KeyReplacementKind kind) => kind switch
    {
        KeyReplacementKind.NoticeToRekey => "ntr-",
        KeyReplacementKind.ExchangeKeys => "exk-",
        KeyReplacementKind.RekeyingComplete => "rkc-",
        _ => "bkr-",
    };

    /// <summary>The inbox name of a message: its kind's prefix and a suffix unique to it.</summary>
    public static string NameOf(KeyReplacementKind kind, string suffix) => Prefix(kind) + suffix;

    /// <summary>Whether an inbox name is a Key Replacement message's.</summary>
    public static bool IsName(string name) => Enum.GetValues<KeyReplacementKind>().Any(k => name.StartsWith(Prefix(k), StringComparison.Ordinal));

    static MimeEntity Part(KeyReplacementBody body) => CourierMime.Part(KeyReplacementBody.MediaType, body.ToJson());

    /// <summary>The body of a (decrypted, verified) Key Replacement part.</summary>
    public static KeyReplacementBody BodyOf(MimeEntity entity) =>
        entity is MimePart { ContentType.MimeType: KeyReplacementBody.MediaType } part
            ? KeyReplacementBody.Parse(CourierMime.Decode(part))
            : throw new PartRejectedException("not a Key Replacement message");

    /// <summary>
    /// From the Foreground, for the user's Agent: signed by the Foreground, sealed to the user, wrapped for the
    /// Background that carries it. Returns the Background's message (its inbox name is the Agent's message's name).
    /// </summary>
    public static (string Name, byte[] Bytes) ForAgent(CourierSecureMimeContext context, IKeyRing foregroundKeys, CourierIdentity identity, X509Certificate user,
        KeyReplacementBody body)
    {
        var foreground = identity.ElementAddress(CourierElement.Foreground) ?? throw new PartRejectedException("the Foreground has no certificate yet");
        var signer = PartEnvelope.Signer(foregroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var name = NameOf(body.Kind, body.Id);
        var forAgent = CourierMime.Message(foreground, body.Address, Subject(body.Kind), PartEnvelope.Seal(context, signer, user, Part(body)));
        forAgent.Headers.Add(NameHeader, name);
        // The Background learns whom to carry it to, and that it is a Key Replacement; nothing else.
        var carried = new Multipart("mixed")
        {
            Part(new KeyReplacementBody { Kind = body.Kind, Id = body.Id, Address = body.Address, CreatedUtc = body.CreatedUtc }),
            CourierMime.Part(RelayMediaType, CourierMime.Bytes(forAgent)),
        };
        var background = identity.ElementCertificate(CourierElement.Background) ?? throw new PartRejectedException("the Background has no certificate yet");
        var message = CourierMime.Message(foreground, identity.ElementAddress(CourierElement.Background)!, Subject(body.Kind), PartEnvelope.Seal(context, signer, background, carried));
        return (name, CourierMime.Bytes(message));
    }

    /// <summary>Background Key Replacement: signed by the Foreground, sealed to the Background.</summary>
    public static (string Name, byte[] Bytes) ForBackground(CourierSecureMimeContext context, IKeyRing foregroundKeys, CourierIdentity identity, KeyReplacementBody body)
    {
        var signer = PartEnvelope.Signer(foregroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var background = identity.ElementCertificate(CourierElement.Background) ?? throw new PartRejectedException("the Background has no certificate yet");
        var message = CourierMime.Message(identity.ElementAddress(CourierElement.Foreground)!, identity.ElementAddress(CourierElement.Background)!,
            Subject(body.Kind), PartEnvelope.Seal(context, signer, background, Part(body)));
        return (NameOf(body.Kind, body.Id), CourierMime.Bytes(message));
    }

    /// <summary>What the Background finds: a message to carry to the Agent (<c>ForAgent</c> set), or a Background Key Replacement.</summary>
    public sealed record AtBackground(KeyReplacementBody Body, byte[]? ForAgent);

    /// <summary>Opens a Key Replacement message with the Background's keys: it must be signed by this courier's own Foreground.</summary>
    public static AtBackground OpenAtBackground(CourierSecureMimeContext context, CourierIdentity identity, MimeMessage message)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: identity.ElementAddress(CourierElement.Foreground) ?? "foreground@invalid");
        if (opened.Entity is Multipart { Count: 2 } relay && relay[1] is MimePart { ContentType.MimeType: RelayMediaType } inner)
        {
            var header = BodyOf(relay[0]);
            if (header.Kind is not (KeyReplacementKind.NoticeToRekey or KeyReplacementKind.ExchangeKeys))
                throw new PartRejectedException($"a {header.Kind} is not carried to the Agent");
            return new AtBackground(header, CourierMime.Decode(inner));
        }
        var body = BodyOf(opened.Entity);
        if (body.Kind != KeyReplacementKind.BackgroundKeyReplacement) throw new PartRejectedException($"a {body.Kind} is not for the Background");
        return new AtBackground(body, null);
    }

    /// <summary>Opens a message for the Agent with the user's keys: it must be signed by this courier's Foreground and name
    /// the user it was sealed to (<paramref name="recipient"/>, when known).</summary>
    public static KeyReplacementBody OpenAtAgent(CourierSecureMimeContext context, CourierIdentity identity, MimeMessage message, string? recipient = null)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: identity.ElementAddress(CourierElement.Foreground) ?? "foreground@invalid");
        var body = BodyOf(opened.Entity);
        if (body.Kind is not (KeyReplacementKind.NoticeToRekey or KeyReplacementKind.ExchangeKeys))
            throw new PartRejectedException($"a {body.Kind} is not for the Agent");
        if (recipient is not null && !string.Equals(recipient, body.Address, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the {Subject(body.Kind)} for <{body.Address}> was sent to <{recipient}>");
        if (message.Headers[NameHeader]?.Trim() != NameOf(body.Kind, body.Id))
            throw new PartRejectedException($"the {Subject(body.Kind)} is not named as the one it holds");
        return body;
    }

    /// <summary>From the Agent to the Foreground: signed by the user's current (new) key, sealed to the Foreground.</summary>
    public static (string Name, byte[] Bytes) FromAgent(CourierSecureMimeContext context, IKeyRing agentKeys, CourierIdentity identity, KeyReplacementBody body)
    {
        var signer = PartEnvelope.Signer(agentKeys, CourierSecureMimeContext.UserKeyId(body.Address));
        var foreground = identity.ElementCertificate(CourierElement.Foreground) ?? throw new PartRejectedException("the Foreground's certificate is not known here");
        var message = CourierMime.Message(body.Address, identity.ElementAddress(CourierElement.Foreground)!, Subject(body.Kind),
            PartEnvelope.Seal(context, signer, foreground, Part(body)));
        return (NameOf(body.Kind, body.Id), CourierMime.Bytes(message));
    }

    /// <summary>
    /// Opens one from the Agent with the Foreground's keys: signed by the very user it names, with a certificate this
    /// courier's CA (<paramref name="ownCa"/>) issued, which is the certificate it carries: only the holder of the new
    /// key can announce it.
    /// </summary>
    public static KeyReplacementBody OpenFromAgent(CourierSecureMimeContext context, X509Certificate? ownCa, MimeMessage message) =>
        OpenFromAgent(context, ownCa, message, out _);

    /// <param name="signed">The Agent's signed entity as it is (what a Foreground passes on to another courier unchanged,
    /// so that it checks the user's signature too).</param>
    public static KeyReplacementBody OpenFromAgent(CourierSecureMimeContext context, X509Certificate? ownCa, MimeMessage message, out MimeEntity signed)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
        signed = opened.Signed;
        if (ownCa is null || !opened.Signer.IssuerDN.Equivalent(ownCa.SubjectDN))
            throw new PartRejectedException($"the Key Replacement message is signed by <{opened.SignerAddress}>, who is not a user of this courier");
        var body = BodyOf(opened.Entity);
        if (body.Kind is not (KeyReplacementKind.ExchangeKeys or KeyReplacementKind.RekeyingComplete))
            throw new PartRejectedException($"a {body.Kind} does not come from the Agent");
        if (!string.Equals(body.Address, opened.SignerAddress, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the {Subject(body.Kind)} for <{body.Address}> is signed by <{opened.SignerAddress}>");
        if (body.Certificate is not { } der || !new X509Certificate(der).Equals(opened.Signer))
            throw new PartRejectedException($"the {Subject(body.Kind)} for <{body.Address}> is not signed with the key it announces");
        return body;
    }
}
