using System.Text.Json;
using Gateway.Crypto;
using MimeKit;

namespace Gateway.Courier;

/// <summary>
/// Distribute Account: the Foreground tells the Background that an account now exists (after a Registration). One of
/// the only two Foreground-to-Background messages: one-way, never answered, signed by the Foreground's introduction
/// key and sealed to the Background's, so that the Background can trust it wherever it runs. It carries the address
/// and the user's certificate (a Background on its own host re-wraps ARMs to it); the Background then releases the
/// ARMs it held for it. With the Agent on a host of its own, the Agent's host (where accounts and the CA are) tells
/// the Foreground the same way, signed by the new user's own key: a certificate only this courier's CA can have issued.
/// </summary>
public static class DistributeAccount
{
    public const string MediaType = "application/vnd.gateway.distribute-account+json";
    public const string Prefix = "acct-";

    /// <param name="Certificate">The user's S/MIME certificate (DER), when the Foreground knows it.</param>
    /// <param name="ServedBy">After a Registration Transfer: the courier that serves the address now (the account is
    /// gone here; the element routes the address there).</param>
    /// <param name="Removed">The account was removed (<c>gateway user remove</c>): the element drops it from its list.</param>
    public sealed record Body(string Address, DateTimeOffset CreatedUtc, byte[]? Certificate = null, string? ServedBy = null, bool Removed = false);

