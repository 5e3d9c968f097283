using System.Text.Json;
using Gateway.Crypto;
using Gateway.Platform;
using Gateway.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;
using Org.BouncyCastle.X509;

namespace Gateway.Courier;

/// <summary>
/// The user's Agent in a Key Replacement (<see cref="KeyReplacementDesk"/> drives it from the Foreground). It takes
/// what the Background carried to it from its own inbox:
/// <list type="bullet">
/// <item>Notice to Rekey: a new key for the user, certified by the courier's CA (which lives with the Agent); the
/// old key is kept, encrypted like every key, so mail sealed to it still opens; the new certificate goes to the
/// Foreground in Exchange Keys, signed with the new key;</item>
/// <item>the Foreground's Exchange Keys: the elements' introduction certificates, checked to be this courier's; the
/// Agent answers Rekeying Complete;</item>
/// <item>a Notice to Rekey carrying a new configuration (Registration Transfer): the courier the user moves to made the
/// new key and certificate; the Agent checks that certificate and accepts it in Exchange Keys, signed with the user's
/// current key, which the Foreground sends on to that courier.</item>
/// </list>
/// A notice taken twice (after a crash) makes one key: the key made for each Key Replacement is remembered in
/// <paramref name="donePath"/>.
/// </summary>
public sealed class KeyReplacementAgent(ElementInbox inbox, CourierAuthority authority, KeyStore keys, CertificateDirectory directory, CourierIdentity identity,
    IUserStore users, IElementDrop foreground, KeyAlgorithm userKeys, string donePath, ILogger<KeyReplacementAgent> logger)
{
    public ElementInbox Inbox => inbox;

    Dictionary<string, string> Done() =>
        File.Exists(donePath) ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(donePath)) ?? new() : new();

    public Task ProcessAsync(string name, CancellationToken cancellationToken)
    {
        var bytes = inbox.Read(name);
        if (bytes is null) return Task.CompletedTask;
        try
        {
            var ring = ScopedKeyRing.Agent(keys);
            using var context = new CourierSecureMimeContext(ring, directory);
            var body = KeyReplacementMessage.OpenAtAgent(context, identity, MimeMessage.Load(new MemoryStream(bytes, writable: false)));
            var address = body.Address.ToLowerInvariant();
            if (users.Find(address) is null) throw new PartRejectedException($"{address} is no user here");
            var keyId = CourierSecureMimeContext.UserKeyId(address);
            X509Certificate current;
            KeyReplacementKind answer;
            if (body.Kind == KeyReplacementKind.NoticeToRekey && body.Courier is not null)
            {
                // Registration Transfer: the user moves to another courier, which made their new key and certificate.
                // The Agent accepts that configuration with the user's current key; no key is made here.
                CheckOffered(context, address, body);
                current = keys.GetCertificate(keyId) ?? throw new PartRejectedException($"{address} has no key here");
                answer = KeyReplacementKind.ExchangeKeys;
                logger.LogInformation("Key Replacement {Id}: {Address} moves to {Courier} (Registration Transfer); the Agent accepts its certificate {New}",
                    body.Id, address, body.Courier, new X509Certificate(body.NewCertificate!).SerialNumber.ToString(16));
            }
            else if (body.Kind == KeyReplacementKind.NoticeToRekey)
            {
                var done = Done();
                if (done.TryGetValue(body.Id, out var made) && keys.GetCertificate(keyId) is { } existing && existing.SerialNumber.ToString(16) == made)
                {
                    current = existing; // taken again after a crash: the key made for it stands
                }
                else
                {
                    var old = keys.GetCertificate(keyId);
                    current = authority.IssueUser(address, userKeys);
                    done[body.Id] = current.SerialNumber.ToString(16);
                    DurableFile.WriteAllBytesAtomic(donePath, JsonSerializer.SerializeToUtf8Bytes(done));
                    logger.LogInformation("Key Replacement {Id}: Notice to Rekey for {Address} ({Reason}); new key and certificate {New}, the old one {Old} kept",
                        body.Id, address, body.Reason, current.SerialNumber.ToString(16), old?.SerialNumber.ToString(16) ?? "-");
                }
                answer = KeyReplacementKind.ExchangeKeys;
            }
            else
            {
                CheckElements(context, body.ElementCertificates);
                current = keys.GetCertificate(keyId) ?? throw new PartRejectedException($"{address} has no key here");
                answer = KeyReplacementKind.RekeyingComplete;
            }
            var (reply, replyBytes) = KeyReplacementMessage.FromAgent(context, ring, identity, new KeyReplacementBody
            {
                Kind = answer, Id = body.Id, Address = address, Certificate = current.GetEncoded(), CreatedUtc = DateTimeOffset.UtcNow,
                Courier = body.Courier, NewCertificate = body.Courier is null ? null : body.NewCertificate,
            });
            foreground.Drop(reply, replyBytes);
            inbox.Remove(name);
            logger.LogInformation("Key Replacement {Id}: {Address}'s Agent sent {Answer} to the Foreground (certificate {Serial})", body.Id, address,
                KeyReplacementMessage.Subject(answer), current.SerialNumber.ToString(16));
        }
        catch (Exception ex) when (ex is PartRejectedException { Transient: false } or FormatException or ParseException)
        {
            logger.LogWarning("The Agent rejected Key Replacement message {Part}: {Reason}", name, ex.Message);
            inbox.Reject(name);
        }
        return Task.CompletedTask;
    }

    /// <summary>A transfer's new certificate must be the user's, made under the courier network's Root, valid and unrevoked.</summary>
    static void CheckOffered(CourierSecureMimeContext context, string address, KeyReplacementBody body)
    {
        var offered = body.NewCertificate is { } der ? new X509Certificate(der) : throw new PartRejectedException("the Notice to Rekey for a transfer carries no certificate");
        if (!string.Equals(Certificates.EmailOf(offered), address, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the certificate {body.Courier} made is not {address}'s");
        if (context.ValidateCertificate(offered) is { IsValid: false } result)
            throw new PartRejectedException($"the certificate {body.Courier} made for {address} is not valid: {result.Reason}") { Transient = result.MissingRevocationData };
    }

    /// <summary>The certificates the Foreground sent in its half of Exchange Keys must be this courier's elements', valid and unrevoked.</summary>
    void CheckElements(CourierSecureMimeContext context, IReadOnlyList<byte[]> certificates)
    {
        var own = identity.ElementCertificate(CourierElement.Foreground) is { } f ? InterCourierMessage.IntroductionOf(f)?.Courier : null;
        foreach (var der in certificates)
        {
            var certificate = new X509Certificate(der);
            if (InterCourierMessage.IntroductionOf(certificate) is not { } of || !string.Equals(of.Courier, own, StringComparison.OrdinalIgnoreCase))
                throw new PartRejectedException($"Exchange Keys names {certificate.SubjectDN}, which is not one of this courier's elements");
            if (context.ValidateCertificate(certificate) is { IsValid: false } result)
                throw new PartRejectedException($"Exchange Keys names the {of.Element}'s certificate {certificate.SerialNumber.ToString(16)}, which is not valid: {result.Reason}");
        }
    }
}
