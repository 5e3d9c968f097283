using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>
/// Registration Transfer, as the Foreground drives it (<see cref="TransferStore"/> keeps each step):
/// <list type="number">
/// <item>new courier: an operator pre-authorises the address from the old courier (<c>gateway transfer accept</c>);</item>
/// <item>old courier: an operator starts it (<c>gateway transfer start</c>); the Foreground sends the Transfer
/// Subscription (account and the user's key, sealed to the new Foreground);</item>
/// <item>new courier: only a pre-authorised subscription from that very courier is taken (anything else is refused
/// before 250): the account is created with the same password, the old key kept, new keys and certificate made,
/// Distribute Account sent to the Background, and a Configuration Update (endpoints, new certificate) goes back;</item>
/// <item>old courier: a Notice to Rekey carrying the new configuration goes through the Background to the user's
/// Agent, which checks the new certificate and accepts it in Exchange Keys, signed with the user's key; the
/// Foreground sends that on to the new courier (<see cref="KeyReplacementDesk"/>);</item>
/// <item>new courier: Exchange Keys must be signed with the key the subscription carried and accept the certificate
/// made there; then Background Key Replacement, the welcome mail with the new settings, and Transfer Complete;</item>
/// <item>old courier: mail for the address is routed to the new courier from now on (both elements), the account
/// stops taking logins, the mailbox is moved there (<see cref="MailboxMove"/>), and once every moved message has left
/// the queue the user's keys and mail are deleted here.</item>
/// </list>
/// </summary>
public sealed class TransferDesk(TransferStore store, KeyStore keys, CertificateDirectory directory, CourierAuthority authority, IUserStore users,
    Func<ElementRelay> foreground, Func<string> backgroundEndpoint, Action<string> distributeAccount, Action<string, string> servedElsewhere,
    Func<string, CancellationToken, Task<(IReadOnlyList<string> Queued, int Skipped)>> moveMailbox, Func<string, bool> stillQueued,
    Func<string, int> deleteMailbox, Func<string, CancellationToken, Task> welcome, KeyAlgorithm userKeys, ILogger<TransferDesk> logger,
    Func<KeyReplacementDesk> rekeys)
{
    const string AccountCreated = "Transfer Subscription from";

    public static bool IsTransfer(InterCourierKind kind) =>
        kind is InterCourierKind.TransferSubscription or InterCourierKind.ConfigurationUpdate or InterCourierKind.ExchangeKeys or InterCourierKind.TransferComplete;

    /// <summary>Whether a Transfer Subscription for <paramref name="address"/> from <paramref name="fromCourier"/> was pre-authorised here.</summary>
    public bool IsAuthorised(string address, string fromCourier) =>
        store.Open(address, TransferDirection.Incoming) is { State: TransferState.Authorised } record
        && string.Equals(record.Peer, fromCourier, StringComparison.OrdinalIgnoreCase);

    /// <summary>At each look of the Foreground: sends the subscriptions of started transfers, finishes moved ones.</summary>
    public void Advance(CourierSecureMimeContext context)
    {
        foreach (var transfer in store.All().Where(t => t.Direction == TransferDirection.Outgoing))
        {
            try
            {
                if (transfer.State == TransferState.Started) SendSubscription(context, transfer);
                else if (transfer.State == TransferState.Moving) FinishIfMoved(transfer);
            }
            catch (Exception ex) when (ex is PartRejectedException or KeyStoreException)
            {
                if (transfer.LastError != ex.Message)
                {
                    transfer.LastError = ex.Message;
                    store.Save(transfer);
                    logger.LogWarning("Registration Transfer {Id} of {Address}: {Reason}; tried again", transfer.Id, transfer.Address, ex.Message);
                }
            }
        }
    }

    void SendSubscription(CourierSecureMimeContext context, TransferRecord transfer)
    {
        var relay = foreground();
        var peer = relay.Peers.Find(transfer.Peer) ?? throw new PartRejectedException($"{transfer.Peer} is not a courier the Foreground knows (no Introduction yet)");
        var user = users.Find(transfer.Address) ?? throw new PartRejectedException($"{transfer.Address} is no user here");
        var id = CourierSecureMimeContext.UserKeyId(transfer.Address);
        var certificate = keys.GetCertificate(id);
        var key = keys.HasPrivateKey(id) ? PrivateKeyInfoFactory.CreatePrivateKeyInfo(keys.GetPrivateKey(id)).GetEncoded() : null;
        try
        {
            relay.SendToPeer(context, peer, InterCourierKind.TransferSubscription, transfer.Id, new TransferBody
            {
                TransferId = transfer.Id, Address = transfer.Address, PasswordHash = user.PasswordHash, CreatedUtc = user.CreatedUtc,
                Certificate = certificate?.GetEncoded(), PrivateKey = key, KeyAlgorithm = key is null ? null : keys.AlgorithmOf(id),
            }.ToPart());
        }
        finally
        {
            if (key is not null) System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
        store.Advance(transfer, TransferState.SubscriptionSent, $"Transfer Subscription sent to {peer.Id} at {peer.Endpoint}");
    }

    /// <summary>The new courier did not take the Transfer Subscription: the transfer ends, nothing changed here.</summary>
    public void Refused(string transferId, string reason)
    {
        if (store.Find(transferId) is not { Direction: TransferDirection.Outgoing, State: TransferState.SubscriptionSent } transfer) return;
        store.Advance(transfer, TransferState.Refused, $"{transfer.Peer} refused the Transfer Subscription: {reason}", reason);
        logger.LogWarning("Registration Transfer {Id} of {Address} refused by {Peer}: {Reason}; the user stays here", transfer.Id, transfer.Address, transfer.Peer, reason);
    }

    /// <summary>A transfer message from another courier's Foreground (its signature and chain checked already).</summary>
    public async Task HandleAsync(CourierSecureMimeContext context, InterCourierEnvelope received, CancellationToken cancellationToken)
    {
        // Exchange Keys carries the transfer's ids and, unchanged, what the user's Agent signed.
        var body = TransferBody.From(received.Payload is Multipart { Count: > 0 } parts ? parts[0] : received.Payload);
        var from = received.Header.FromCourier;
        switch (received.Header.Kind)
        {
            case InterCourierKind.TransferSubscription:
                await AcceptAsync(context, received, body, cancellationToken);
                break;
            case InterCourierKind.ConfigurationUpdate:
            {
                var transfer = Outgoing(body, from, TransferState.SubscriptionSent, TransferState.Configured);
                if (transfer.State == TransferState.Configured) break; // sent again after a crash over there: taken once
                var certificate = body.Certificate is { } der ? new X509Certificate(der) : throw new PartRejectedException($"the Configuration Update from {from} carries no certificate");
                directory.Add(certificate, "transfer");
                // The user's Agent is told the new configuration (Notice to Rekey through the Background) and accepts it.
                rekeys().Store.Request(transfer.Address, "transfer", $"asked for by Registration Transfer {transfer.Id} to {from}", r =>
                {
                    (r.TransferId, r.Courier, r.ForegroundEndpoint, r.BackgroundEndpoint, r.NewCertificate) =
                        (transfer.Id, from, body.ForegroundEndpoint, body.BackgroundEndpoint, certificate.GetEncoded());
                });
                store.Advance(transfer, TransferState.Configured,
                    $"Configuration Update from {from}: Foreground {body.ForegroundEndpoint}, Background {body.BackgroundEndpoint}, new certificate {certificate.SerialNumber.ToString(16)}; " +
                    "Notice to Rekey with the new configuration on its way to the user's Agent");
                break;
            }
            case InterCourierKind.ExchangeKeys:
                await CompleteAsync(context, received, body, cancellationToken);
                break;
            case InterCourierKind.TransferComplete:
                await LetGoAsync(Outgoing(body, from, TransferState.SubscriptionSent, TransferState.Configured), cancellationToken);
                break;
        }
    }

    TransferRecord Outgoing(TransferBody body, string from, params TransferState[] states) =>
        store.Find(body.TransferId) is { Direction: TransferDirection.Outgoing } t && string.Equals(t.Peer, from, StringComparison.OrdinalIgnoreCase)
        && t.Address == body.Address.ToLowerInvariant() && states.Contains(t.State)
            ? t
            : throw new PartRejectedException($"{from} answers transfer {body.TransferId} of {body.Address}, which is not one this courier has open with it");

    async Task AcceptAsync(CourierSecureMimeContext context, InterCourierEnvelope received, TransferBody body, CancellationToken cancellationToken)
    {
        var from = received.Header.FromCourier;
        var address = body.Address.ToLowerInvariant();
        var incoming = store.Open(address, TransferDirection.Incoming);
        if (incoming is not { State: TransferState.Authorised } || !string.Equals(incoming.Peer, from, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"no transfer of {address} from {from} was accepted here ('gateway transfer accept {address} --from {from}')");
        var relay = foreground();
        var peer = relay.Peers.Find(from)
                   ?? relay.Learn(context, received.Signer, received.SignerChain, received.Header.FromEndpoint, PeerSource.Introduction, Array.Empty<string>(), Array.Empty<string>());
        X509Certificate issued;
        if (!incoming.Steps.Any(s => s.Step.StartsWith(AccountCreated, StringComparison.Ordinal)))
        {
            if (users.Find(address) is not null) throw new PartRejectedException($"{address} is a user here already");
            users.Add(address, body.PasswordHash ?? PasswordHasher.HashOfUnknownPassword());
            if (body.PrivateKey is { } pkcs8 && body.Certificate is { } der)
            {
                // The old key is kept, as after a Key Replacement: what was sealed to it still opens here.
                var old = new X509Certificate(der);
                keys.Put(KeyStore.ArchivedId(CourierSecureMimeContext.UserKeyId(address), old), body.KeyAlgorithm ?? KeyAlgorithm.EcP256, PrivateKeyFactory.CreateKey(pkcs8), old);
                directory.Add(old, "transfer");
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(pkcs8);
            }
            issued = authority.IssueUser(address, userKeys);
            store.Advance(incoming, TransferState.Authorised, $"{AccountCreated} {from}: account created, old key kept, new certificate {issued.SerialNumber.ToString(16)}");
            Gateway.Platform.CrashPoint.Hit("transfer-after-account");
        }
        else
        {
            // Taken again after a crash: the account exists; the answers are sent (again: the peer takes them once).
            issued = keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address)) ?? throw new PartRejectedException($"{address} has no certificate here");
            logger.LogInformation("Registration Transfer of {Address}: resuming after the account was created", address);
        }
        distributeAccount(address);
        relay.SendToPeer(context, peer, InterCourierKind.ConfigurationUpdate, incoming.Id + "-configuration", new TransferBody
        {
            TransferId = body.TransferId, Address = address, Certificate = issued.GetEncoded(), ForegroundEndpoint = relay.Endpoint, BackgroundEndpoint = backgroundEndpoint(),
        }.ToPart());
        store.Advance(incoming, TransferState.Configured,
            $"Distribute Account to the Background, Configuration Update to {from}; waiting for the user's Agent to accept it (Exchange Keys)");
    }

    /// <summary>
    /// New courier: the user's Agent accepted the configuration, signed with the user's key that the Transfer
    /// Subscription carried (its key is kept here): the Background is told the new certificate (Background Key
    /// Replacement), the user gets the welcome mail with the new settings, and Transfer Complete goes to the old courier.
    /// </summary>
    async Task CompleteAsync(CourierSecureMimeContext context, InterCourierEnvelope received, TransferBody body, CancellationToken cancellationToken)
    {
        var from = received.Header.FromCourier;
        var address = body.Address.ToLowerInvariant();
        var incoming = store.Open(address, TransferDirection.Incoming);
        if (incoming is not { State: TransferState.Configured } || !string.Equals(incoming.Peer, from, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"no transfer of {address} from {from} waits for Exchange Keys here");
        if (received.Payload is not Multipart { Count: 2 } parts) throw new PartRejectedException("Exchange Keys carries no message from the user's Agent");
        var opened = PartEnvelope.Verify(context, parts[1], expectedSigner: address);
        var keyId = CourierSecureMimeContext.UserKeyId(address);
        if (!keys.HasPrivateKey(KeyStore.ArchivedId(keyId, opened.Signer)))
            throw new PartRejectedException($"Exchange Keys for {address} is not signed with the key the Transfer Subscription carried");
        var accepted = KeyReplacementMessage.BodyOf(opened.Entity);
        var current = keys.GetCertificate(keyId) ?? throw new PartRejectedException($"{address} has no certificate here");
        if (accepted.Kind != KeyReplacementKind.ExchangeKeys || !string.Equals(accepted.Address, address, StringComparison.OrdinalIgnoreCase)
            || accepted.NewCertificate is not { } der || !der.AsSpan().SequenceEqual(current.GetEncoded()))
            throw new PartRejectedException($"the user's Agent did not accept {address}'s certificate made here");
        var peer = foreground().Peers.Find(from) ?? throw new PartRejectedException($"{from} is not in the Foreground's peer table");
        rekeys().TellBackground(context, incoming.Id, address, current);
        await welcome(address, cancellationToken);
        foreground().SendToPeer(context, peer, InterCourierKind.TransferComplete, incoming.Id + "-complete", new TransferBody { TransferId = body.TransferId, Address = address }.ToPart());
        store.Advance(incoming, TransferState.Completed,
            $"Exchange Keys from {from}: the user's Agent accepted certificate {current.SerialNumber.ToString(16)}; Background Key Replacement, " +
            $"welcome mail with the new settings and Transfer Complete to {from}");
        logger.LogInformation("Registration Transfer: {Address} now served here (from {From})", address, from);
    }

    /// <summary>Old courier: the user's Agent accepted the new configuration (<see cref="KeyReplacementDesk"/>); what it
    /// signed goes to the new courier unchanged, with the transfer's ids.</summary>
    public void SendExchangeKeys(CourierSecureMimeContext context, KeyReplacementRecord accepted, MimeEntity signed)
    {
        var transfer = store.Find(accepted.TransferId ?? "") is { Direction: TransferDirection.Outgoing, State: TransferState.Configured } t
            ? t
            : throw new PartRejectedException($"Registration Transfer {accepted.TransferId} of {accepted.Address} is not waiting for the user's Agent");
        var relay = foreground();
        var peer = relay.Peers.Find(transfer.Peer) ?? throw new PartRejectedException($"{transfer.Peer} is not in the Foreground's peer table");
        relay.SendToPeer(context, peer, InterCourierKind.ExchangeKeys, transfer.Id + "-exchange", new Multipart("mixed")
        {
            new TransferBody { TransferId = transfer.Id, Address = transfer.Address }.ToPart(), signed,
        });
        store.Advance(transfer, TransferState.Configured, $"Exchange Keys from the user's Agent (accepting the new configuration) sent to {transfer.Peer}");
    }

    async Task LetGoAsync(TransferRecord transfer, CancellationToken cancellationToken)
    {
        var relay = foreground();
        if (!relay.Peers.AddAddress(transfer.Peer, transfer.Address, DateTime.UtcNow))
            throw new PartRejectedException($"{transfer.Peer} is not in the Foreground's peer table any more");
        servedElsewhere(transfer.Address, transfer.Peer);
        Gateway.Platform.CrashPoint.Hit("transfer-after-route");
        var (queued, skipped) = await moveMailbox(transfer.Address, cancellationToken);
        transfer.Moving = queued.ToList();
        transfer.Moved = queued.Count;
        users.Remove(transfer.Address);
        store.Advance(transfer, TransferState.Moving,
            $"Transfer Complete from {transfer.Peer}: mail for {transfer.Address} goes there now; {queued.Count} message(s) of the mailbox queued to move" +
            (skipped > 0 ? $", {skipped} that no longer open left behind" : ""));
        logger.LogInformation("Registration Transfer {Id}: {Address} is served by {Peer} now; moving {Count} message(s) there", transfer.Id, transfer.Address, transfer.Peer, queued.Count);
        FinishIfMoved(transfer);
    }

    void FinishIfMoved(TransferRecord transfer)
    {
        var left = transfer.Moving.Where(stillQueued).ToList();
        if (left.Count > 0)
        {
            if (left.Count != transfer.Moving.Count) { transfer.Moving = left; store.Save(transfer); }
            return;
        }
        var removedMail = deleteMailbox(transfer.Address);
        var id = CourierSecureMimeContext.UserKeyId(transfer.Address);
        var removedKeys = keys.List().Where(k => KeyStore.IsKeyOf(k.Id, id)).Count(k => keys.Remove(k.Id));
        transfer.Moving = new();
        store.Advance(transfer, TransferState.Completed,
            $"mailbox moved ({transfer.Moved} message(s)); {removedMail} message(s) and {removedKeys} key(s) of {transfer.Address} deleted here");
        logger.LogInformation("Registration Transfer {Id}: {Address} moved to {Peer}; this courier holds no key or mail of theirs", transfer.Id, transfer.Address, transfer.Peer);
    }
}
