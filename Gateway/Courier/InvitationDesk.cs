using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using Gateway.Queue;
using Gateway.Smtp;
using Gateway.Storage;
using LiteDB;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Gateway.Courier;

public enum InvitationState { Open, Registered, Answered, Expired }

/// <summary>One Invitation: the address, the registration secret (only its hash is kept), and the held parts it waits for.</summary>
public sealed class InvitationRecord
{
    public string Id { get; set; } = "";
    public string Address { get; set; } = "";
    public byte[] SecretHash { get; set; } = Array.Empty<byte>();
    public DateTime CreatedUtc { get; set; }
    public DateTime ExpiresUtc { get; set; }
    public InvitationState State { get; set; }
    public List<string> MessageIds { get; set; } = new();
    public List<string> Senders { get; set; } = new();
    /// <summary>For an answered invitation: the courier that said the address is served there.</summary>
    public string? AnsweredBy { get; set; }
    public DateTime? ClosedUtc { get; set; }
}

/// <summary>Why a registration link does not work.</summary>
public sealed class RegistrationException(string message) : Exception(message);

/// <summary>
/// The Foreground's Invitations (<c>foreground/invitations.db</c>): a Public courier holding a part for an unknown
/// address invites it once (later parts join the open invitation) with a signed Invitation carrying a one-time
/// registration link; the link's secret is kept only as a SHA-256 hash and compared in constant time, and it expires.
/// Registration creates the account and the user's certificate, tells the Background (Distribute Account, one-way),
/// sends the welcome mail, and both elements release the held parts at their next look (done at once here).
/// An Invitation Reject from the courier serving the address closes the invitation instead.
/// </summary>
public sealed class InvitationDesk : IInvitationDesk, IRegistrationDesk, IDisposable
{
    readonly LiteDatabase _db;
    readonly ILiteCollection<InvitationRecord> _invitations;
    readonly MessageQueue _queue;
    readonly IKeyRing _foregroundKeys;
    readonly CertificateDirectory _directory;
    readonly CourierIdentity _identity;
    readonly CourierAuthority _authority;
    readonly IUserStore _users;
    readonly Func<ElementRelay> _foreground;
    readonly Func<string> _backgroundEndpoint;
    readonly Action<string> _distributeAccount;
    readonly string _registrationUrl;
    readonly string _welcomeText;
    readonly TimeSpan _lifetime;
    readonly KeyAlgorithm _userKeys;
    readonly ILogger<InvitationDesk> _logger;
    readonly TimeProvider _time;
    readonly Lock _gate = new();

