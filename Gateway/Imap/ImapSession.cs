using System.Net;
using System.Text;
using Gateway.Configuration;
using Gateway.Smtp;
using Gateway.Storage.Mail;
using Microsoft.Extensions.Logging;

namespace Gateway.Imap;

public enum ImapState { NotAuthenticated, Authenticated, Selected, Logout }

/// <summary>
/// One IMAP4rev1 session (RFC 3501) with the extensions clients rely on: LITERAL+, SASL-IR, ID, ENABLE, IDLE,
/// NAMESPACE, UNSELECT, UIDPLUS, MOVE, SPECIAL-USE, CHILDREN, CONDSTORE and QUOTA. Commands are read one at a time
/// and answered in order; untagged updates about the selected mailbox are sent before each tagged completion.
/// This file holds the command loop and the commands valid in any state; the others are in the partial files.
/// </summary>
public sealed partial class ImapSession
{
    const string BaseCapabilities = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CHILDREN CONDSTORE QUOTA";

    readonly ImapSessionSettings _settings;
    readonly ImapConnection _io;
    readonly MailStore _store;
    readonly IImapAuthenticator _authenticator;
    readonly AuthThrottle _authThrottle;
    readonly ImapUserSessions _userSessions;
    readonly IPAddress _remote;
    readonly ILogger _log;
    readonly CancellationToken _stopping;
    readonly CancellationToken _closed;
    readonly List<string> _untagged = new();
    readonly SemaphoreSlim _changed = new(0, int.MaxValue);

    ImapState _state = ImapState.NotAuthenticated;
    string? _user;
    MailboxView? _selected;
    bool _condstore;
    int _badCommands;

    public ImapSession(ImapSessionSettings settings, ImapConnection io, MailStore store, IImapAuthenticator authenticator,
        AuthThrottle authThrottle, ImapUserSessions userSessions, IPAddress remote, ILogger log, CancellationToken stopping, CancellationToken closed)
    {
        _settings = settings;
        _io = io;
        _store = store;
        _authenticator = authenticator;
        _authThrottle = authThrottle;
        _userSessions = userSessions;
        _remote = remote;
        _log = log;
        _stopping = stopping;
        _closed = closed;
    }

    /// <summary>Opens protected messages (content parts) for their owner; without it they are served as stored.</summary>
    public IProtectedMessageReader? ProtectedReader { get; init; }
    /// <summary>Protected messages this session has opened: later fetches show them again without counting another open.</summary>
    readonly HashSet<string> _openedProtected = new();

    /// <summary>Stored structures opened and parsed in this session, by message (a message never changes): a second
    /// SEARCH or FETCH ENVELOPE over the same mail does not unseal them again. Bounded; cleared when full.</summary>
    readonly Dictionary<long, MessageStructure> _structures = new();
    const int MaxCachedStructures = 20_000;

    public ImapState State => _state;
    public string? User => _user;

    string Capabilities()
    {
        if (_state != ImapState.NotAuthenticated) return BaseCapabilities;
        if (_io.IsSecure) return BaseCapabilities + " AUTH=PLAIN AUTH=LOGIN";
        return BaseCapabilities + (_settings.Listener.Tls == TlsMode.StartTls ? " STARTTLS" : "") + " LOGINDISABLED";
    }

    public async Task RunAsync()
    {
        _store.MailboxChanged += OnMailboxChanged;
        try
        {
            _io.WriteLine($"* OK [CAPABILITY {Capabilities()}] {_settings.Hostname} Gateway IMAP ready");
            await _io.FlushAsync(_closed);
            while (_state != ImapState.Logout)
            {
                if (!await ReadAndRunOneAsync()) break;
            }
        }
        finally
        {
            _store.MailboxChanged -= OnMailboxChanged;
            if (_user is not null) _userSessions.Release(_user);
        }
    }

    void OnMailboxChanged(int mailboxId)
    {
        if (_selected?.MailboxId == mailboxId) _changed.Release();
    }

    TimeSpan ReadTimeout => _state == ImapState.NotAuthenticated ? _settings.PreAuthTimeout : TimeSpan.FromMinutes(_settings.Limits.IdleTimeoutMinutes);

