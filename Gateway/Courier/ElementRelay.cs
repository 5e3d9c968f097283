using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Microsoft.Extensions.Logging;
using MimeKit;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>
/// The federation side of one element (Foreground or Background): it forwards parts to peer elements as
/// Inter-Courier messages (relay to a known courier, Deferral to the superior), introduces the element to other
/// couriers, and learns peers from what arrives (a courier below us, the originator of a deferred part, an
/// Introduction). Everything it knows is in this element's own <see cref="PeerTable"/>; everything it sends goes
/// through this element's own <see cref="PeerOutbox"/>, signed with this element's introduction key.
/// </summary>
public sealed class ElementRelay(
    CourierElement element,
    IKeyRing keys,
    CertificateDirectory directory,
    CourierIdentity identity,
    PeerTable peers,
    PeerOutbox outbox,
    CourierRouter router,
    string ownEndpoint,
    Func<IReadOnlyList<X509Certificate>> ownChain,
    Func<IReadOnlyList<string>> ownDomains,
    ILogger logger,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    public CourierElement Element => element;
    public CourierRouter Router => router;
    public PeerTable Peers => peers;
    public PeerOutbox Outbox => outbox;
    public string Endpoint => ownEndpoint;

    string Name => element == CourierElement.Foreground ? "Foreground" : "Background";

    /// <summary>This courier's id (the DNS name in our introduction certificates), or null before the courier has them.</summary>
    public string? CourierId => identity.ElementCertificate(element) is { } c ? InterCourierMessage.IntroductionOf(c)?.Courier : null;

    /// <summary>A Gateway courier handles the Introductions of the couriers below it: parts from below leave it with it as
    /// their originator, and it introduces itself to whoever writes to them.</summary>
    public bool IsGateway => router.Role == CourierRole.Gateway;

    /// <summary>This courier's superior is a Gateway courier: it never introduces itself past it (the Gateway does, for it).</summary>
    public bool BehindGateway => peers.Superior() is { Role: CourierRole.Gateway };

    /// <summary>The domains this courier answers for to other couriers: its own, and for a Gateway courier those of the couriers below it.</summary>
    public List<string> AnsweredDomains() =>
        ownDomains().Concat(IsGateway ? peers.All().Where(p => p.Below).SelectMany(p => p.Domains) : Enumerable.Empty<string>())
            .Select(d => d.ToLowerInvariant()).Distinct().ToList();

    /// <summary>This element's introduction certificate and our CA chain: how a Deferral names us as its originator.</summary>
    List<X509Certificate> OwnOriginChain() => new[] { identity.ElementCertificate(element)! }.Concat(ownChain()).ToList();

    CmsSignerFactory Signer => () => PartEnvelope.Signer(keys, CourierAuthority.IntroductionKeyId(element), ownChain());
    delegate MimeKit.Cryptography.CmsSigner CmsSignerFactory();

    /// <summary>
    /// Queues a part (the sender's signed entity, unchanged) for a peer element. For a part received from another
    /// courier, the way it came is kept: its originator (the courier a Deferral started at) travels on, so that the
    /// recipient's courier can introduce itself back to it.
    /// </summary>
    public void Forward(CourierSecureMimeContext context, PeerRecord peer, InterCourierKind kind, string messageId, MimeEntity payload,
        IReadOnlyList<string> recipients, string sender, string? internetMessageId, InterCourierEnvelope? received, bool deferral)
    {
        var own = CourierId ?? throw new PartRejectedException("this courier has no introduction certificate yet");
        if (peer.IntroductionCertificate.Length == 0 || peer.Endpoint.Length == 0)
            throw new PartRejectedException($"peer {peer.Id} has no introduction certificate or endpoint on record");
        var peerCertificate = new X509Certificate(peer.IntroductionCertificate);

        string? originCourier = null, originEndpoint = null;
        IReadOnlyList<X509Certificate>? originChain = null;
        List<string>? originDomains = null;
        if (received is not null && IsGateway && (IsFromBelow(received) || peer.Below))
        {
            // A Gateway courier stands in for the couriers below it: the recipient's courier introduces itself to us,
            // and learns that we answer for their domains; a part going down arrives from us, whom they know.
            (originCourier, originEndpoint, originChain, originDomains) = (own, ownEndpoint, OwnOriginChain(), AnsweredDomains());
        }
        else if (received is not null)
        {
            // Passing a part on: its originator is the first courier of the way (the sender, if it came directly).
            if (received.Header.OriginCourier is not null)
                (originCourier, originEndpoint, originChain, originDomains) = (received.Header.OriginCourier, received.Header.OriginEndpoint, received.OriginChain, received.Header.OriginDomains);
            else
                (originCourier, originEndpoint, originChain) = (received.Header.FromCourier, received.Header.FromEndpoint, new[] { received.Signer }.Concat(received.SignerChain).ToList());
        }
        else if (deferral)
        {
            // A Deferral of our own user's part: it carries our certificate so that the recipient's courier introduces itself back.
            (originCourier, originEndpoint, originChain, originDomains) = (own, ownEndpoint, OwnOriginChain(), AnsweredDomains());
        }

        var header = new InterCourierHeader
        {
            Kind = kind, MessageId = messageId, FromCourier = own, FromElement = element, FromEndpoint = ownEndpoint,
            OriginCourier = originCourier, OriginEndpoint = originEndpoint, OriginDomains = originDomains, Recipients = recipients.ToList(),
            Hops = (received?.Header.Hops ?? 0) + 1, CreatedUtc = _time.GetUtcNow(),
        };
        if (header.Hops > CourierRouter.MaxHops)
            throw new PartRejectedException($"{messageId} would make its hop number {header.Hops}; at most {CourierRouter.MaxHops} are allowed (a routing loop?)");
        var message = InterCourierMessage.Build(context, Signer(), identity.ElementAddress(element)!, peerCertificate, header, payload, originChain);
        var id = OutboxId(kind.ToString(), messageId, peer.Id, string.Join(",", recipients));
        var queued = outbox.Enqueue(new OutboundEntry
        {
            Id = id, Endpoint = peer.Endpoint, Peer = peer.Id, From = identity.ElementAddress(element)!, To = Certificates.EmailOf(peerCertificate)!,
            Kind = kind, MessageId = messageId, Sender = sender, InternetMessageId = internetMessageId, Recipients = recipients.ToList(),
            CreatedUtc = _time.GetUtcNow().UtcDateTime, NextAttemptUtc = _time.GetUtcNow().UtcDateTime,
        }, stream => CourierMime.WriteTo(message, stream));
        if (queued)
            logger.LogInformation("{Element} {How} {Kind} {MessageId} for {Recipients} to {Peer} at {Endpoint} (hop {Hops})", Name,
                deferral ? "defers" : "relays", kind, messageId, string.Join(", ", recipients), peer.Id, peer.Endpoint, header.Hops);
    }

    /// <summary>How one part's recipients go on from this element.</summary>
    public sealed record RoutingPlan(IReadOnlyList<string> Local, IReadOnlyList<(PeerRecord Peer, IReadOnlyList<string> Recipients, bool Deferral)> Forward,
        IReadOnlyList<string> Invite, IReadOnlyList<(string Recipient, string Why)> Held);

    /// <summary>Routes each recipient with this element's router; recipients for the same peer travel in one message.</summary>
    public RoutingPlan Plan(IEnumerable<string> recipients, bool deferredFromBelow)
    {
        var local = new List<string>();
        var invite = new List<string>();
        var held = new List<(string, string)>();
        var forward = new Dictionary<string, (PeerRecord Peer, List<string> Recipients, bool Deferral)>(StringComparer.OrdinalIgnoreCase);
        foreach (var recipient in recipients.Select(r => r.ToLowerInvariant()).Distinct())
        {
            switch (router.Decide(recipient, deferredFromBelow))
            {
                case CourierRoute.Deliver: local.Add(recipient); break;
                case CourierRoute.Relay relay:
                    (forward.TryGetValue(relay.Peer.Id, out var r) ? r : forward[relay.Peer.Id] = (relay.Peer, new List<string>(), false)).Recipients.Add(recipient);
                    break;
                case CourierRoute.Defer when peers.Superior() is { } superior:
                    (forward.TryGetValue(superior.Id, out var d) ? d : forward[superior.Id] = (superior, new List<string>(), true)).Recipients.Add(recipient);
                    break;
                case CourierRoute.Invite: invite.Add(recipient); break;
                case CourierRoute.Hold hold: held.Add((recipient, hold.Why)); break;
                default: held.Add((recipient, $"no courier known to this one serves {recipient}")); break;
            }
        }
        return new RoutingPlan(local, forward.Values.Select(f => (f.Peer, (IReadOnlyList<string>)f.Recipients, f.Deferral)).ToList(), invite, held);
    }

    /// <summary>Whether a recipient can go somewhere now (a local user, or a courier that serves it): held parts are tried again for these.</summary>
    public bool IsRoutable(string recipient, bool deferredFromBelow = false) => router.Decide(recipient, deferredFromBelow) is CourierRoute.Deliver or CourierRoute.Relay;

    /// <summary>Whether the sender of a received part is a courier directly below this one (its parts may be deferred further up).</summary>
    public bool IsFromBelow(InterCourierEnvelope received)
    {
        var ca = received.SignerChain.FirstOrDefault(c => c.SubjectDN.Equivalent(received.Signer.IssuerDN));
        var ourCa = ownChain().FirstOrDefault();
        return ca is not null && ourCa is not null && ca.IssuerDN.Equivalent(ourCa.SubjectDN);
    }

    /// <summary>Queues an Introduction of this element to a peer element.</summary>
    public void Introduce(CourierSecureMimeContext context, string peerId, string endpoint, X509Certificate peerIntroduction, IntroductionBody body)
    {
        var own = CourierId ?? throw new PartRejectedException("this courier has no introduction certificate yet");
        var header = new InterCourierHeader
        {
            Kind = InterCourierKind.Introduction, FromCourier = own, FromElement = element, FromEndpoint = ownEndpoint, CreatedUtc = _time.GetUtcNow(),
        };
        var payload = CourierMime.Part(IntroductionBody.MediaType, body.ToJson());
        var message = InterCourierMessage.Build(context, Signer(), identity.ElementAddress(element)!, peerIntroduction, header, payload);
        var id = OutboxId("introduction", body.Reason + body.InvitationId, peerId, endpoint, string.Join(",", body.Domains));
        if (outbox.Enqueue(new OutboundEntry
            {
                Id = id, Endpoint = endpoint, Peer = peerId, From = identity.ElementAddress(element)!, To = Certificates.EmailOf(peerIntroduction)!,
                Kind = InterCourierKind.Introduction, CreatedUtc = _time.GetUtcNow().UtcDateTime, NextAttemptUtc = _time.GetUtcNow().UtcDateTime,
            }, stream => CourierMime.WriteTo(message, stream)))
            logger.LogInformation("{Element} introduces itself to {Peer} at {Endpoint} ({Reason})", Name, peerId, endpoint, body.Reason);
    }

    /// <summary>An element-to-element message of this courier's own making (Registration Transfer), signed by this
    /// element and sealed to the peer's same element, queued durably for its endpoint.</summary>
    public void SendToPeer(CourierSecureMimeContext context, PeerRecord peer, InterCourierKind kind, string id, MimeEntity payload)
    {
        var own = CourierId ?? throw new PartRejectedException("this courier has no introduction certificate yet");
        if (peer.IntroductionCertificate.Length == 0 || peer.Endpoint.Length == 0)
            throw new PartRejectedException($"peer {peer.Id} has no introduction certificate or endpoint on record");
        var peerCertificate = new X509Certificate(peer.IntroductionCertificate);
        var header = new InterCourierHeader
        {
            Kind = kind, MessageId = id, FromCourier = own, FromElement = element, FromEndpoint = ownEndpoint, CreatedUtc = _time.GetUtcNow(),
        };
        var message = InterCourierMessage.Build(context, Signer(), identity.ElementAddress(element)!, peerCertificate, header, payload);
        outbox.Enqueue(new OutboundEntry
        {
            Id = OutboxId(kind.ToString(), id, peer.Id), Endpoint = peer.Endpoint, Peer = peer.Id, From = identity.ElementAddress(element)!,
            To = Certificates.EmailOf(peerCertificate)!, Kind = kind, MessageId = id, CreatedUtc = _time.GetUtcNow().UtcDateTime, NextAttemptUtc = _time.GetUtcNow().UtcDateTime,
        }, stream => CourierMime.WriteTo(message, stream));
        logger.LogInformation("{Element} sends {Kind} {Id} to {Peer} at {Endpoint}", Name, kind, id, peer.Id, peer.Endpoint);
    }

    /// <summary>What this courier says of itself in an Introduction: its domains (as its certificate allows them).</summary>
    public IntroductionBody Describe(string reason, string? invitationId = null, string? address = null) =>
        new() { Domains = AnsweredDomains(), Reason = reason, InvitationId = invitationId, Address = address };

    /// <summary>A courier that joined under a superior introduces itself to it once (recorded in the peer table).</summary>
    public void IntroduceToSuperior(CourierSecureMimeContext context)
    {
        if (peers.Superior() is not { IntroducedUtc: null } superior || superior.IntroductionCertificate.Length == 0 || CourierId is null) return;
        Introduce(context, superior.Id, superior.Endpoint, new X509Certificate(superior.IntroductionCertificate), Describe("superior"));
        peers.MarkIntroduced(superior.Id, _time.GetUtcNow().UtcDateTime);
    }

    /// <summary>
    /// After a Key Replacement of the courier (<c>gateway rekey courier</c>, or before expiry): this element introduces
    /// itself again, with its new certificate, to every peer it knows, which record it in place of the old one. The
    /// serial last announced is kept in the peer table; the first look only records it.
    /// </summary>
    public void AnnounceNewCertificate(CourierSecureMimeContext context)
    {
        if (identity.ElementCertificate(element) is not { } current || CourierId is null) return;
        var serial = current.SerialNumber.ToString(16);
        var announced = peers.AnnouncedCertificate;
        if (announced == serial) return;
        if (announced is not null)
            foreach (var peer in peers.All().Where(p => p.IntroductionCertificate.Length > 0 && p.Endpoint.Length > 0))
            {
                Introduce(context, peer.Id, peer.Endpoint, new X509Certificate(peer.IntroductionCertificate), Describe("rekey"));
                peers.MarkIntroduced(peer.Id, _time.GetUtcNow().UtcDateTime);
                logger.LogInformation("{Element} introduces its new certificate (serial {Serial}, was {Old}) to {Peer} (Key Replacement)", Name, serial, announced, peer.Id);
            }
        peers.AnnouncedCertificate = serial;
    }

    /// <summary>
    /// Records a peer from its introduction certificate and the CA chain it came with, after checking both up to the
    /// Root (revocation included). Its role comes from its courier certificate; the domains it may be routed to are its
    /// certificate's name constraints when it has them (a Private courier), else what it claims.
    /// </summary>
    /// <param name="introducedUtc">For an Introduction the peer sent: when it was made. One older than the newest taken
    /// adds what it says (domains, addresses) but never puts back the endpoint it names.</param>
    public PeerRecord Learn(CourierSecureMimeContext context, X509Certificate introduction, IReadOnlyList<X509Certificate> chain, string endpoint, PeerSource source,
        IEnumerable<string> claimedDomains, IEnumerable<string> addresses, DateTimeOffset? introducedUtc = null)
    {
        if (InterCourierMessage.IntroductionOf(introduction) is not { } named || named.Element != element)
            throw new PartRejectedException($"'{introduction.SubjectDN}' is not a {Name} introduction certificate");
        // A certificate is replaced only by a newer one: an Introduction recorded before the peer's Key Replacement and
        // sent again must not put the retired certificate (and the endpoint of that time) back.
        var existing = peers.Find(named.Courier);
        if (existing is { IntroductionCertificate.Length: > 0 } && new X509Certificate(existing.IntroductionCertificate) is var held
            && !held.Equals(introduction) && introduction.NotBefore <= held.NotBefore)
            throw new PartRejectedException(
                $"{named.Courier} presents {Name} certificate {introduction.SerialNumber.ToString(16)} issued {introduction.NotBefore:u}, not newer than " +
                $"certificate {held.SerialNumber.ToString(16)} issued {held.NotBefore:u} on record: an Introduction from before a Key Replacement (a replay?); " +
                $"if the peer really went back to it, fix: gateway peer forget {named.Courier} --element {element.ToString().ToLowerInvariant()}, then introduce it again");
        var stale = introducedUtc is { } at && existing?.LastIntroductionUtc is { } last && at.UtcDateTime <= last;
        if (stale && existing!.Endpoint.Length > 0 && !string.Equals(existing.Endpoint, endpoint, StringComparison.OrdinalIgnoreCase))
        {
            logger.LogWarning("{Element}: an Introduction from {Peer} made {At:u}, older than the last one taken ({Last:u}), names endpoint {Endpoint}; {Kept} is kept",
                Name, named.Courier, introducedUtc, existing.LastIntroductionUtc, endpoint, existing.Endpoint);
            endpoint = existing.Endpoint;
        }
        var validation = context.ValidateCertificate(introduction, chain);
        if (!validation.IsValid) throw new PartRejectedException($"the certificate of {named.Courier} is not trusted: {validation.Reason}");
        if (!Configuration.GatewayOptionsValidator.TryParseHostPort(endpoint, out _, out _))
            throw new PartRejectedException($"{named.Courier} gives no usable endpoint ('{endpoint}')");
        var courierCa = chain.FirstOrDefault(c => c.SubjectDN.Equivalent(introduction.IssuerDN))
                        ?? directory.All().FirstOrDefault(c => c.GetBasicConstraints() >= 0 && c.SubjectDN.Equivalent(introduction.IssuerDN))
                        ?? throw new PartRejectedException($"the courier certificate of {named.Courier} is missing");
        foreach (var ca in chain.Where(c => c.GetBasicConstraints() >= 0 && !IssuerChain.IsSelfIssued(c))) directory.Add(ca, "peer");
        var constraints = ConstraintDomains(courierCa);
        var domains = constraints.Count > 0
            ? claimedDomains.Select(d => d.ToLowerInvariant()).Where(d => constraints.Contains(d)).Union(constraints).ToList()
            : claimedDomains.Select(d => d.ToLowerInvariant()).ToList();
        var allowedAddresses = addresses.Select(a => a.ToLowerInvariant())
            .Where(a => constraints.Count == 0 || constraints.Any(d => a.EndsWith("@" + d, StringComparison.Ordinal) || a.EndsWith("." + d, StringComparison.Ordinal))).ToList();
        var ourCa = ownChain().FirstOrDefault();
        var answeredBefore = IsGateway ? AnsweredDomains() : null;
        var record = peers.Record(new PeerRecord
        {
            Id = named.Courier, Role = CourierAuthority.RoleOf(courierCa) ?? CourierRole.Private, Domains = domains, Addresses = allowedAddresses,
            Endpoint = endpoint, IntroductionCertificate = introduction.GetEncoded(),
            Below = ourCa is not null && courierCa.IssuerDN.Equivalent(ourCa.SubjectDN), LearntFrom = source,
            LastIntroductionUtc = stale ? null : introducedUtc?.UtcDateTime,
        }, _time.GetUtcNow().UtcDateTime);
        logger.LogInformation("{Element} recorded peer {Peer} ({Role}{Below}) at {Endpoint}, domains {Domains}{Addresses}, from {Source}", Name, record.Id,
            record.Role, record.Below ? ", below us" : "", record.Endpoint, record.Domains.Count > 0 ? string.Join(", ", record.Domains) : "-",
            record.Addresses.Count > 0 ? ", addresses " + string.Join(", ", record.Addresses) : "", source);
        if (answeredBefore is not null && AnsweredDomains().Except(answeredBefore).Any()) AnnounceDomains(context);
        return record;
    }

    /// <summary>
    /// A Gateway courier whose couriers below now serve more domains tells its superior and every courier it has
    /// introduced itself to (they route those domains to it; a courier behind it never tells them itself).
    /// </summary>
    void AnnounceDomains(CourierSecureMimeContext context)
    {
        var body = Describe("domains");
        foreach (var peer in peers.All().Where(p => !p.Below && p.IntroducedUtc is not null && p.IntroductionCertificate.Length > 0 && p.Endpoint.Length > 0))
        {
            Introduce(context, peer.Id, peer.Endpoint, new X509Certificate(peer.IntroductionCertificate), body);
            logger.LogInformation("{Element} tells {Peer} it now answers for {Domains}", Name, peer.Id, string.Join(", ", body.Domains));
        }
    }

    /// <summary>
    /// Learning from a part that arrived: a courier below us that writes to us is recorded (its traffic is how the
    /// hierarchy learns its members); when a Deferral's parts were delivered here (or, on a Gateway courier, passed
    /// to a courier below it), the originator is recorded and gets an Introduction from this element, so that its
    /// next parts come directly. A courier behind a Gateway courier introduces itself to no one but its Gateway.
    /// </summary>
    public void LearnFrom(CourierSecureMimeContext context, InterCourierEnvelope received, RoutingPlan plan)
    {
        var own = CourierId;
        var header = received.Header;
        if (peers.Find(header.FromCourier) is null && !string.Equals(header.FromCourier, own, StringComparison.OrdinalIgnoreCase) && IsFromBelow(received))
            Learn(context, received.Signer, received.SignerChain, header.FromEndpoint, PeerSource.Deferral, Array.Empty<string>(), Array.Empty<string>());
        var answersHere = plan.Local.Count > 0 || (IsGateway && plan.Forward.Any(f => f.Peer.Below));
        if (!answersHere || BehindGateway || header.OriginCourier is not { } origin || string.Equals(origin, own, StringComparison.OrdinalIgnoreCase)
            || string.Equals(origin, header.FromCourier, StringComparison.OrdinalIgnoreCase) || peers.Find(origin) is not null)
            return;
        if (received.OriginChain.Count == 0 || header.OriginEndpoint is null) return;
        var introduction = received.OriginChain[0];
        if (InterCourierMessage.IntroductionOf(introduction)?.Courier is not { } named || !string.Equals(named, origin, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the Deferral names {origin} as its originator but carries the certificate '{introduction.SubjectDN}'");
        var peer = Learn(context, introduction, received.OriginChain.Skip(1).ToList(), header.OriginEndpoint, PeerSource.Deferral,
            header.OriginDomains ?? new List<string>(), Array.Empty<string>());
        Introduce(context, peer.Id, peer.Endpoint, introduction, Describe("deferral"));
        peers.MarkIntroduced(peer.Id, _time.GetUtcNow().UtcDateTime);
    }

    /// <summary>An Introduction arrived: the peer is recorded (with the address it answers for, in an Invitation Reject).</summary>
    public (PeerRecord Peer, IntroductionBody Body) Accept(CourierSecureMimeContext context, InterCourierEnvelope received)
    {
        if (received.Payload is not MimePart { ContentType.MimeType: IntroductionBody.MediaType } part)
            throw new PartRejectedException("the Introduction carries no introduction body");
        var body = IntroductionBody.Parse(CourierMime.Decode(part));
        var source = body.InvitationId is not null ? PeerSource.InvitationReject : PeerSource.Introduction;
        var addresses = body.Address is { } a && source == PeerSource.InvitationReject ? new[] { a } : Array.Empty<string>();
        var peer = Learn(context, received.Signer, received.SignerChain, received.Header.FromEndpoint, source, body.Domains, addresses, received.Header.CreatedUtc);
        return (peer, body);
    }

    /// <summary>
    /// An Introduction by which a courier below this Gateway courier hands up an Invitation its user received: the
    /// Gateway answers the inviter in its place (Invitation Reject); returns false for any other Introduction.
    /// </summary>
    public bool AnswerInvitationFromBelow(CourierSecureMimeContext context, PeerRecord peer, IntroductionBody body)
    {
        if (body.Reason != IntroductionBody.InvitationRejectBelow) return false;
        if (!IsGateway || !peer.Below || body.Invitation is null)
            throw new PartRejectedException($"{peer.Id} hands up an Invitation, which only a courier directly below a Gateway courier may do");
        // Learn kept the address only if the courier below may serve it (its name constraints): we never answer for
        // an address it could not have.
        if (body.Address is not { } address || !peer.Addresses.Contains(address.ToLowerInvariant()))
            throw new PartRejectedException($"{peer.Id} hands up an Invitation for {body.Address}, an address it does not serve");
        InvitationMessage.Reject(context, this, MimeMessage.Load(new MemoryStream(body.Invitation, writable: false)), forCourierBelow: true);
        logger.LogInformation("{Element} answers the Invitation {InvitationId} for {Address} in place of {Peer}, a courier below this Gateway courier",
            Name, body.InvitationId, body.Address, peer.Id);
        return true;
    }

    /// <summary>The DNS domains a courier certificate's name constraints permit (a Private courier's domains), lower-cased.</summary>
    public static List<string> ConstraintDomains(X509Certificate courierCa)
    {
        var value = courierCa.GetExtensionValue(X509Extensions.NameConstraints);
        if (value is null) return new();
        var constraints = NameConstraints.GetInstance(Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(value.GetOctets()));
#pragma warning disable CS0618 // the replacement (GeneralSubtrees) offers no way to enumerate in this version
        var permitted = constraints.PermittedSubtrees;
#pragma warning restore CS0618
        if (permitted is null) return new();
        return permitted.OfType<object>().Select(o => GeneralSubtree.GetInstance(o).Base)
            .Where(n => n.TagNo == GeneralName.DnsName)
            .Select(n => n.Name.ToString()!.ToLowerInvariant()).Distinct().ToList();
    }

    static string OutboxId(params string[] parts)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", parts)));
        return Convert.ToHexString(hash, 0, 16).ToLowerInvariant();
    }
}