    public InvitationDesk(string path, MessageQueue queue, IKeyRing foregroundKeys, CertificateDirectory directory, CourierIdentity identity, CourierAuthority authority,
        IUserStore users, Func<ElementRelay> foreground, Func<string> backgroundEndpoint, Action<string> distributeAccount, string registrationUrl, string welcomeText,
        TimeSpan lifetime, KeyAlgorithm userKeys, ILogger<InvitationDesk> logger, TimeProvider? time = null)
    {
        _db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Shared });
        _invitations = _db.GetCollection<InvitationRecord>("invitations");
        _invitations.EnsureIndex(i => i.Address);
        (_queue, _foregroundKeys, _directory, _identity, _authority, _users) = (queue, foregroundKeys, directory, identity, authority, users);
        (_foreground, _backgroundEndpoint, _distributeAccount, _registrationUrl, _welcomeText, _lifetime, _userKeys, _logger) =
            (foreground, backgroundEndpoint, distributeAccount, registrationUrl, welcomeText, lifetime, userKeys, logger);
        _time = time ?? TimeProvider.System;
    }

    public InvitationRecord? Find(string id) => _invitations.FindById(id);
    public IReadOnlyList<InvitationRecord> All() => _invitations.FindAll().OrderBy(i => i.CreatedUtc).ToList();

    public async Task InviteAsync(string address, string sender, string messageId, CancellationToken cancellationToken)
    {
        address = address.ToLowerInvariant();
        var now = _time.GetUtcNow().UtcDateTime;
        string? secret = null;
        InvitationRecord record;
        lock (_gate)
        {
            var open = _invitations.Find(i => i.Address == address && i.State == InvitationState.Open).FirstOrDefault(i => i.ExpiresUtc > now);
            if (open is not null)
            {
                if (!open.MessageIds.Contains(messageId)) open.MessageIds.Add(messageId);
                if (!open.Senders.Contains(sender, StringComparer.OrdinalIgnoreCase)) open.Senders.Add(sender.ToLowerInvariant());
                _invitations.Update(open);
                return;
            }
            secret = Base64Url(RandomNumberGenerator.GetBytes(32));
            record = new InvitationRecord
            {
                Id = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant(), Address = address, SecretHash = SHA256.HashData(Encoding.ASCII.GetBytes(secret)),
                CreatedUtc = now, ExpiresUtc = now + _lifetime, State = InvitationState.Open, MessageIds = { messageId }, Senders = { sender.ToLowerInvariant() },
            };
            _invitations.Insert(record);
            _db.Checkpoint();
        }
        await SendInvitationAsync(record, secret, sender, cancellationToken);
    }

    async Task SendInvitationAsync(InvitationRecord record, string secret, string sender, CancellationToken cancellationToken)
    {
        var courier = _foreground().CourierId ?? throw new PartRejectedException("this courier has no introduction certificate");
        var link = $"{_registrationUrl}?token={record.Id}.{secret}";
        var text = new StringBuilder()
            .AppendLine($"{sender} sent you a protected message through the mail courier {courier}.")
            .AppendLine()
            .AppendLine("To read it, choose a password for your new mailbox here (the link works once and until")
            .AppendLine($"{record.ExpiresUtc:yyyy-MM-dd HH:mm} UTC):")
            .AppendLine()
            .AppendLine(link)
            .AppendLine()
            .AppendLine("If your address is already served by a courier of this network, you need not do anything: your")
            .AppendLine("courier answers this invitation by itself and the message is passed on to it.")
            .ToString();
        using var context = new CourierSecureMimeContext(_foregroundKeys, _directory);
        var chain = _authority.OwnChain();
        var signer = PartEnvelope.Signer(_foregroundKeys, CourierAuthority.IntroductionKeyId(CourierElement.Foreground), chain);
        var body = new InvitationBody
        {
            InvitationId = record.Id, Address = record.Address, Courier = courier,
            ForegroundEndpoint = _foreground().Endpoint, BackgroundEndpoint = _backgroundEndpoint(),
        };
        var certificates = _authority.Introductions().Concat(chain);
        var message = InvitationMessage.Build(context, signer, _identity.ElementAddress(CourierElement.Foreground)!, body, text, certificates);
        using var buffer = new MemoryStream(CourierMime.Bytes(message), writable: false);
        var to = SmtpMailbox.TryParse(record.Address, out var mailbox) ? mailbox : throw new FormatException("bad address " + record.Address);
        var queued = await _queue.EnqueueAsync(buffer, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", cancellationToken);
        _logger.LogInformation("Foreground invited {Address} (invitation {InvitationId}, queue {QueueId}) for a message from {Sender}", record.Address, record.Id, queued.Id, sender);
    }

    public void Answered(string invitationId, string? address, string courier)
    {
        lock (_gate)
        {
            var record = _invitations.FindById(invitationId);
            if (record is null || !string.Equals(record.Address, address, StringComparison.OrdinalIgnoreCase))
            {
                _logger.LogWarning("An Invitation Reject from {Courier} names invitation {InvitationId} for {Address}, which this courier did not send", courier, invitationId, address);
                return;
            }
            if (record.State != InvitationState.Open) return;
            record.State = InvitationState.Answered;
            record.AnsweredBy = courier;
            record.ClosedUtc = _time.GetUtcNow().UtcDateTime;
            _invitations.Update(record);
            _db.Checkpoint();
        }
        _logger.LogInformation("Invitation {InvitationId} for {Address} answered by {Courier} (Invitation Reject): registration cancelled, held parts go there", invitationId, address, courier);
    }

    /// <summary>In this process the desk answers at once (<see cref="Check"/>).</summary>
    public Task<InvitationRecord> CheckAsync(string? token, CancellationToken cancellationToken) => Task.FromResult(Check(token));

    /// <summary>The open invitation a registration link names, if the link is genuine and still valid.</summary>
    public InvitationRecord Check(string? token)
    {
        var dot = token?.IndexOf('.') ?? -1;
        if (token is null || dot <= 0) throw new RegistrationException("This registration link is not complete; open the link from the invitation mail.");
        var record = _invitations.FindById(token[..dot]);
        var given = SHA256.HashData(Encoding.ASCII.GetBytes(token[(dot + 1)..]));
        if (record is null || !CryptographicOperations.FixedTimeEquals(given, record.SecretHash))
            throw new RegistrationException("This registration link is not valid.");
        return record.State switch
        {
            InvitationState.Registered => throw new RegistrationException($"{record.Address} is registered already; sign in with your mail program."),
            InvitationState.Answered => throw new RegistrationException($"{record.Address} is served by another courier ({record.AnsweredBy}); the message went there."),
            _ when record.ExpiresUtc <= _time.GetUtcNow().UtcDateTime => throw new RegistrationException("This registration link has expired."),
            _ => record,
        };
    }

    /// <summary>With the Agent on its own host: the person registers there, and the invitation is closed here (the
    /// account reaches this Foreground as a Distribute Account from the Agent's host).</summary>
    public InvitationRecord Claim(string token)
    {
        InvitationRecord record;
        lock (_gate)
        {
            record = Check(token);
            record.State = InvitationState.Registered;
            record.ClosedUtc = _time.GetUtcNow().UtcDateTime;
            _invitations.Update(record);
            _db.Checkpoint();
        }
        _logger.LogInformation("Registration: {Address} registered through invitation {InvitationId} at the Agent's host", record.Address, record.Id);
        return record;
    }

    /// <summary>Registration: creates the account and certificate, distributes the account to the Background, sends the welcome mail.</summary>
    public async Task<InvitationRecord> RegisterAsync(string token, string password, CancellationToken cancellationToken)
    {
        InvitationRecord record;
        lock (_gate)
        {
            record = Check(token);
            if (!_users.Add(record.Address, PasswordHasher.Hash(password)))
                throw new RegistrationException($"{record.Address} exists already; sign in with your mail program.");
            record.State = InvitationState.Registered;
            record.ClosedUtc = _time.GetUtcNow().UtcDateTime;
            _invitations.Update(record);
            _db.Checkpoint();
        }
        var certificate = _authority.IssueUser(record.Address, _userKeys);
        _logger.LogInformation("Registration: {Address} registered through invitation {InvitationId}; certificate {Serial} issued", record.Address, record.Id, certificate.SerialNumber.ToString(16));
        _distributeAccount(record.Address);
        await SendWelcomeAsync(record.Address, cancellationToken);
        return record;
    }

    Task SendWelcomeAsync(string address, CancellationToken cancellationToken) =>
        QueueWelcomeAsync(_queue, _identity.ElementAddress(CourierElement.Foreground) ?? "foreground@invalid", address, _welcomeText, _time, cancellationToken);

    /// <summary>Queues the welcome mail with the client settings (<paramref name="welcomeText"/>, {address} filled in).</summary>
    public static async Task QueueWelcomeAsync(MessageQueue queue, string from, string address, string welcomeText, TimeProvider time, CancellationToken cancellationToken)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Gateway", from));
        message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "Welcome: your mailbox is ready";
        message.Date = time.GetUtcNow();
        message.Body = new TextPart("plain") { Text = welcomeText.Replace("{address}", address) };
        using var buffer = new MemoryStream(CourierMime.Bytes(message), writable: false);
        var to = SmtpMailbox.TryParse(address, out var mailbox) ? mailbox : throw new FormatException("bad address " + address);
        await queue.EnqueueAsync(buffer, null, new[] { new SmtpRecipient(to, DsnNotify.Never, null) }, "", cancellationToken);
    }

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _db.Dispose();
}