    /// <summary>Reads one command and runs it; false when the session should end.</summary>
    async Task<bool> ReadAndRunOneAsync()
    {
        ImapRead read;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping, _closed))
        {
            timeout.CancelAfter(ReadTimeout);
            try
            {
                read = await _io.Reader.ReadAsync(async () =>
                {
                    _io.WriteLine("+ Ready for literal data");
                    await _io.FlushAsync(_closed);
                }, timeout.Token);
            }
            catch (OperationCanceledException) when (!_closed.IsCancellationRequested)
            {
                if (_stopping.IsCancellationRequested) _io.WriteLine("* BYE Server shutting down");
                else
                {
                    _log.LogInformation("IMAP autologout after {Minutes:F0} minutes without a command", ReadTimeout.TotalMinutes);
                    _io.WriteLine("* BYE Autologout; idle for too long");
                }
                await _io.FlushAsync(CancellationToken.None);
                return false;
            }
        }

        switch (read.Status)
        {
            case ImapReadStatus.Closed:
                return false;
            case ImapReadStatus.LineTooLong:
                _io.WriteLine($"{read.Tag ?? "*"} BAD Command line too long (limit {_settings.Limits.MaxLineLength} octets)");
                return await AfterBadAsync();
            case ImapReadStatus.LiteralTooLarge:
                _io.WriteLine($"{read.Tag ?? "*"} BAD [TOOBIG] Literal too large (limit {_settings.Limits.MaxLiteralSize} octets)");
                if (!read.CanContinue)
                {
                    _io.WriteLine("* BYE A LITERAL+ larger than the limit was sent; closing");
                    await _io.FlushAsync(_closed);
                    return false;
                }
                return await AfterBadAsync();
        }

        // The command's large literals (working copies) are given up once it has run.
        using var raw = read.Command!;
        ImapCommand command;
        try
        {
            command = ImapCommandParser.Parse(raw);
        }
        catch (ImapSyntaxException ex)
        {
            _io.WriteLine($"{ex.Tag ?? "*"} BAD {ex.Message}");
            return await AfterBadAsync();
        }

        var outcome = await RunCommandAsync(command);
        await _io.FlushAsync(_closed);
        if (outcome == Outcome.Bad) return await AfterBadAsync();
        return _state != ImapState.Logout;
    }

    async Task<bool> AfterBadAsync()
    {
        if (++_badCommands < _settings.MaxBadCommands)
        {
            await _io.FlushAsync(_closed);
            return true;
        }
        _log.LogWarning("Closing IMAP session after {Count} bad commands", _badCommands);
        _io.WriteLine("* BYE Too many invalid commands");
        await _io.FlushAsync(_closed);
        return false;
    }

    enum Outcome { Ok, No, Bad }

    async Task<Outcome> RunCommandAsync(ImapCommand c)
    {
        try
        {
            var name = c.Name;
            var byUid = false;
            var arguments = c.Arguments;
            if (name == "UID")
            {
                if (arguments.Count == 0 || arguments[0] is not ImapValue.Atom sub) return Bad(c, "UID needs a command: FETCH, STORE, SEARCH, COPY, MOVE or EXPUNGE");
                name = sub.Text.ToUpperInvariant();
                if (name is not ("FETCH" or "STORE" or "SEARCH" or "COPY" or "MOVE" or "EXPUNGE")) return Bad(c, $"UID {name} is not a command");
                byUid = true;
                arguments = arguments.Skip(1).ToList();
            }

            var allowed = name switch
            {
                "CAPABILITY" or "NOOP" or "LOGOUT" or "ID" => true,
                "STARTTLS" or "LOGIN" or "AUTHENTICATE" => _state == ImapState.NotAuthenticated,
                "SELECT" or "EXAMINE" or "CREATE" or "DELETE" or "RENAME" or "SUBSCRIBE" or "UNSUBSCRIBE" or "LIST" or "LSUB" or "STATUS"
                    or "APPEND" or "NAMESPACE" or "ENABLE" or "IDLE" or "GETQUOTA" or "GETQUOTAROOT" or "SETQUOTA"
                    => _state is ImapState.Authenticated or ImapState.Selected,
                "CHECK" or "CLOSE" or "UNSELECT" or "EXPUNGE" or "SEARCH" or "FETCH" or "STORE" or "COPY" or "MOVE" => _state == ImapState.Selected,
                _ => (bool?)null,
            };
            if (allowed is null) return Bad(c, $"Unknown command {c.Name}");
            if (allowed == false)
                return Bad(c, _state == ImapState.NotAuthenticated ? $"{name} needs you to log in first"
                    : _state == ImapState.Selected || name is "STARTTLS" or "LOGIN" or "AUTHENTICATE" ? $"{name} is not valid in this state"
                    : $"{name} needs a selected mailbox; SELECT one first");

            var outcome = name switch
            {
                "CAPABILITY" => Capability(c),
                "NOOP" or "CHECK" => Ok(c, $"{name} completed"),
                "LOGOUT" => Logout(c),
                "ID" => Id(c),
                "STARTTLS" => await StartTlsAsync(c),
                "LOGIN" => await LoginAsync(c),
                "AUTHENTICATE" => await AuthenticateAsync(c),
                "ENABLE" => Enable(c),
                "NAMESPACE" => Ok(c, "NAMESPACE completed", "* NAMESPACE ((\"\" \"/\")) NIL NIL"),
                "SELECT" or "EXAMINE" => Select(c, readOnly: name == "EXAMINE"),
                "CREATE" => Create(c),
                "DELETE" => Delete(c),
                "RENAME" => Rename(c),
                "SUBSCRIBE" or "UNSUBSCRIBE" => Subscribe(c, name == "SUBSCRIBE"),
                "LIST" or "LSUB" => List(c, lsub: name == "LSUB"),
                "STATUS" => Status(c),
                "APPEND" => await AppendAsync(c),
                "GETQUOTA" or "GETQUOTAROOT" or "SETQUOTA" => Quota(c, name),
                "IDLE" => await IdleAsync(c),
                "CLOSE" or "UNSELECT" => Close(c, expunge: name == "CLOSE"),
                "EXPUNGE" => Expunge(c, arguments, byUid),
                "SEARCH" => await SearchAsync(c, arguments, byUid),
                "FETCH" => await FetchAsync(c, arguments, byUid),
                "STORE" => Store(c, arguments, byUid),
                "COPY" or "MOVE" => Copy(c, arguments, byUid, move: name == "MOVE"),
                _ => Bad(c, $"Unknown command {c.Name}"),
            };
            return outcome;
        }
        catch (ImapSyntaxException ex) { return Bad(c, ex.Message); }
        catch (BadCharsetException) { return No(c, "[BADCHARSET (US-ASCII UTF-8)] Charset not supported"); }
        catch (QuotaExceededException ex) { return No(c, $"[OVERQUOTA] Quota exceeded ({ex.UsedKilobytes} of {ex.LimitKilobytes} KiB used)"); }
        catch (MailboxException ex) { return No(c, (ex.ResponseCode is null ? "" : $"[{ex.ResponseCode}] ") + ex.Message); }
        catch (MailboxSealException ex)
        {
            _log.LogError("IMAP {Command} refused: {Reason}", c.Name, ex.Message);
            return No(c, "[UNAVAILABLE] The message cannot be sealed for this mailbox yet, so it was not stored; try again later");
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            _log.LogError("IMAP {Command}: a stored message or its record does not open: {Reason}", c.Name, ex.Message);
            return No(c, "[SERVERBUG] A stored message does not open with this mailbox's key; the operator was told");
        }
        catch (IOException ex) when (!_closed.IsCancellationRequested)
        {
            _log.LogError(ex, "IMAP {Command} failed reading or writing the store", c.Name);
            return No(c, "[SERVERBUG] The message store could not be read; try again later");
        }
    }

    // ---- completion helpers ---------------------------------------------------------------------------------------

    /// <summary>Sends pending untagged updates, then the tagged OK.</summary>
    Outcome Ok(ImapCommand c, string text, params string[] untagged)
    {
        foreach (var line in untagged) _io.WriteLine(line);
        FlushUpdates(allowExpunge: !(c.Name is "FETCH" or "STORE" or "SEARCH"));
        _io.WriteLine($"{c.Tag} OK {text}");
        return Outcome.Ok;
    }

    Outcome No(ImapCommand c, string text)
    {
        FlushUpdates(allowExpunge: !(c.Name is "FETCH" or "STORE" or "SEARCH"));
        _io.WriteLine($"{c.Tag} NO {text}");
        return Outcome.No;
    }

    Outcome Bad(ImapCommand c, string text)
    {
        _io.WriteLine($"{c.Tag} BAD {text}");
        return Outcome.Bad;
    }

    /// <summary>Brings the client up to date on the selected mailbox (RFC 3501 7: untagged data before completion).</summary>
    void FlushUpdates(bool allowExpunge)
    {
        if (_selected is null) return;
        _untagged.Clear();
        if (!_selected.Sync(_store, _untagged, allowExpunge, _condstore))
        {
            _io.WriteLine("* BYE The selected mailbox was deleted by another session");
            _state = ImapState.Logout;
            _selected = null;
            return;
        }
        foreach (var line in _untagged) _io.WriteLine(line);
    }

    // ---- any state ------------------------------------------------------------------------------------------------

    Outcome Capability(ImapCommand c) => Ok(c, "CAPABILITY completed", "* CAPABILITY " + Capabilities());

    Outcome Logout(ImapCommand c)
    {
        _io.WriteLine("* BYE Logging out");
        _io.WriteLine($"{c.Tag} OK LOGOUT completed");
        _state = ImapState.Logout;
        return Outcome.Ok;
    }

    /// <summary>ID (RFC 2971): logs what the client says of itself, tells it what we are.</summary>
    Outcome Id(ImapCommand c)
    {
        if (c.Arguments.Count != 1) return Bad(c, "ID takes one argument: a list or NIL");
        if (c.Arguments[0] is ImapValue.List list && list.Items.Count is > 0 and <= 60)
        {
            var pairs = new List<string>();
            for (var i = 0; i + 1 < list.Items.Count; i += 2) pairs.Add($"{list.Items[i].AsString()}={list.Items[i + 1].AsString()}");
            _log.LogInformation("IMAP client ID: {ClientId}", string.Join(", ", pairs));
        }
        var version = typeof(ImapSession).Assembly.GetName().Version?.ToString(3) ?? "1.0.0";
        return Ok(c, "ID completed", $"* ID (\"name\" \"Gateway\" \"version\" \"{version}\")");
    }

    /// <summary>ENABLE (RFC 5161): CONDSTORE is the only extension here that needs enabling.</summary>
    Outcome Enable(ImapCommand c)
    {
        if (c.Arguments.Count == 0) return Bad(c, "ENABLE needs at least one capability name");
        var enabled = new List<string>();
        foreach (var arg in c.Arguments)
        {
            var name = arg.AsString()?.ToUpperInvariant();
            if (name == "CONDSTORE" && !_condstore) { _condstore = true; enabled.Add("CONDSTORE"); }
        }
        return Ok(c, "ENABLE completed", "* ENABLED" + string.Concat(enabled.Select(e => " " + e)));
    }

    // ---- not authenticated ----------------------------------------------------------------------------------------

    async Task<Outcome> StartTlsAsync(ImapCommand c)
    {
        if (_io.IsSecure) return Bad(c, "TLS is already active");
        if (_settings.Listener.Tls != TlsMode.StartTls) return Bad(c, "STARTTLS is not offered on this port");
        _io.WriteLine($"{c.Tag} OK Begin TLS negotiation now");
        await _io.FlushAsync(_closed);
        if (_io.HasBufferedInput())
        {
            // Commands pipelined behind STARTTLS would be read as if they came over TLS: refuse the connection.
            _log.LogWarning("Client sent data after STARTTLS before the TLS handshake; closing");
            _state = ImapState.Logout;
            return Outcome.Ok;
        }
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_closed);
        handshake.CancelAfter(TimeSpan.FromSeconds(30));
        await _io.UpgradeToTlsAsync(_settings.TlsOptions(), handshake.Token);
        _log.LogInformation("TLS started: {Protocol} {Cipher}", _io.Tls!.SslProtocol, _io.Tls.NegotiatedCipherSuite);
        return Outcome.Ok;
    }

    async Task<Outcome> LoginAsync(ImapCommand c)
    {
        if (!_io.IsSecure) return No(c, "[PRIVACYREQUIRED] LOGIN is only allowed over TLS; use STARTTLS or the implicit TLS port");
        if (c.Arguments.Count != 2 || c.Arguments[0].AsString() is not { } user || c.Arguments[1].AsString() is not { } password)
            return Bad(c, "LOGIN needs a user name and a password");
        return await CompleteLoginAsync(c, user, password);
    }

    /// <summary>AUTHENTICATE PLAIN (RFC 4616) or LOGIN, with an optional initial response (SASL-IR, RFC 4959).</summary>
    async Task<Outcome> AuthenticateAsync(ImapCommand c)
    {
        if (!_io.IsSecure) return No(c, "[PRIVACYREQUIRED] Authentication is only allowed over TLS; use STARTTLS or the implicit TLS port");
        if (c.Arguments.Count is < 1 or > 2 || c.Arguments[0] is not ImapValue.Atom { Text: var mechanism }) return Bad(c, "AUTHENTICATE needs a mechanism name");
        var initial = c.Arguments.Count == 2 ? c.Arguments[1].AsString() : null;
        switch (mechanism.ToUpperInvariant())
        {
            case "PLAIN":
            {
                var response = initial ?? await ContinuationAsync("");
                if (response is null) return Bad(c, "Authentication cancelled");
                var decoded = Base64(response == "=" ? "" : response);
                if (decoded is null) return Bad(c, "Invalid base64 in the PLAIN response");
                var parts = decoded.Split('\0');
                if (parts.Length != 3) return Bad(c, "A PLAIN response is authzid NUL authcid NUL password");
                if (parts[0].Length > 0 && !parts[0].Equals(parts[1], StringComparison.OrdinalIgnoreCase))
                    return No(c, "[AUTHORIZATIONFAILED] Logging in as another user is not permitted");
                return await CompleteLoginAsync(c, parts[1], parts[2]);
            }
            case "LOGIN":
            {
                var userLine = initial ?? await ContinuationAsync(Convert.ToBase64String("Username:"u8));
                if (userLine is null) return Bad(c, "Authentication cancelled");
                var passwordLine = await ContinuationAsync(Convert.ToBase64String("Password:"u8));
                if (passwordLine is null) return Bad(c, "Authentication cancelled");
                var user = Base64(userLine);
                var password = Base64(passwordLine);
                if (user is null || password is null) return Bad(c, "Invalid base64 in the LOGIN response");
                return await CompleteLoginAsync(c, user, password);
            }
            default:
                return No(c, $"[CANNOT] Mechanism {mechanism} is not supported; use PLAIN or LOGIN");
        }

        static string? Base64(string text)
        {
            try { return Encoding.UTF8.GetString(Convert.FromBase64String(text)); }
            catch (FormatException) { return null; }
        }
    }

    /// <summary>Sends "+ challenge" and reads the client's line; null when the client cancels with "*" or goes away.</summary>
    async Task<string?> ContinuationAsync(string challenge)
    {
        _io.WriteLine("+ " + challenge);
        await _io.FlushAsync(_closed);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closed, _stopping);
        timeout.CancelAfter(_settings.PreAuthTimeout);
        var line = await _io.Reader.ReadTextLineAsync(timeout.Token);
        return line is null || line == "*" ? null : line;
    }

    async Task<Outcome> CompleteLoginAsync(ImapCommand c, string user, string password)
    {
        if (_authThrottle.IsLockedOut(_remote, user))
        {
            _log.LogWarning("IMAP login refused for {User}: too many failures", user);
            return No(c, "[UNAVAILABLE] Too many failed logins; try again later");
        }
        var canonical = await _authenticator.AuthenticateAsync(user, password, _closed);
        if (canonical is null)
        {
            var delay = _authThrottle.RecordFailure(_remote, user);
            _log.LogWarning("IMAP login failed for {User}", user);
            await Task.Delay(delay, _closed);
            return No(c, "[AUTHENTICATIONFAILED] Invalid credentials");
        }
        _authThrottle.RecordSuccess(_remote, canonical);
        if (!_userSessions.TryAcquire(canonical))
        {
            _log.LogWarning("IMAP login refused for {User}: {Max} sessions already open", canonical, _settings.Limits.MaxConnectionsPerUser);
            return No(c, $"[LIMIT] Too many sessions for this user (at most {_settings.Limits.MaxConnectionsPerUser})");
        }
        _user = canonical;
        _state = ImapState.Authenticated;
        _store.Mailboxes(canonical); // creates INBOX and the special-use mailboxes on first login
        _log.LogInformation("IMAP login as {User}", canonical);
        _io.WriteLine($"{c.Tag} OK [CAPABILITY {Capabilities()}] Logged in");
        return Outcome.Ok;
    }
}
