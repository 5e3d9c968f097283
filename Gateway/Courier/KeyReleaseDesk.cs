using System.Collections.Concurrent;
using Gateway.Crypto;
using Microsoft.Extensions.Logging;

namespace Gateway.Courier;

/// <summary>
/// The Background's side of a key request from an Agent on another host (<see cref="KeyReleaseRequest"/>): accepted
/// only when signed by the recipient's certificate from this courier's own CA, made within <see cref="MaxSkew"/> of
/// now and never seen before; then the Background decides as it does in one process.
/// </summary>
public sealed class KeyReleaseDesk(IKeyRing backgroundKeys, CertificateDirectory directory, CourierAuthority authority, IKeyRelease background,
    ILogger<KeyReleaseDesk> logger, TimeProvider? time = null)
{
    /// <summary>How far a request's time may be from ours (clocks of two hosts of one courier).</summary>
    public static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(5);
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly ConcurrentDictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);

    /// <summary>The answer to a signed request, or why it is refused (the request itself was not acceptable).</summary>
    public sealed record Answer(KeyRelease? Release, string? Refusal);

    public Answer Handle(byte[] signedRequest)
    {
        var now = _time.GetUtcNow();
        try
        {
            using var context = new CourierSecureMimeContext(backgroundKeys, directory);
            var (request, signer) = KeyReleaseRequest.Open(context, signedRequest);
            if (authority.Certificate is not { } ourCa || !signer.IssuerDN.Equivalent(ourCa.SubjectDN))
                throw new PartRejectedException($"<{request.Recipient}> is not a user of this courier");
            if ((now - request.CreatedUtc).Duration() > MaxSkew)
                throw new PartRejectedException($"the key request was made at {request.CreatedUtc:u}, more than {MaxSkew.TotalMinutes:0} minutes from now");
            Forget(now);
            if (request.Nonce.Length < 16 || !_seen.TryAdd(request.Nonce, request.CreatedUtc))
                throw new PartRejectedException("the key request was seen before (a replay?)");
            return new Answer(background.Release(request.MessageId, request.Recipient, request.Purpose), null);
        }
        catch (PartRejectedException ex)
        {
            logger.LogWarning("Background refused a key request: {Reason}", ex.Message);
            return new Answer(null, ex.Message);
        }
    }

    /// <summary>Nonces older than the skew window cannot come back (their requests are refused as too old).</summary>
    void Forget(DateTimeOffset now)
    {
        if (_seen.Count < 1024) return;
        foreach (var (nonce, at) in _seen)
            if (now - at > MaxSkew * 2) _seen.TryRemove(nonce, out _);
    }
}
