using Gateway.Crypto;
using Gateway.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>
/// A user's Key Replacement, as the Foreground drives it (<see cref="KeyReplacementStore"/> keeps each step):
/// <list type="number">
/// <item>asked for by an operator (<c>gateway rekey user</c>) or because the user's certificate runs out soon;</item>
/// <item>Notice to Rekey: Foreground -> Background -> the user's Agent, sealed to the user's current certificate;</item>
/// <item>the Agent makes a new key, has the CA certify it, keeps the old key (old mail still opens) and sends Exchange
/// Keys with the new certificate, signed with the new key;</item>
/// <item>the Foreground takes the new certificate (content is re-wrapped to it from now on) and sends its half of
/// Exchange Keys back through the Background: the elements' introduction certificates;</item>
/// <item>the Agent answers Rekeying Complete; the Foreground tells the Background (Background Key Replacement,
/// one-way, never answered), which re-wraps ARMs to the new certificate from then on.</item>
/// </list>
/// Every message is queued durably for the next role (its inbox, or the link to its host); a step taken twice after
/// a crash sends its message again, and the receiver takes it once.
/// </summary>
public sealed class KeyReplacementDesk(KeyReplacementStore store, IKeyRing foregroundKeys, KeyStore keys, CertificateDirectory directory, CourierIdentity identity,
    IUserStore users, IElementDrop background, Func<X509Certificate?> ownCa, ILogger<KeyReplacementDesk> logger, Func<TransferDesk?>? transfers = null)
{
    public KeyReplacementStore Store => store;

    /// <summary>At each look of the Foreground: sends the Notice to Rekey of each Key Replacement asked for.</summary>
    public void Advance(CourierSecureMimeContext context)
    {
        foreach (var record in store.All().Where(r => r.State == KeyReplacementState.Requested))
        {
            try
            {
                SendNotice(context, record);
            }
            catch (Exception ex) when (ex is PartRejectedException or KeyStoreException)
            {
                if (record.LastError == ex.Message) continue;
                record.LastError = ex.Message;
                store.Save(record);
                logger.LogWarning("Key Replacement {Id} of {Address}: {Reason}; tried again", record.Id, record.Address, ex.Message);
            }
        }
    }

    void SendNotice(CourierSecureMimeContext context, KeyReplacementRecord record)
    {
        if (users.Find(record.Address) is null) throw new PartRejectedException($"{record.Address} is no user here");
        var current = DistributeAccount.CertificateOf(keys, directory, record.Address)
                      ?? throw new PartRejectedException($"{record.Address} has no certificate yet (the Agent issues one with the first message sent or read)");
        var (name, bytes) = KeyReplacementMessage.ForAgent(context, foregroundKeys, identity, current, new KeyReplacementBody
        {
            Kind = KeyReplacementKind.NoticeToRekey, Id = record.Id, Address = record.Address, Reason = record.Reason, CreatedUtc = DateTimeOffset.UtcNow,
            Courier = record.Courier, ForegroundEndpoint = record.ForegroundEndpoint, BackgroundEndpoint = record.BackgroundEndpoint, NewCertificate = record.NewCertificate,
        });
        background.Drop(name, bytes);
        record.OldSerial = current.SerialNumber.ToString(16);
        store.Advance(record, KeyReplacementState.NoticeSent, record.Courier is null
            ? $"Notice to Rekey sent to the user's Agent through the Background (certificate {record.OldSerial})"
            : $"Notice to Rekey with the new configuration ({record.Courier}) sent to the user's Agent through the Background");
        logger.LogInformation("Key Replacement {Id}: Notice to Rekey for {Address} ({Reason}) sent through the Background", record.Id, record.Address, record.Reason);
    }

    /// <summary>Takes a message from the user's Agent (Exchange Keys or Rekeying Complete); throws <see cref="PartRejectedException"/>
    /// for one that does not check out or belongs to no Key Replacement under way here.</summary>
    public void Take(CourierSecureMimeContext context, MimeMessage message)
    {
        var body = KeyReplacementMessage.OpenFromAgent(context, ownCa(), message, out var signed);
        var record = store.Find(body.Id) is { } found && found.Address == body.Address.ToLowerInvariant()
            ? found
            : throw new PartRejectedException($"no Key Replacement {body.Id} of {body.Address} was asked for here");
        var certificate = new X509Certificate(body.Certificate!);
        var serial = certificate.SerialNumber.ToString(16);
        if (record.State == KeyReplacementState.Completed)
        {
            logger.LogInformation("Key Replacement {Id} of {Address}: {Kind} again, already complete; nothing to do", record.Id, record.Address, body.Kind);
            return;
        }
        if (record.TransferId is not null)
        {
            // Registration Transfer: the user's Agent accepts the new courier's certificate with the user's (current)
            // key; that is sent on to the new courier, which completes the transfer. Nothing changes here until then.
            if (body.Kind != KeyReplacementKind.ExchangeKeys || record.State != KeyReplacementState.NoticeSent)
                throw new PartRejectedException($"Key Replacement {record.Id} of {record.Address} (transfer to {record.Courier}) is not waiting for a {body.Kind}");
            if (body.NewCertificate is not { } accepted || record.NewCertificate is not { } offered || !accepted.AsSpan().SequenceEqual(offered)
                || !string.Equals(body.Courier, record.Courier, StringComparison.OrdinalIgnoreCase))
                throw new PartRejectedException($"the user's Agent did not accept the configuration of {record.Courier} it was sent");
            (transfers?.Invoke() ?? throw new PartRejectedException("this Foreground takes no Registration Transfer")).SendExchangeKeys(context, record, signed);
            record.NewSerial = new X509Certificate(accepted).SerialNumber.ToString(16);
            store.Advance(record, KeyReplacementState.Completed,
                $"Exchange Keys from the user's Agent (signed with certificate {serial}, accepting certificate {record.NewSerial} of {record.Courier}) sent on to {record.Courier}");
            logger.LogInformation("Key Replacement {Id}: {Address}'s Agent accepted the configuration of {Courier}; Exchange Keys sent on there", record.Id, record.Address, record.Courier);
            return;
        }
        switch (body.Kind)
        {
            case KeyReplacementKind.ExchangeKeys:
            {
                if (record.State == KeyReplacementState.Requested)
                    throw new PartRejectedException($"Key Replacement {record.Id} of {record.Address} sent no Notice to Rekey yet");
                if (record.State == KeyReplacementState.KeysExchanged && record.NewSerial != serial)
                    throw new PartRejectedException($"Key Replacement {record.Id} of {record.Address} took certificate {record.NewSerial} already, not {serial}");
                // Content is re-wrapped to the new certificate from now on (the newest the directory knows).
                directory.Add(certificate, "account");
                var (name, bytes) = KeyReplacementMessage.ForAgent(context, foregroundKeys, identity, certificate, new KeyReplacementBody
                {
                    Kind = KeyReplacementKind.ExchangeKeys, Id = record.Id, Address = record.Address, CreatedUtc = DateTimeOffset.UtcNow,
                    ElementCertificates = new[] { CourierElement.Foreground, CourierElement.Background }
                        .Select(e => identity.ElementCertificate(e)?.GetEncoded()).OfType<byte[]>().ToList(),
                });
                background.Drop(name, bytes);
                if (record.State == KeyReplacementState.NoticeSent)
                {
                    record.NewSerial = serial;
                    store.Advance(record, KeyReplacementState.KeysExchanged,
                        $"Exchange Keys: the Agent's new certificate {serial} taken; the elements' certificates sent back through the Background");
                }
                logger.LogInformation("Key Replacement {Id}: {Address}'s new certificate {Serial} taken by the Foreground", record.Id, record.Address, serial);
                break;
            }
            case KeyReplacementKind.RekeyingComplete:
            {
                if (record.State != KeyReplacementState.KeysExchanged || record.NewSerial != serial)
                    throw new PartRejectedException($"Key Replacement {record.Id} of {record.Address} is not waiting for Rekeying Complete with certificate {serial}");
                TellBackground(context, record.Id, record.Address, certificate);
                store.Advance(record, KeyReplacementState.Completed, $"Rekeying Complete from the Agent; Background Key Replacement sent (certificate {serial})");
                logger.LogInformation("Key Replacement {Id} of {Address} complete: certificate {Old} replaced by {New}", record.Id, record.Address, record.OldSerial, serial);
                break;
            }
            default:
                throw new PartRejectedException($"a {body.Kind} does not come from the Agent");
        }
    }

    /// <summary>Background Key Replacement: one-way, never answered; the Background re-wraps ARMs to <paramref name="certificate"/> from now on.</summary>
    public void TellBackground(CourierSecureMimeContext context, string id, string address, X509Certificate certificate)
    {
        var (name, bytes) = KeyReplacementMessage.ForBackground(context, foregroundKeys, identity, new KeyReplacementBody
        {
            Kind = KeyReplacementKind.BackgroundKeyReplacement, Id = id, Address = address.ToLowerInvariant(), Certificate = certificate.GetEncoded(),
            CreatedUtc = DateTimeOffset.UtcNow,
        });
        background.Drop(name, bytes);
    }

    /// <summary>Asks for a Key Replacement of every user whose certificate ends before <paramref name="limit"/> and has none
    /// under way; returns their addresses.</summary>
    public IReadOnlyList<string> RequestDue(DateTime limit)
    {
        var asked = new List<string>();
        foreach (var user in users.List())
        {
            if (DistributeAccount.CertificateOf(keys, directory, user.Address) is not { } current || current.NotAfter > limit) continue;
            if (store.Open(user.Address) is not null) continue;
            store.Request(user.Address, "expiry", $"certificate {current.SerialNumber.ToString(16)} ends {current.NotAfter:yyyy-MM-dd HH:mm}Z: Key Replacement before expiry");
            logger.LogInformation("Key Replacement of {Address} asked for: certificate {Serial} ends {End:u}", user.Address, current.SerialNumber.ToString(16), current.NotAfter);
            asked.Add(user.Address);
        }
        return asked;
    }
}
