using System.Security.Cryptography;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Queue;
using Gateway.Storage;
using Microsoft.Extensions.Logging;

namespace Gateway.Web;

/// <summary>
/// The registration page's desk on the Agent's own host: the link is checked and claimed at the Foreground's host
/// (<see cref="RegistrationClaimEndpoint"/>), the account, password and certificate are made here, where users log in
/// and the CA is. The account is added before the link is claimed and taken back if the claim fails, so a crash in
/// between leaves an account (which the Foreground learns of and releases the held mail to), never a closed
/// invitation without one. Then the Foreground is told (Distribute Account) and the welcome mail is sent.
/// </summary>
/// <param name="distributeAccount">Tells the Foreground's host of the new account (Distribute Account).</param>
public sealed class RemoteRegistrationDesk(Uri foregroundUrl, IKeyRing agentKeys, CertificateDirectory directory, CourierIdentity identity,
    CourierAuthority authority, IUserStore users, MessageQueue queue, Action<string> distributeAccount, string welcomeText, KeyAlgorithm userKeys,
    ILogger<RemoteRegistrationDesk> logger, TimeProvider? time = null) : IRegistrationDesk, IDisposable
{
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly HttpClient _http = CourierHttpClient.Create(TimeSpan.FromSeconds(15));

    public Task<InvitationRecord> CheckAsync(string? token, CancellationToken cancellationToken) => AskAsync(token ?? "", claim: false, cancellationToken);

    public async Task<InvitationRecord> RegisterAsync(string token, string password, CancellationToken cancellationToken)
    {
        var record = await AskAsync(token, claim: false, cancellationToken);
        if (!users.Add(record.Address, PasswordHasher.Hash(password)))
            throw new RegistrationException($"{record.Address} exists already; sign in with your mail program.");
        try { record = await AskAsync(token, claim: true, cancellationToken); }
        catch
        {
            users.Remove(record.Address);
            throw;
        }
        var certificate = authority.IssueUser(record.Address, userKeys);
        logger.LogInformation("Registration: {Address} registered through invitation {InvitationId}; certificate {Serial} issued", record.Address, record.Id,
            certificate.SerialNumber.ToString(16));
        // The Foreground's host is told now; if that fails, the account distributor tells it on its next round, and the
        // registration, made and claimed, stands.
        try { distributeAccount(record.Address); }
        catch (Exception ex) when (ex is IOException or PartRejectedException)
        {
            logger.LogWarning("Registration: {Address} could not be told to the Foreground's host yet ({Reason}); the account distributor tells it",
                record.Address, ex.Message);
        }
        await InvitationDesk.QueueWelcomeAsync(queue, identity.ElementAddress(CourierElement.Foreground) ?? "foreground@invalid", record.Address, welcomeText, _time,
            cancellationToken);
        return record;
    }

    async Task<InvitationRecord> AskAsync(string token, bool claim, CancellationToken cancellationToken)
    {
        var foregroundCertificate = identity.ElementCertificate(CourierElement.Foreground)
                                    ?? throw new RegistrationException("Registration is not possible at the moment; try again later.");
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var question = RegistrationClaim.Seal(new RegistrationClaim.Question(token, claim, nonce), context, foregroundCertificate);
        RegistrationClaim.Answer answer;
        try
        {
            var (status, body, _) = await _http.PostMimeAsync(new Uri(foregroundUrl, RegistrationClaimEndpoint.Path), question, cancellationToken);
            if ((int)status is < 200 or > 299) throw new PartRejectedException($"the Foreground answered {(int)status}");
            answer = SignedJson.Open<RegistrationClaim.Answer>(context, body, RegistrationClaim.AnswerMediaType, Certificates.EmailOf(foregroundCertificate)!);
            if (answer.Nonce != nonce) throw new PartRejectedException("the answer is for another question (a replay?)");
        }
        catch (Exception ex) when (ex is PartRejectedException || CourierHttpClient.Unreachable(ex, cancellationToken))
        {
            logger.LogError("Registration: the Foreground at {Url} could not {What} a link: {Reason}", foregroundUrl, claim ? "claim" : "check", ex.Message);
            throw new RegistrationException("Registration is not possible at the moment; try again later.");
        }
        if (answer.Refusal is { } refusal) throw new RegistrationException(refusal);
        return new InvitationRecord
        {
            Id = answer.InvitationId ?? "", Address = answer.Address ?? throw new RegistrationException("Registration is not possible at the moment; try again later."),
            ExpiresUtc = answer.ExpiresUtc, State = claim ? InvitationState.Registered : InvitationState.Open,
        };
    }

    public void Dispose() => _http.Dispose();
}
