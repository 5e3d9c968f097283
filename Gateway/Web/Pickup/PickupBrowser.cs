using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gateway.Courier.Portal;
using Gateway.Crypto;
using Microsoft.AspNetCore.Http;

namespace Gateway.Web.Pickup;

/// <summary>
/// What the pickup pages keep in the recipient's browser and in memory: the proof of address (a signed cookie for the
/// session, and for a trusted browser a longer one), the form token against cross-site requests (bound to a random
/// cookie of the browser and to the link), and the views (a counted open, within which the message's images and
/// attachments are served without counting again). Cookies are <c>__Host-</c>, HttpOnly, Secure; the proofs are
/// SameSite=Lax so that the link in a mail finds them, the form cookie SameSite=Strict.
/// </summary>
public sealed class PickupBrowser(MasterKey masterKey, TimeSpan sessionLifetime, TimeSpan trustLifetime)
{
    public const string ProofCookie = "__Host-pickup-proof";
    public const string TrustCookie = "__Host-pickup-trust";
    public const string FormCookie = "__Host-pickup-form";

    const int MaxViews = 50_000;
    readonly byte[] _key = masterKey.Derive("portal/browser");
    readonly ConcurrentDictionary<string, ViewGrant> _views = new(StringComparer.Ordinal);

    sealed record ViewGrant(string LinkId, DateTimeOffset ExpiresUtc);

    public bool TrustOffered => trustLifetime > TimeSpan.Zero;

    /// <summary>Whether this browser proved the address (this session, or as a trusted browser).</summary>
    public bool Proven(HttpContext http, string address, DateTimeOffset now) =>
        Valid(http.Request.Cookies[ProofCookie], "proof", address, now) || Valid(http.Request.Cookies[TrustCookie], "trust", address, now);

    /// <summary>Records the proof in the browser; remembered for longer when the recipient asked and policy allows.</summary>
    public void Prove(HttpContext http, string address, bool remember, DateTimeOffset now)
    {
        Set(http, ProofCookie, Sign("proof", address, now + sessionLifetime), now + sessionLifetime, SameSiteMode.Lax);
        if (remember && TrustOffered) Set(http, TrustCookie, Sign("trust", address, now + trustLifetime), now + trustLifetime, SameSiteMode.Lax);
    }

    /// <summary>The form token for this browser and link (the browser gets its random cookie on first sight).</summary>
    public string FormToken(HttpContext http, string linkId)
    {
        var value = http.Items[FormCookie] as string ?? http.Request.Cookies[FormCookie];
        if (value is not { Length: 43 })
        {
            value = PickupLink.Base64Url(RandomNumberGenerator.GetBytes(32));
            Set(http, FormCookie, value, null, SameSiteMode.Strict);
            http.Items[FormCookie] = value;
        }
        return Mac("form\n" + value + "\n" + linkId);
    }

    public bool FormTokenMatches(HttpContext http, string linkId, string? token)
    {
        var value = http.Request.Cookies[FormCookie];
        if (value is not { Length: 43 } || string.IsNullOrEmpty(token)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac("form\n" + value + "\n" + linkId)), Encoding.ASCII.GetBytes(token));
    }

    /// <summary>A new view of the message behind the link (after an open was counted).</summary>
    public string BeginView(string linkId, DateTimeOffset now)
    {
        foreach (var old in _views.Where(v => v.Value.ExpiresUtc <= now).Select(v => v.Key).ToList()) _views.TryRemove(old, out _);
        // Bounded: past MaxViews the views that end soonest go (their pages can still be opened again, as a new open).
        if (_views.Count >= MaxViews)
            foreach (var old in _views.OrderBy(v => v.Value.ExpiresUtc).Take(_views.Count - MaxViews / 2).Select(v => v.Key).ToList()) _views.TryRemove(old, out _);
        var id = PickupLink.Base64Url(RandomNumberGenerator.GetBytes(24));
        _views[id] = new ViewGrant(linkId, now + sessionLifetime);
        return id;
    }

    /// <summary>Whether the view is one of this link's and still current.</summary>
    public bool InView(string? viewId, string linkId, DateTimeOffset now) =>
        viewId is { Length: 32 } && _views.TryGetValue(viewId, out var grant) && grant.LinkId == linkId && grant.ExpiresUtc > now;

    string Sign(string purpose, string address, DateTimeOffset expires)
    {
        var payload = new byte[8 + Encoding.UTF8.GetByteCount(address)];
        BinaryPrimitives.WriteInt64BigEndian(payload, expires.ToUnixTimeSeconds());
        Encoding.UTF8.GetBytes(address.ToLowerInvariant(), payload.AsSpan(8));
        var text = PickupLink.Base64Url(payload);
        return text + "." + Mac(purpose + "\n" + text);
    }

    bool Valid(string? cookie, string purpose, string address, DateTimeOffset now)
    {
        if (cookie is null || cookie.Length > 1024) return false;
        var dot = cookie.IndexOf('.');
        if (dot <= 0) return false;
        var text = cookie[..dot];
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(purpose + "\n" + text)), Encoding.ASCII.GetBytes(cookie[(dot + 1)..]))) return false;
        var payload = PickupLink.FromBase64Url(text);
        if (payload is null || payload.Length < 9) return false;
        return DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(payload)) > now
               && string.Equals(Encoding.UTF8.GetString(payload.AsSpan(8)), address, StringComparison.OrdinalIgnoreCase);
    }

    string Mac(string text) => PickupLink.Base64Url(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(text)));

    static void Set(HttpContext http, string name, string value, DateTimeOffset? expires, SameSiteMode sameSite) =>
        http.Response.Cookies.Append(name, value, new CookieOptions
        {
            HttpOnly = true, Secure = true, SameSite = sameSite, Path = "/", Expires = expires, IsEssential = true,
        });
}