    public static (string Name, byte[] Bytes) Build(CourierSecureMimeContext context, IKeyRing foregroundKeys, CourierIdentity identity, string address,
        Org.BouncyCastle.X509.X509Certificate? certificate = null, string? servedBy = null, bool removed = false)
    {
        var body = new Body(address.ToLowerInvariant(), DateTimeOffset.UtcNow, certificate?.GetEncoded(), servedBy?.ToLowerInvariant(), removed);
        var signer = PartEnvelope.Signer(foregroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground));
        var message = CourierMime.Message(identity.ElementAddress(CourierElement.Foreground)!, identity.ElementAddress(CourierElement.Background)!, Subject,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Background)!, CourierMime.Part(MediaType, JsonSerializer.SerializeToUtf8Bytes(body))));
        return (NameOf(body.Address + (servedBy is null ? "" : "\n" + servedBy) + (removed ? "\nremoved" : ""), body.Certificate), CourierMime.Bytes(message));
    }

    /// <summary>Builds one for <paramref name="address"/>, with the user's certificate from <paramref name="keys"/>, and
    /// hands it to the Background (its inbox here, or the link to its host).</summary>
    public static void Send(IKeyRing foregroundKeys, KeyStore keys, CertificateDirectory directory, CourierIdentity identity, IElementDrop background, string address,
        string? servedBy = null, bool removed = false)
    {
        using var context = new CourierSecureMimeContext(foregroundKeys, directory);
        var certificate = CertificateOf(keys, directory, address);
        var (name, bytes) = Build(context, foregroundKeys, identity, address, servedBy is null && !removed ? certificate : null, servedBy, removed);
        background.Drop(name, bytes);
    }

    /// <summary>The user's current certificate: the one stored with their key where the Agent is, else (an element on a
    /// host of its own) the newest the directory learnt.</summary>
    public static Org.BouncyCastle.X509.X509Certificate? CertificateOf(KeyStore keys, CertificateDirectory directory, string address) =>
        keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address.ToLowerInvariant()))
        ?? directory.ForAddress(address).Select(c => c.Certificate).OrderByDescending(c => c.NotAfter).FirstOrDefault();

    /// <summary>From the Agent's host to the Foreground's: signed by the user's own key (issued by this courier's CA),
    /// sealed to the Foreground, carrying the user's certificate.</summary>
    public static void SendToForeground(IKeyRing agentKeys, KeyStore keys, CertificateDirectory directory, CourierIdentity identity, IElementDrop foreground, string address,
        bool removed = false)
    {
        address = address.ToLowerInvariant();
        var certificate = keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address)) ?? throw new PartRejectedException($"{address} has no certificate yet");
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var body = new Body(address, DateTimeOffset.UtcNow, certificate.GetEncoded(), Removed: removed);
        var signer = PartEnvelope.Signer(agentKeys, CourierSecureMimeContext.UserKeyId(address));
        var message = CourierMime.Message(address, identity.ElementAddress(CourierElement.Foreground)!, Subject,
            PartEnvelope.Seal(context, signer, identity.ElementCertificate(CourierElement.Foreground)!, CourierMime.Part(MediaType, JsonSerializer.SerializeToUtf8Bytes(body))));
        foreground.Drop(NameOf(address + (removed ? "\nremoved" : ""), body.Certificate), CourierMime.Bytes(message));
    }

    public const string Subject = "Distribute Account";

    /// <summary>One name per account and certificate: after a Key Replacement the new certificate is a new message.</summary>
    static string NameOf(string address, byte[]? certificate) =>
        Prefix + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(address + "\n" + Convert.ToBase64String(certificate ?? Array.Empty<byte>()))), 0, 12).ToLowerInvariant();

    /// <summary>Opens one from the Agent's host with the Foreground's keys: signed by the very user it names, whose
    /// certificate this courier's CA (<paramref name="ownCa"/>) issued.</summary>
    public static Body ReadFromAgent(CourierSecureMimeContext context, Org.BouncyCastle.X509.X509Certificate? ownCa, MimeMessage message)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: null);
        if (ownCa is null || !opened.Signer.IssuerDN.Equivalent(ownCa.SubjectDN))
            throw new PartRejectedException($"the Distribute Account is signed by <{opened.SignerAddress}>, who is not a user of this courier");
        if (opened.Entity is not MimePart { ContentType.MimeType: MediaType } part) throw new PartRejectedException("not a Distribute Account message");
        var body = JsonSerializer.Deserialize<Body>(CourierMime.Decode(part)) ?? throw new PartRejectedException("empty Distribute Account message");
        if (!string.Equals(body.Address, opened.SignerAddress, StringComparison.OrdinalIgnoreCase))
            throw new PartRejectedException($"the Distribute Account for <{body.Address}> is signed by <{opened.SignerAddress}>");
        return body;
    }

    /// <summary>Opens one with the Background's keys; it must be signed by this courier's own Foreground.</summary>
    public static Body Read(CourierSecureMimeContext context, CourierIdentity identity, MimeMessage message)
    {
        var opened = PartEnvelope.Open(context, message.Body, expectedSigner: identity.ElementAddress(CourierElement.Foreground));
        if (opened.Entity is not MimePart { ContentType.MimeType: MediaType } part) throw new PartRejectedException("not a Distribute Account message");
        return JsonSerializer.Deserialize<Body>(CourierMime.Decode(part)) ?? throw new PartRejectedException("empty Distribute Account message");
    }

    /// <summary>
    /// On a host of its own an element keeps its own list of the courier's users (no passwords: nobody logs in there)
    /// and their certificates, from Distribute Account; in one process the list is the shared one and this adds nothing.
    /// </summary>
    public static void Record(Body account, CertificateDirectory directory, Gateway.Storage.IUserStore users, Action<string, string>? servedElsewhere = null)
    {
        if (account.Removed)
        {
            users.Remove(account.Address);
            return;
        }
        if (account.ServedBy is { } courier)
        {
            users.Remove(account.Address);
            servedElsewhere?.Invoke(account.Address, courier);
            return;
        }
        if (account.Certificate is { } der)
        {
            var certificate = new Org.BouncyCastle.X509.X509Certificate(der);
            if (!string.Equals(Certificates.EmailOf(certificate), account.Address, StringComparison.OrdinalIgnoreCase))
                throw new PartRejectedException($"the certificate in the Distribute Account is not {account.Address}'s");
            directory.Add(certificate, "account");
        }
        if (users.Find(account.Address) is null)
            users.Add(account.Address, Gateway.Storage.PasswordHasher.HashOfUnknownPassword());
    }

    /// <summary>
    /// An element takes a Distribute Account from its inbox: <paramref name="read"/> opens and checks it (who may send
    /// one differs by element), the account is recorded, the message leaves the inbox and what was held for the account
    /// is released; one that does not check out is moved aside.
    /// </summary>
    public static async Task TakeAsync(string element, string from, ElementInbox inbox, string name, byte[] bytes, Func<MimeMessage, Body> read,
        CertificateDirectory directory, Gateway.Storage.IUserStore users, AccountVersions versions, Func<Task> releaseHeld,
        Microsoft.Extensions.Logging.ILogger logger, Action<string, string>? servedElsewhere = null)
    {
        try
        {
            var account = read(MimeMessage.Load(new MemoryStream(bytes, writable: false)));
            if (versions.IsOvertaken(account.Address, account.CreatedUtc))
            {
                // A newer message about this account was applied already (e.g. its removal): this one is out of date.
                Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger,
                    "{Element}: a Distribute Account for {Address} sent {Sent:O} by {From} was overtaken by a newer one; dropped",
                    element, account.Address, account.CreatedUtc, from);
                inbox.Remove(name);
                return;
            }
            Record(account, directory, users, servedElsewhere);
            versions.Applied(account.Address, account.CreatedUtc);
            if (account.Removed)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "{Element}: {From} removed the account {Address}", element, from, account.Address);
                inbox.Remove(name);
                return;
            }
            if (account.ServedBy is { } by)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "{Element}: {Address} is served by {Courier} now (Registration Transfer)", element, account.Address, by);
                inbox.Remove(name);
                return;
            }
            // The element re-wraps to the newest certificate it knows for the account from now on.
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger,
                "{Element}: {From} distributed the account {Address} (certificate {Serial}); releasing what is held for it", element, from, account.Address,
                account.Certificate is { } c ? new Org.BouncyCastle.X509.X509Certificate(c).SerialNumber.ToString(16) : "-");
            inbox.Remove(name);
            await releaseHeld();
        }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or JsonException)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger, "{Element} rejected a Distribute Account message {Part}: {Reason}", element, name, ex.Message);
            inbox.Reject(name);
        }
    }
}
