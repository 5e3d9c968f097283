using Gateway.Crypto;
using MimeKit;
using MimeKit.Cryptography;

namespace Gateway.Courier;

/// <summary>
/// A request an Agent sends to this courier's Background on another host for one of its users (a key release, the
/// sender's status page): JSON inside an opaque S/MIME signature by the user's own key, which only the user's Agent
/// holds. <see cref="Open"/> checks the signature (chain to our anchors, unrevoked) and that the signer is the user
/// the request names; <see cref="SignedRequestGuard"/> checks the rest (our CA, freshness, replays).
/// </summary>
public static class UserSignedRequest
{
    public static byte[] Sign(IKeyRing agentKeys, CertificateDirectory directory, string user, string mediaType, byte[] json)
    {
        using var context = new CourierSecureMimeContext(agentKeys, directory);
        var signer = PartEnvelope.Signer(agentKeys, CourierSecureMimeContext.UserKeyId(user.ToLowerInvariant()));
        var signed = ApplicationPkcs7Mime.Sign(context, signer, CourierMime.Part(mediaType, json));
        using var buffer = new MemoryStream();
        signed.WriteTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>The signed JSON and the signer; the caller checks the signer is the user the JSON names.</summary>
    public static (byte[] Json, Org.BouncyCastle.X509.X509Certificate Signer, string? SignerAddress) Open(CourierSecureMimeContext context, byte[] signed, string mediaType)
    {
        MimeEntity entity;
        try { entity = MimeEntity.Load(new MemoryStream(signed, writable: false)); }
        catch (FormatException ex) { throw new PartRejectedException("the request is not MIME: " + ex.Message, ex); }
        var opened = PartEnvelope.Verify(context, entity, expectedSigner: null);
        if (opened.Entity is not MimePart { ContentType.MimeType: var type } part || type != mediaType)
            throw new PartRejectedException($"the signed entity is not {mediaType}");
        return (CourierMime.Decode(part), opened.Signer, opened.SignerAddress);
    }
}

/// <summary>
/// The Background's checks of an Agent's signed request beyond the signature: signed by a user this courier's own CA
/// issued, made within <see cref="MaxSkew"/> of now, its nonce never seen before (a replay would count an open again),
/// also across a restart when a <paramref name="ledger"/> keeps them on disk.
/// </summary>
public sealed class SignedRequestGuard(CourierAuthority authority, TimeProvider? time = null, RequestNonceLedger? ledger = null)
{
    /// <summary>How far a request's time may be from ours (clocks of two hosts of one courier).</summary>
    public static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(5);
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);

    public void Check(Org.BouncyCastle.X509.X509Certificate signer, string user, DateTimeOffset createdUtc, string nonce)
    {
        if (authority.Certificate is not { } ourCa || !signer.IssuerDN.Equivalent(ourCa.SubjectDN))
            throw new PartRejectedException($"<{user}> is not a user of this courier");
        var now = _time.GetUtcNow();
        if ((now - createdUtc).Duration() > MaxSkew)
            throw new PartRejectedException($"the request was made at {createdUtc:u}, more than {MaxSkew.TotalMinutes:0} minutes from now");
        if (nonce.Length is < 16 or > 128) throw new PartRejectedException("the request's nonce is missing or malformed");
        // With a ledger the nonces are on disk (they outlive a restart); without one, in memory.
        var first = ledger is not null ? ledger.TryRecord(nonce, createdUtc, now) : RememberInMemory(nonce, createdUtc, now);
        if (!first) throw new PartRejectedException("the request was seen before (a replay?)");
    }

    bool RememberInMemory(string nonce, DateTimeOffset createdUtc, DateTimeOffset now)
    {
        Forget(now);
        return _seen.TryAdd(nonce, createdUtc);
    }

    /// <summary>Nonces older than the skew window cannot come back (their requests are refused as too old).</summary>
    void Forget(DateTimeOffset now)
    {
        if (_seen.Count < 1024) return;
        foreach (var (nonce, at) in _seen)
            if (now - at > MaxSkew * 2) _seen.TryRemove(nonce, out _);
    }
}
