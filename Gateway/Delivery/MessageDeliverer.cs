using Gateway.Configuration;
using RouteOptions = Gateway.Configuration.RouteOptions;
using Gateway.Queue;
using Gateway.Routing;
using Gateway.Smtp;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Delivery;

/// <summary>
/// One delivery attempt for one queued message: routes each due recipient, delivers, records every outcome
/// durably, schedules retries with backoff, expires old mail, and queues the DSNs the sender asked for.
/// </summary>
public sealed class MessageDeliverer(
    GatewayOptions options,
    MessageQueue queue,
    RouteTable routes,
    MxResolver mx,
    SmtpRelay relay,
    LocalMailboxDelivery local,
    DsnBuilder dsn,
    RetrySchedule retry,
    Crypto.CertificateHarvester harvester,
    Courier.SubmissionAgent agent,
    Courier.OutsideDeliveryPolicy outside,
    Courier.InterCourierGate interCourier,
    Courier.CourierReach reach,
    Storage.IUserStore users,
    Courier.ForegroundDelivery foregroundDelivery,
    Courier.ServedElsewhere servedElsewhere,
    Courier.KeyReplacementIntake keyReplacement,
    MtaStsResolver mtaSts,
    ILogger<MessageDeliverer> logger,
    Courier.Portal.PortalAdmission? portal = null,
    TimeProvider? time = null)
{
    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Returns true when the message is finished and has been removed from the queue.</summary>
    public async Task<bool> AttemptAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var due = message.Recipients.Where(r => r.State == RecipientState.Pending && r.NextAttemptUtc <= now).ToList();

        // Inter-Courier mail for our elements goes to their inboxes; a local user's mail for recipients the courier
        // network serves is split by the Agent (it routes on through the elements); the rest by the route table.
        var toElements = due.Where(r => interCourier.ElementOf(r.Address) is not null).ToList();
        if (toElements.Count > 0)
            Apply(message, await HandToElementsAsync(message, toElements, cancellationToken), _time.GetUtcNow());
        var split = new List<QueuedRecipient>();
        var unsure = new List<RecipientOutcome>();
        if (options.Courier.Split && message.AuthenticatedUser is not null && message.Sender is not null)
            foreach (var r in due.Except(toElements).Where(r => HopOf(message, r) is not NextHop.LocalMailbox))
            {
                // With the Foreground on another host the answer comes from there; without it the message waits.
                try { if (reach.Serves(r.Address)) split.Add(r); }
                catch (Courier.PartRejectedException ex)
                {
                    logger.LogWarning("Message {QueueId}: cannot tell whether a courier serves {Recipient}: {Reason}; it waits", message.Id, r.Address, ex.Message);
                    unsure.Add(RecipientOutcome.Transient(r.Address, "4.4.0", ex.Message));
                }
            }
        // Outside recipients the pickup portal serves are split with the others (the courier keeps their content and
        // ARM as a guest's); each is then sent a notification with the link instead of the message.
        var toPortal = new List<QueuedRecipient>();
        if (portal is not null && options.Courier.Split && message.AuthenticatedUser is not null && message.Sender is not null)
            foreach (var r in due.Except(toElements).Except(split).Where(r => !unsure.Any(u => u.Address == r.Address)
                         && HopOf(message, r) is not NextHop.LocalMailbox && outside.UsesPortal(r.Address)).ToList())
            {
                if (r.PortalHeld) { toPortal.Add(r); continue; }
                if (portal.Admit(r.Address) is { } problem) unsure.Add(RecipientOutcome.Transient(r.Address, "4.7.0", problem));
                else
                {
                    toPortal.Add(r);
                    split.Add(r);
                }
            }
        if (unsure.Count > 0) Apply(message, unsure, _time.GetUtcNow());
        var groups = due.Except(toElements).Except(split).Except(toPortal).Where(r => !unsure.Any(u => u.Address == r.Address)).GroupBy(r => HopOf(message, r))
            .Select(g => (Hop: g.Key, Recipients: g.ToList())).ToList();
        if (split.Count > 0)
        {
            // Recipients served through the courier network are split together with the local ones: one CEK, one ARM.
            var local = groups.FindIndex(g => g.Hop is NextHop.LocalMailbox);
            if (local >= 0) groups[local] = (groups[local].Hop, groups[local].Recipients.Concat(split).ToList());
            else groups.Add((new NextHop.LocalMailbox(), split));
        }
        foreach (var group in groups)
            if (!await DeliverAndApplyAsync(message, group.Hop, group.Recipients, toPortal, cancellationToken)) return false;
        // Outside recipients whose message is now held here: the notification is what is delivered to them.
        foreach (var group in toPortal.Where(r => r.PortalHeld && r.State == RecipientState.Pending).GroupBy(r => HopOf(message, r)).ToList())
            if (!await DeliverAndApplyAsync(message, group.Key, group.ToList(), toPortal, cancellationToken)) return false;

        // DSNs are queued (durably) before the state that says they were sent is saved or the message removed:
        // a crash in between can send a report twice, never lose one.
        try
        {
            await ReportAsync(message, _time.GetUtcNow(), cancellationToken);
        }
        catch
        {
            queue.Save(message); // keep the outcomes; the reports are tried again on the next attempt
            throw;
        }

        if (!message.IsFinished) queue.Save(message);
        else
        {
            queue.Remove(message.Id);
            agent.Discard(message.Id);
            logger.LogInformation("Message {QueueId} finished: {Delivered} delivered, {Failed} failed", message.Id,
                message.Recipients.Count(r => r.State == RecipientState.Delivered), message.Recipients.Count(r => r.State == RecipientState.Failed));
            return true;
        }
        return false;
    }

    /// <summary>Delivers one group and records the outcomes; false when the gateway is shutting down (the recipients stay
    /// pending). An outside recipient the split just held for the pickup portal is marked so, not delivered: their
    /// notification is still to go.</summary>
    async Task<bool> DeliverAndApplyAsync(QueuedMessage message, NextHop hop, List<QueuedRecipient> recipients, IReadOnlyList<QueuedRecipient> toPortal,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<RecipientOutcome> outcomes;
        try
        {
            outcomes = await DeliverGroupAsync(message, hop, recipients, cancellationToken);
        }
        catch (DeliveryException ex)
        {
            outcomes = recipients.Select(r => ex.Permanent
                ? RecipientOutcome.Permanent(r.Address, ex.Status, ex.Diagnostic, ex.RemoteMta)
                : RecipientOutcome.Transient(r.Address, ex.Status, ex.Diagnostic, ex.RemoteMta)).ToList();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Unexpected error delivering {QueueId}", message.Id);
            outcomes = recipients.Select(r => RecipientOutcome.Transient(r.Address, "4.3.0", "local error: " + ex.Message)).ToList();
        }
        if (hop is NextHop.LocalMailbox && toPortal.Count > 0)
        {
            var held = outcomes.Where(o => o.Kind == OutcomeKind.Delivered && toPortal.Any(p => !p.PortalHeld && string.Equals(p.Address, o.Address, StringComparison.OrdinalIgnoreCase))).ToList();
            foreach (var o in held)
            {
                toPortal.First(p => string.Equals(p.Address, o.Address, StringComparison.OrdinalIgnoreCase)).PortalHeld = true;
                logger.LogInformation("Message {QueueId}: held at this courier for {Recipient} (pickup portal); the notification follows", message.Id, o.Address);
            }
            outcomes = outcomes.Except(held).ToList();
        }
        Apply(message, outcomes, _time.GetUtcNow());
        return true;
    }

    /// <summary>Forgets what the Agent kept for a message taken out of the queue by an operator.</summary>
    public void Discard(string queueId) => agent.Discard(queueId);

    async Task<IReadOnlyList<RecipientOutcome>> DeliverGroupAsync(QueuedMessage message, NextHop hop, List<QueuedRecipient> recipients, CancellationToken cancellationToken)
    {
        switch (hop)
        {
            case NextHop.LocalMailbox:
            {
                HarvestCertificates(message);
                // Mail a local user submitted is split by the Agent; mail from elsewhere is stored as it came, except
                // another courier's Invitation to a user registered here: the elements answer it (Invitation Reject).
                if (options.Courier.Split && message.AuthenticatedUser is not null && message.Sender is not null)
                    return await agent.SplitAsync(message, recipients, cancellationToken);
                // Mail from elsewhere may name itself in a header (a Key Replacement message or a protected part for the
                // Agent, an Invitation): the header section is read once for all three.
                var received = message.AuthenticatedUser is null ? await HeadersAsync(message, cancellationToken) : null;
                if (received is not null && keyReplacement.Claims(received))
                {
                    // Checked before 250; the Agent opens it again before it acts on it.
                    keyReplacement.Accept(await ReadAllAsync(message, cancellationToken));
                    return recipients.Select(r => new RecipientOutcome(r.Address, OutcomeKind.Delivered, "2.0.0", "handed to the Agent (Key Replacement)")).ToList();
                }
                if (received is not null && foregroundDelivery.Claims(received))
                    return await local.DeliverAsync(message, recipients, cancellationToken, received[Courier.ForegroundElement.MessageIdHeader]!.Trim());
                if (received is not null && received.Contains(Courier.InvitationMessage.HeaderName) && await ReadIfInvitationAsync(message, cancellationToken) is { } invitation)
                {
                    interCourier.Reject(message.Id, invitation);
                    logger.LogInformation("Message {QueueId} is an Invitation from another courier to {Recipients}, registered here: rejected (the elements introduce themselves to the inviter)",
                        message.Id, string.Join(", ", recipients.Select(r => r.Address)));
                    return recipients.Select(r => new RecipientOutcome(r.Address, OutcomeKind.Delivered, "2.0.0", "Invitation rejected: the recipient is registered here")).ToList();
                }
                return await local.DeliverAsync(message, recipients, cancellationToken);
            }
            case NextHop.Static s:
            {
                var route = s.Route;
                var addresses = await mx.ResolveAddressesAsync(route.Host, cancellationToken);
                if (addresses.Count == 0) throw new DeliveryException(false, "4.4.3", $"route host {route.Host} has no address");
                var credentials = string.IsNullOrEmpty(route.Username) ? ((string, string)?)null : (route.Username!, route.Password ?? "");
                var hosts = new[] { new MailHost(route.Host, addresses, route.Port) };
                // REQUIRETLS: a configured route vouches for its host; the certificate must verify.
                var routeTls = message.RequireTls ? OutboundTls.Verify : route.Tls ?? options.Delivery.Tls;
                return await RelayAsync(message, recipients, (rs, tls, transform) =>
                    relay.DeliverAsync(message, rs, hosts, tls, route.ImplicitTls, credentials, cancellationToken, transform), routeTls);
            }
            case NextHop.Mx m:
            {
                var hosts = await mx.ResolveMxAsync(m.Domain, options.Delivery.MxPort, cancellationToken);
                var tls = options.Delivery.Tls;
                var policy = await mtaSts.PolicyAsync(m.Domain, cancellationToken);
                // REQUIRETLS (RFC 8689 4.2.1): the MX hosts must be vouched for; without DNSSEC here, only MTA-STS can.
                if (message.RequireTls && policy is not { Mode: MtaStsMode.Enforce or MtaStsMode.Testing })
                    throw new DeliveryException(true, "5.7.30",
                        $"REQUIRETLS: the MX hosts of {m.Domain} cannot be validated (the domain has no MTA-STS policy); the message was not sent");
                if (policy is { Mode: MtaStsMode.Enforce } || (message.RequireTls && policy is { Mode: MtaStsMode.Testing }))
                {
                    // RFC 8461 5: only the MX hosts the policy names, over TLS with a verified certificate; else the mail waits.
                    var allowed = hosts.Where(h => policy.Allows(h.Name)).ToList();
                    if (allowed.Count == 0)
                        throw new DeliveryException(false, "4.7.5",
                            $"MTA-STS: no MX host of {m.Domain} ({string.Join(", ", hosts.Select(h => h.Name))}) is one its policy names ({string.Join(", ", policy.Mx)})");
                    hosts = allowed;
                    tls = OutboundTls.Verify;
                }
                else if (policy is { Mode: MtaStsMode.Testing } && hosts.Any(h => !policy.Allows(h.Name)))
                    logger.LogWarning("MTA-STS (testing): MX hosts of {Domain} outside its policy: {Hosts}; delivered as usual", m.Domain,
                        string.Join(", ", hosts.Where(h => !policy.Allows(h.Name)).Select(h => h.Name)));
                return await RelayAsync(message, recipients, (rs, t, transform) =>
                    relay.DeliverAsync(message, rs, hosts, t, false, null, cancellationToken, transform), tls);
            }
            default:
                throw new InvalidOperationException("unknown next hop " + hop);
        }
    }

    /// <summary>The route table's next hop, except that a registered user of an address outside our domains (an
    /// invited user) is local too.</summary>
    NextHop HopOf(QueuedMessage message, QueuedRecipient recipient)
    {
        var hop = routes.Resolve(recipient.Domain);
        // Mail from elsewhere for a user another courier serves now goes to that courier's delivery listener. A local
        // user's mail to them is protected by the Agent and routed by the elements instead: it never leaves in clear.
        if (hop is NextHop.LocalMailbox && message.AuthenticatedUser is null && users.Find(recipient.Address) is null
            && servedElsewhere.EndpointOf(recipient.Address) is { } endpoint
            && GatewayOptionsValidator.TryParseHostPort(endpoint, out var host, out var port))
            return new NextHop.Static(new RouteOptions { Domain = recipient.Domain, Host = host, Port = port });
        return hop is not NextHop.LocalMailbox && !routes.IsServed(recipient.Domain) && users.Find(recipient.Address) is not null ? new NextHop.LocalMailbox() : hop;
    }

    async Task<IReadOnlyList<RecipientOutcome>> HandToElementsAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken)
    {
        var bytes = await ReadAllAsync(message, cancellationToken);
        foreach (var element in recipients.Select(r => interCourier.ElementOf(r.Address)!.Value).Distinct())
            interCourier.Accept(element, message.Id, bytes);
        return recipients.Select(r => new RecipientOutcome(r.Address, OutcomeKind.Delivered, "2.0.0", "handed to the element")).ToList();
    }

    /// <summary>The header section of a queued message as it will be delivered.</summary>
    async Task<HeaderList> HeadersAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        await using var content = queue.OpenContent(message);
        return await HeaderList.LoadAsync(content, cancellationToken);
    }

    /// <summary>The whole message, when it is another courier's Invitation with a valid signature (its header was seen).</summary>
    async Task<byte[]?> ReadIfInvitationAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        var bytes = await ReadAllAsync(message, cancellationToken);
        return interCourier.IsInvitation(bytes) ? bytes : null;
    }

    async Task<byte[]> ReadAllAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await using (var content = queue.OpenContent(message)) await content.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    delegate Task<IReadOnlyList<RecipientOutcome>> Send(IReadOnlyList<QueuedRecipient> recipients, OutboundTls tls, Func<MimeMessage, MimeMessage>? transform);

    /// <summary>
    /// Relays to a next hop outside. A local user's mail (the courier protects it) goes as the outside policy says:
    /// S/MIME to approved certificates, plain only over TLS that must succeed, or held; other mail (a relay route
    /// for mail that arrived from elsewhere, or splitting switched off) goes with the configured TLS setting.
    /// </summary>
    async Task<IReadOnlyList<RecipientOutcome>> RelayAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, Send send, OutboundTls tls)
    {
        // A local user's mail leaves without the gateway's own header fields, whatever route it takes.
        if (message.AuthenticatedUser is null) return await send(recipients, tls, null);
        if (!options.Courier.Split) return await send(recipients, tls, OutgoingHeaders.Strip);
        var sender = message.AuthenticatedUser.ToLowerInvariant();
        var outcomes = new List<RecipientOutcome>();
        foreach (var route in outside.Plan(recipients))
        {
            switch (route)
            {
                case Courier.OutsideRoute.Held held:
                    logger.LogWarning("Message {QueueId} to {Recipients} {Reason}", message.Id, string.Join(", ", held.Recipients.Select(r => r.Address)), held.Reason);
                    outcomes.AddRange(held.Recipients.Select(r => RecipientOutcome.Transient(r.Address, "4.7.1", held.Reason)));
                    break;
                case Courier.OutsideRoute.Smime smime:
                    outcomes.AddRange(await send(smime.Recipients, tls, mime => agent.ProtectForOutside(OutgoingHeaders.Strip(mime), sender, smime.Certificates)));
                    break;
                case Courier.OutsideRoute.Tls plain:
                    outcomes.AddRange(await send(plain.Recipients, tls is OutboundTls.Verify ? OutboundTls.Verify : OutboundTls.Required, OutgoingHeaders.Strip));
                    break;
                case Courier.OutsideRoute.Portal held when portal is not null:
                    // One notification per recipient: each carries a link of its own.
                    foreach (var r in held.Recipients)
                        outcomes.AddRange((await send(new[] { r }, tls, mime => portal.Notice(message, r, mime)))
                            .Select(o => o.Kind == OutcomeKind.Delivered ? o with { Diagnostic = "held for the pickup portal; notification delivered: " + o.Diagnostic } : o));
                    break;
                case Courier.OutsideRoute.Portal held:
                    outcomes.AddRange(held.Recipients.Select(r => RecipientOutcome.Transient(r.Address, "4.7.1", "the pickup portal does not run in this process")));
                    break;
            }
        }
        return outcomes;
    }

    /// <summary>Learns signers' certificates from mail for local users; best effort, never in the way of delivery.</summary>
    void HarvestCertificates(QueuedMessage message)
    {
        try
        {
            using var content = queue.OpenContent(message);
            harvester.Harvest(content);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Certificate harvest skipped for {QueueId}: {Reason}", message.Id, ex.Message);
        }
    }

    void Apply(QueuedMessage message, IReadOnlyList<RecipientOutcome> outcomes, DateTimeOffset now)
    {
        foreach (var outcome in outcomes)
        {
            var r = message.Recipients.First(x => string.Equals(x.Address, outcome.Address, StringComparison.OrdinalIgnoreCase) && x.State == RecipientState.Pending);
            r.Attempts++;
            r.LastAttemptUtc = now;
            r.Status = outcome.Status;
            r.Diagnostic = outcome.Diagnostic;
            r.RemoteMta = outcome.RemoteMta;
            switch (outcome.Kind)
            {
                case OutcomeKind.Delivered:
                    r.State = RecipientState.Delivered;
                    r.Relayed = outcome.Relayed;
                    Metrics.GatewayInstruments.Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", "delivered"));
                    Metrics.GatewayInstruments.DeliveryLatency.Record(Math.Max(0, (now - message.ArrivedUtc).TotalSeconds));
                    break;
                case OutcomeKind.PermanentFailure:
                    r.State = RecipientState.Failed;
                    Metrics.GatewayInstruments.Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", "bounced"));
                    logger.LogWarning("Message {QueueId} to <{Recipient}> failed permanently: {Status} {Diagnostic}", message.Id, r.Address, r.Status, r.Diagnostic);
                    break;
                default:
                    if (now - message.ArrivedUtc >= retry.MaxAge)
                    {
                        r.State = RecipientState.Failed;
                        r.Status = "4.4.7";
                        r.Diagnostic = $"message expired after {retry.MaxAge.TotalHours:0.#} hours in the queue; last error: {outcome.Diagnostic}";
                        Metrics.GatewayInstruments.Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", "expired"));
                        logger.LogWarning("Message {QueueId} to <{Recipient}> expired: {Diagnostic}", message.Id, r.Address, outcome.Diagnostic);
                    }
                    else
                    {
                        r.NextAttemptUtc = now + retry.DelayAfter(r.Attempts);
                        Metrics.GatewayInstruments.Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", "deferred"));
                        logger.LogInformation("Message {QueueId} to <{Recipient}> deferred until {Next:u}: {Status} {Diagnostic}",
                            message.Id, r.Address, r.NextAttemptUtc, r.Status, r.Diagnostic);
                    }
                    break;
            }
        }
    }

    /// <summary>Queues failure, delay and success/relay DSNs as RFC 3461 NOTIFY asks; a null sender never gets one.</summary>
    async Task ReportAsync(QueuedMessage message, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (message.Sender is null)
        {
            foreach (var r in message.Recipients.Where(r => r.State == RecipientState.Failed && !r.FinalReported))
            {
                logger.LogWarning("Bounce {QueueId} to <{Recipient}> could not be delivered and is discarded (null sender): {Diagnostic}", message.Id, r.Address, r.Diagnostic);
                r.FinalReported = true;
            }
            return;
        }

        static bool Wants(QueuedRecipient r, DsnNotify flag, bool byDefault) =>
            r.Notify == DsnNotify.None ? byDefault : r.Notify.HasFlag(flag);

        var failed = message.Recipients.Where(r => r.State == RecipientState.Failed && !r.FinalReported).ToList();
        var delivered = message.Recipients.Where(r => r.State == RecipientState.Delivered && !r.FinalReported).ToList();
        var delayed = message.Recipients.Where(r => r.State == RecipientState.Pending && !r.DelayNotified && r.Attempts > 0
                                                    && now - message.ArrivedUtc >= retry.DelayWarning).ToList();

        async Task Send(List<QueuedRecipient> rs, DsnAction action)
        {
            if (rs.Count == 0) return;
            await using var content = queue.OpenContent(message);
            var report = dsn.Build(message, rs, action, content, now);
            using var buffer = new MemoryStream();
            await report.WriteToAsync(FormatOptions.Default, buffer, cancellationToken);
            buffer.Position = 0;
            var recipient = new SmtpRecipient(ParseSender(message.Sender!), DsnNotify.Never, null);
            var queued = await queue.EnqueueAsync(buffer, null, new[] { recipient }, "", cancellationToken);
            logger.LogInformation("Queued {Action} DSN {DsnId} for {QueueId} to <{Sender}>", action, queued.Id, message.Id, message.Sender);
        }

        await Send(failed.Where(r => Wants(r, DsnNotify.Failure, true)).ToList(), DsnAction.Failed);
        await Send(delivered.Where(r => r.Notify.HasFlag(DsnNotify.Success) && !r.Relayed && r.RemoteMta is null).ToList(), DsnAction.Delivered);
        await Send(delivered.Where(r => r.Notify.HasFlag(DsnNotify.Success) && r.Relayed).ToList(), DsnAction.Relayed);
        await Send(delayed.Where(r => Wants(r, DsnNotify.Delay, true)).ToList(), DsnAction.Delayed);
        foreach (var r in failed.Concat(delivered)) r.FinalReported = true;
        foreach (var r in delayed) r.DelayNotified = true;
    }

    static SmtpMailbox ParseSender(string address) =>
        SmtpMailbox.TryParse(address, out var mailbox) ? mailbox : new SmtpMailbox(address[..address.LastIndexOf('@')], address[(address.LastIndexOf('@') + 1)..]);
}
