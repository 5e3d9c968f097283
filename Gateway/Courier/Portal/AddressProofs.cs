using System.Security.Cryptography;
using System.Text;
using Gateway.Crypto;
using LiteDB;

namespace Gateway.Courier.Portal;

/// <summary>Limits of the proof of address (defaults as the pickup page uses them).</summary>
public sealed record AddressProofLimits
{
    /// <summary>How long a code may be used.</summary>
    public TimeSpan CodeLifetime { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Wrong codes entered for one link before it is locked.</summary>
    public int MaxWrongPerLink { get; init; } = 5;
    /// <summary>How long a link stays locked after too many wrong codes.</summary>
    public TimeSpan LinkLock { get; init; } = TimeSpan.FromMinutes(15);
    /// <summary>Codes sent for one link, and to one address over all its links, within <see cref="RequestWindow"/>.</summary>
    public int MaxCodesPerLink { get; init; } = 5;
    public int MaxCodesPerAddress { get; init; } = 10;
    /// <summary>Wrong codes for one address over all its links within <see cref="RequestWindow"/> before its checks pause.</summary>
    public int MaxWrongPerAddress { get; init; } = 15;
    public TimeSpan RequestWindow { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>The answer to a request for a code: the code to mail to the address, or why none is sent now.</summary>
public abstract record CodeRequest
{
    public sealed record Issued(string Code, DateTimeOffset ExpiresUtc) : CodeRequest;
    public sealed record Refused(string Reason, DateTimeOffset RetryAfterUtc) : CodeRequest;
}

public enum CodeCheck
{
    /// <summary>The right code, in time: the address is proven (the code is used up).</summary>
    Accepted,
    /// <summary>Not the code; more tries are left.</summary>
    Wrong,
    /// <summary>Too many wrong codes: the link (or the address) is locked for a while.</summary>
    Locked,
    /// <summary>The code's time ran out; ask for a new one.</summary>
    Expired,
    /// <summary>No code was asked for this link (or it was used already).</summary>
    NoCode,
}

/// <summary>
/// The outside recipient's proof of address for a pickup link: a one-time code, sent to the address in a mail of its
/// own, single-use, expiring, limited in requests and in wrong tries per link and per address; too many wrong tries
/// lock the link for a while. Only an HMAC of each code is kept (under a key derived from the master key), in
/// <c>portal.db</c>, so the store never holds a usable code.
/// </summary>
public sealed class AddressProofs : IDisposable
{
    sealed class LinkRecord
    {
        public string Id { get; set; } = "";
        public string Address { get; set; } = "";
        public byte[]? CodeMac { get; set; }
        // Times as UTC ticks: LiteDB gives DateTime values back in local time.
        public long CodeExpiresTicks { get; set; }
        public int Wrong { get; set; }
        public long LockedUntilTicks { get; set; }
        public List<long> Requests { get; set; } = new();
    }

    sealed class AddressRecord
    {
        public string Id { get; set; } = "";
        public List<long> Requests { get; set; } = new();
        public List<long> Wrong { get; set; } = new();
    }

    readonly LiteDatabase _db;
    readonly ILiteCollection<LinkRecord> _links;
    readonly ILiteCollection<AddressRecord> _addresses;
    readonly byte[] _key;
    readonly TimeProvider _time;
    readonly AddressProofLimits _limits;
    readonly Lock _gate = new();

    public AddressProofs(string databasePath, MasterKey masterKey, TimeProvider? time = null, AddressProofLimits? limits = null)
    {
        _db = Gateway.Storage.LiteDbFiles.Open(databasePath);
        _links = _db.GetCollection<LinkRecord>("links");
        _addresses = _db.GetCollection<AddressRecord>("addresses");
        _key = masterKey.Derive("portal/address-proof");
        _time = time ?? TimeProvider.System;
        _limits = limits ?? new AddressProofLimits();
    }

    byte[] Mac(string linkId, string code) => HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(linkId + "\n" + code));

    /// <summary>A fresh code for the link (replacing any earlier one), unless the link or the address asked too often or the link is locked.</summary>
    public CodeRequest Request(string linkId, string address)
    {
        address = address.ToLowerInvariant();
        var now = _time.GetUtcNow().UtcTicks;
        lock (_gate)
        {
            var link = _links.FindById(linkId) ?? new LinkRecord { Id = linkId, Address = address };
            var owner = _addresses.FindById(address) ?? new AddressRecord { Id = address };
            if (link.LockedUntilTicks > now) return new CodeRequest.Refused("too many wrong codes were entered for this link", At(link.LockedUntilTicks));
            Recent(link.Requests, now);
            Recent(owner.Requests, now);
            if (link.Requests.Count >= _limits.MaxCodesPerLink)
                return new CodeRequest.Refused("enough codes were sent for this link for now", At(link.Requests.Min()) + _limits.RequestWindow);
            if (owner.Requests.Count >= _limits.MaxCodesPerAddress)
                return new CodeRequest.Refused("enough codes were sent to this address for now", At(owner.Requests.Min()) + _limits.RequestWindow);
            var code = RandomNumberGenerator.GetInt32(0, 100_000_000).ToString("D8");
            link.CodeMac = Mac(linkId, code);
            link.CodeExpiresTicks = now + _limits.CodeLifetime.Ticks;
            link.Requests.Add(now);
            owner.Requests.Add(now);
            _db.BeginTrans();
            _links.Upsert(link);
            _addresses.Upsert(owner);
            _db.Commit();
            return new CodeRequest.Issued(code, At(link.CodeExpiresTicks));
        }
    }

    /// <summary>Checks a code entered for the link; a right one is used up, wrong ones count toward the locks.</summary>
    public CodeCheck Check(string linkId, string code)
    {
        var now = _time.GetUtcNow().UtcTicks;
        lock (_gate)
        {
            var link = _links.FindById(linkId);
            if (link is null) return CodeCheck.NoCode;
            if (link.LockedUntilTicks > now) return CodeCheck.Locked;
            var owner = _addresses.FindById(link.Address) ?? new AddressRecord { Id = link.Address };
            Recent(owner.Wrong, now);
            if (owner.Wrong.Count >= _limits.MaxWrongPerAddress) return CodeCheck.Locked;
            if (link.CodeMac is null) return CodeCheck.NoCode;
            if (now >= link.CodeExpiresTicks)
            {
                link.CodeMac = null;
                _links.Update(link);
                return CodeCheck.Expired;
            }
            var given = code.Trim();
            var right = given.Length == 8 && given.All(char.IsAsciiDigit) && CryptographicOperations.FixedTimeEquals(Mac(linkId, given), link.CodeMac);
            _db.BeginTrans();
            CodeCheck result;
            if (right)
            {
                link.CodeMac = null;
                link.Wrong = 0;
                result = CodeCheck.Accepted;
            }
            else
            {
                link.Wrong++;
                owner.Wrong.Add(now);
                _addresses.Upsert(owner);
                if (link.Wrong >= _limits.MaxWrongPerLink)
                {
                    link.CodeMac = null;
                    link.Wrong = 0;
                    link.LockedUntilTicks = now + _limits.LinkLock.Ticks;
                    result = CodeCheck.Locked;
                }
                else result = CodeCheck.Wrong;
            }
            _links.Update(link);
            _db.Commit();
            return result;
        }
    }

    void Recent(List<long> times, long now) => times.RemoveAll(t => now - t >= _limits.RequestWindow.Ticks);

    static DateTimeOffset At(long utcTicks) => new(utcTicks, TimeSpan.Zero);

    public void Dispose() => _db.Dispose();
}
