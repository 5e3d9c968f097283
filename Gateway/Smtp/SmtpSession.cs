using System.Buffers.Text;
using System.Security.Authentication;
using System.Text;
using Gateway.Configuration;
using Microsoft.Extensions.Logging;

namespace Gateway.Smtp;

/// <summary>
/// One SMTP server session: the RFC 5321 command state machine with the ESMTP extensions PIPELINING (RFC 2920),
/// SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034), STARTTLS (RFC 3207),
/// AUTH PLAIN/LOGIN (RFC 4954, RFC 4616), CHUNKING (RFC 3030) and DSN (RFC 3461).
/// It reads and writes through <see cref="SmtpStreamIo"/> and hands messages to an <see cref="IMessageSpoolFactory"/>.
/// </summary>
public sealed class SmtpSession
{
    readonly SmtpSessionSettings _settings;
    readonly SmtpSessionInfo _info;
    readonly SmtpStreamIo _io;
    readonly ISmtpPolicy _policy;
    readonly ISmtpAuthenticator _authenticator;
    readonly IMessageSpoolFactory _spools;
    readonly AuthThrottle _authThrottle;
    readonly ILogger _logger;
    readonly CancellationToken _stopping;
    readonly CancellationToken _connectionClosed;
    readonly TimeProvider _time;

    bool _quit;
    int _badCommands;
    /// <summary>NOOP, RSET, VRFY, EXPN and HELP since the last accepted message: cheap ways to keep a session alive
    /// without sending mail (Postfix's smtpd_junk_command_limit).</summary>
    int _junkCommands;

    // Transaction state (RFC 5321 3.3): from MAIL to the end of DATA/BDAT LAST, or RSET.
    bool _haveSender;
    SmtpMailbox? _sender;
    readonly List<SmtpRecipient> _recipients = new();
    DsnReturn _ret;
    string? _envelopeId;
    BodyType _body;
    bool _smtpUtf8;
    /// <summary>MAIL FROM carried REQUIRETLS (RFC 8689): the message may only be relayed over verified TLS to servers that offer it.</summary>
    bool _requireTls;
    IMessageSpool? _chunkSpool;
    GuardedSink? _chunkSink;
    HeaderSectionScanner? _chunkScanner;
    long _chunkSize;
    /// <summary>Why the BDAT message is refused (too large, a bare CR or LF, a NUL); its later chunks are read and dropped.</summary>
    DataDefect _chunkDefect;
    MessageOctetGuard? _chunkGuard;

    SmtpLimitsOptions Limits => _settings.Limits;
    bool IsSubmission => _settings.Listener.Role == ListenerRole.Submission;

    public SmtpSession(SmtpSessionSettings settings, SmtpSessionInfo info, SmtpStreamIo io, ISmtpPolicy policy,
        ISmtpAuthenticator authenticator, IMessageSpoolFactory spools, AuthThrottle authThrottle, ILogger logger,
        CancellationToken stopping, CancellationToken connectionClosed, TimeProvider? time = null)
    {
        _settings = settings;
        _info = info;
        _io = io;
        _policy = policy;
        _authenticator = authenticator;
        _spools = spools;
        _authThrottle = authThrottle;
        _logger = logger;
        _stopping = stopping;
        _connectionClosed = connectionClosed;
        _time = time ?? TimeProvider.System;
    }

    public async Task RunAsync()
    {
        try
        {
            if (_settings.Listener.Tls == TlsMode.Implicit && !await HandshakeAsync())
                return;
            if (_stopping.IsCancellationRequested)
            {
                Reply(421, "4.3.2", $"{_settings.Hostname} Service shutting down, try again later");
                await _io.FlushAsync(_connectionClosed);
                return;
            }
            _io.Write($"220 {_settings.Hostname} ESMTP Gateway ready\r\n");
            while (!_quit)
            {
                LineRead line;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping, _connectionClosed))
                {
                    timeout.CancelAfter(TimeSpan.FromSeconds(Limits.CommandTimeoutSeconds));
                    try
                    {
                        line = await _io.ReadLineAsync(timeout.Token);
                    }
                    catch (OperationCanceledException) when (_connectionClosed.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                    {
                        _logger.LogInformation("Closing idle session for shutdown");
                        Reply(421, "4.3.2", $"{_settings.Hostname} Service shutting down, try again later");
                        break;
                    }
                    catch (OperationCanceledException)
                    {
                        _logger.LogInformation("Command timeout after {Seconds}s", Limits.CommandTimeoutSeconds);
                        Reply(421, "4.4.2", $"{_settings.Hostname} Timeout exceeded, closing connection");
                        break;
                    }
                }

                switch (line.Status)
                {
                    case LineStatus.Closed:
                        _logger.LogDebug("Client closed the connection");
                        return;
                    case LineStatus.TooLong:
                        Reply(SmtpReply.LineTooLong);
                        CountBadCommand();
                        break;
                    case LineStatus.BareLinefeed:
                        Reply(SmtpReply.BareLinefeed);
                        CountBadCommand();
                        break;
                    default:
                        await DispatchAsync(line.Text);
                        break;
                }

                if (_badCommands >= Limits.MaxBadCommands && !_quit)
                {
                    _logger.LogWarning("Closing session after {Count} bad commands", _badCommands);
                    Reply(421, "4.7.0", $"{_settings.Hostname} Too many errors, closing connection");
                    break;
                }
            }
            await _io.FlushAsync(_connectionClosed);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException
                                       or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            _logger.LogDebug(ex, "Connection ended: {Reason}", ex.Message);
        }
        finally
        {
            await ResetTransactionAsync();
            Metrics.GatewayInstruments.SmtpSessions.Add(1, new("listener", _settings.Listener.Name), new("tls", _info.IsTls ? "yes" : "no"));
        }
    }

    async Task DispatchAsync(string line)
    {
        var space = line.IndexOf(' ');
        var verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
        var argument = space < 0 ? "" : line[(space + 1)..];
        if (verb != "AUTH") _logger.LogDebug("C: {Line}", line.Length > 200 ? line[..200] + "..." : line);
        else _logger.LogDebug("C: AUTH {Mechanism} ...", argument.Split(' ')[0]);

        if (verb is "NOOP" or "RSET" or "VRFY" or "EXPN" or "HELP" && ++_junkCommands > Limits.MaxJunkCommands)
        {
            _logger.LogWarning("Closing session after {Count} NOOP/RSET/VRFY/EXPN/HELP commands without a message", _junkCommands - 1);
            Reply(421, "4.7.0", $"{_settings.Hostname} Too many commands without mail, closing connection");
            _quit = true;
            return;
        }

        switch (verb)
        {
            case "EHLO": await HeloAsync(argument, extended: true); break;
            case "HELO": await HeloAsync(argument, extended: false); break;
            case "MAIL": await MailAsync(argument); break;
            case "RCPT": await RcptAsync(argument); break;
            case "DATA": await DataAsync(argument); break;
            case "BDAT": await BdatAsync(argument); break;
            case "RSET":
                await ResetTransactionAsync();
                Reply(250, "2.0.0", "Ok");
                break;
            case "NOOP": Reply(250, "2.0.0", "Ok"); break;
            case "QUIT":
                Reply(221, "2.0.0", $"{_settings.Hostname} closing connection");
                _quit = true;
                break;
            case "VRFY": Reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"); break;
            case "EXPN": Reply(502, "5.5.1", "EXPN is not available"); break;
            case "HELP":
                _io.Write(new SmtpReply(214, "2.0.0", new[]
                {
                    "Gateway ESMTP: commands are",
                    "EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
                    "See RFC 5321; end of HELP",
                }));
                break;
            case "STARTTLS": await StartTlsAsync(argument); break;
            case "AUTH": await AuthAsync(argument); break;
            case "GET" or "POST" or "HEAD" or "PUT" or "CONNECT" or "OPTIONS" when argument.Contains("HTTP/", StringComparison.OrdinalIgnoreCase) || argument.StartsWith('/'):
                _logger.LogWarning("HTTP request on an SMTP port; closing");
                Reply(500, "5.5.1", "This is an SMTP server, not an HTTP server; closing connection");
                _quit = true;
                break;
            default:
                Reply(SmtpReply.Unrecognized);
                CountBadCommand();
                break;
        }
    }

    // ---- EHLO / HELO (RFC 5321 4.1.1.1) ----

    async Task HeloAsync(string argument, bool extended)
    {
        var domain = argument.Trim();
        if (domain.Length == 0 || domain.Contains(' '))
        {
            Reply(501, "5.5.4", extended ? "EHLO requires a domain or address literal" : "HELO requires a domain");
            CountBadCommand();
            return;
        }
        await ResetTransactionAsync();
        _info.Helo = domain;
        _info.Extended = extended;
        var greeting = $"{_settings.Hostname} greets {domain} ([{_info.RemoteAddress}])";
        if (!extended)
        {
            _io.Write(new SmtpReply(250, null, greeting));
            return;
        }
        var lines = new List<string>
        {
            greeting,
            "PIPELINING",
            "SIZE " + Limits.MaxMessageSize,
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "DSN",
        };
        if (_settings.Listener.Tls == TlsMode.StartTls && !_info.IsTls) lines.Add("STARTTLS");
        if (_info.IsTls) lines.Add("REQUIRETLS"); // RFC 8689: offered only over TLS
        if (IsSubmission && _info.IsTls && _info.AuthenticatedUser is null) lines.Add("AUTH PLAIN LOGIN");
        lines.Add("HELP");
        _io.Write(new SmtpReply(250, null, lines));
    }

    // ---- MAIL FROM (RFC 5321 4.1.1.2) ----

    async Task MailAsync(string argument)
    {
        if (_info.Helo is null) { Reply(SmtpReply.SendHeloFirst); CountBadCommand(); return; }
        if (IsSubmission && _info.AuthenticatedUser is null)
        {
            Reply(_info.IsTls ? SmtpReply.AuthRequired : SmtpReply.StartTlsFirst);
            CountBadCommand();
            return;
        }
        if (_haveSender || _chunkSpool is not null) { Reply(503, "5.5.1", "Sender already specified; send RSET to start again"); CountBadCommand(); return; }
        if (!SmtpPathParser.TryParse(argument, "FROM:", out var parsed, out var error)) { Reply(SmtpReply.SyntaxError(error)); CountBadCommand(); return; }

        SmtpMailbox? sender = null;
        if (parsed.Path.Length > 0 && !SmtpMailbox.TryParse(parsed.Path, out sender!))
        {
            Reply(553, "5.1.7", "Bad sender address syntax");
            CountBadCommand();
            return;
        }

        long declaredSize = 0;
        var ret = DsnReturn.Unspecified;
        string? envId = null;
        var body = BodyType.Unspecified;
        var utf8 = false;
        var requireTls = false;
        foreach (var (name, value) in parsed.Parameters)
        {
            switch (name)
            {
                case "SIZE" when long.TryParse(value, out declaredSize) && declaredSize >= 0: break;
                case "BODY" when string.Equals(value, "7BIT", StringComparison.OrdinalIgnoreCase): body = BodyType.SevenBit; break;
                case "BODY" when string.Equals(value, "8BITMIME", StringComparison.OrdinalIgnoreCase): body = BodyType.EightBitMime; break;
                case "SMTPUTF8" when value is null: utf8 = true; break;
                case "RET" when string.Equals(value, "FULL", StringComparison.OrdinalIgnoreCase): ret = DsnReturn.Full; break;
                case "RET" when string.Equals(value, "HDRS", StringComparison.OrdinalIgnoreCase): ret = DsnReturn.Headers; break;
                case "ENVID" when value is not null && value.Length <= 100 && XText.TryDecode(value, out var id): envId = id; break;
                case "AUTH" when value is not null: break; // RFC 4954 5: accepted, not trusted.
                case "REQUIRETLS" when value is null && !_info.IsTls:
                    Reply(530, "5.7.10", "REQUIRETLS needs a TLS session; use STARTTLS first");
                    CountBadCommand();
                    return;
                case "REQUIRETLS" when value is null: requireTls = true; break;
                case "SIZE" or "BODY" or "RET" or "ENVID" or "SMTPUTF8" or "AUTH" or "REQUIRETLS":
                    Reply(501, "5.5.4", $"Invalid value for the {name} parameter");
                    CountBadCommand();
                    return;
                default:
                    Reply(555, "5.5.4", $"MAIL FROM parameter {name} is not recognised");
                    CountBadCommand();
                    return;
            }
        }
        if (sender is not null && !sender.IsAscii && !utf8) { Reply(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8"); return; }
        if (declaredSize > Limits.MaxMessageSize) { Reply(552, "5.3.4", $"Message size exceeds fixed maximum message size of {Limits.MaxMessageSize} octets"); return; }

        var refusal = await _policy.CheckSenderAsync(_info, sender, _connectionClosed);
        if (refusal is not null) { Reply(refusal); return; }

        _haveSender = true;
        _sender = sender;
        _ret = ret;
        _envelopeId = envId;
        _body = body;
        _smtpUtf8 = utf8;
        _requireTls = requireTls;
        Reply(250, "2.1.0", $"Sender <{sender?.Address}> ok");
    }

    // ---- RCPT TO (RFC 5321 4.1.1.3, RFC 3461 4.1-4.2) ----

    async Task RcptAsync(string argument)
    {
        if (!_haveSender) { Reply(503, "5.5.1", "Bad sequence of commands: send MAIL first"); CountBadCommand(); return; }
        if (!SmtpPathParser.TryParse(argument, "TO:", out var parsed, out var error)) { Reply(SmtpReply.SyntaxError(error)); CountBadCommand(); return; }

        SmtpMailbox recipient;
        if (parsed.Path.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
            recipient = new SmtpMailbox("postmaster", _settings.PostmasterDomain);
        else if (!SmtpMailbox.TryParse(parsed.Path, out recipient!))
        {
            Reply(501, "5.1.3", "Bad recipient address syntax");
            CountBadCommand();
            return;
        }

        var notify = DsnNotify.None;
        string? orcpt = null;
        foreach (var (name, value) in parsed.Parameters)
        {
            switch (name)
            {
                case "NOTIFY" when TryParseNotify(value, out notify): break;
                case "ORCPT" when TryParseOrcpt(value, out orcpt): break;
                case "NOTIFY" or "ORCPT":
                    Reply(501, "5.5.4", $"Invalid value for the {name} parameter");
                    CountBadCommand();
                    return;
                default:
                    Reply(555, "5.5.4", $"RCPT TO parameter {name} is not recognised");
                    CountBadCommand();
                    return;
            }
        }
        if (!recipient.IsAscii && !_smtpUtf8) { Reply(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8"); return; }
        if (_recipients.Count >= Limits.MaxRecipients) { Reply(452, "4.5.3", $"Too many recipients (at most {Limits.MaxRecipients} per message)"); return; }

        var refusal = await _policy.CheckRecipientAsync(_info, recipient, _connectionClosed);
        if (refusal is not null) { Reply(refusal); return; }

        if (!_recipients.Any(r => r.Mailbox.Equals(recipient)))
            _recipients.Add(new SmtpRecipient(recipient, notify, orcpt));
        Reply(250, "2.1.5", $"Recipient <{recipient.Address}> ok");
    }

    static bool TryParseNotify(string? value, out DsnNotify notify)
    {
        notify = DsnNotify.None;
        if (string.IsNullOrEmpty(value)) return false;
        foreach (var part in value.Split(','))
        {
            notify |= part.ToUpperInvariant() switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => (DsnNotify)(-1),
            };
            if ((int)notify < 0) return false;
        }
        // NEVER must stand alone (RFC 3461 4.1).
        return !(notify.HasFlag(DsnNotify.Never) && notify != DsnNotify.Never);
    }

    static bool TryParseOrcpt(string? value, out string? orcpt)
    {
        orcpt = null;
        if (value is null) return false;
        var semi = value.IndexOf(';');
        if (semi <= 0 || value.Length > 500) return false;
        var type = value[..semi];
        if (!XText.TryDecode(value[(semi + 1)..], out var address) || address.Length == 0) return false;
        orcpt = type.ToLowerInvariant() + ";" + address;
        return true;
    }

    // ---- DATA (RFC 5321 4.1.1.4) ----

    async Task DataAsync(string argument)
    {
        if (argument.Length > 0) { Reply(501, "5.5.4", "DATA takes no parameters"); CountBadCommand(); return; }
        if (_chunkSpool is not null) { Reply(503, "5.5.1", "DATA cannot follow BDAT; send RSET"); CountBadCommand(); return; }
        if (!_haveSender) { Reply(503, "5.5.1", "Bad sequence of commands: send MAIL first"); CountBadCommand(); return; }
        if (_recipients.Count == 0) { Reply(554, "5.5.1", "No valid recipients"); return; }

        // The spool file is made before 354: a full or read-only disk is answered 452 here, not with a dropped connection.
        IMessageSpool created;
        try { created = _spools.CreateSpool(); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            StorageFailed("(none)", ex);
            return;
        }
        await using var spool = created;
        Reply(354, null, "Start mail input; end with <CRLF>.<CRLF>");
        await _io.FlushAsync(_connectionClosed);

        var scanner = new HeaderSectionScanner();
        var sink = new GuardedSink(spool.Content);
        DataRead result;
        using (var deadline = new TransferDeadline(Limits.DataTimeoutSeconds, Limits.MinDataRateBytesPerSecond, _connectionClosed))
        {
            try
            {
                result = await _io.ReadDataAsync(sink, scanner, Limits.MaxMessageSize, deadline.Next);
            }
            catch (OperationCanceledException) when (!_connectionClosed.IsCancellationRequested)
            {
                _logger.LogInformation("Data timeout after {Seconds:F0}s: the client sent too slowly (under {Rate} octets/s) or fell silent; message {QueueId} discarded",
                    deadline.Elapsed.TotalSeconds, Limits.MinDataRateBytesPerSecond, spool.Id);
                Reply(421, "4.4.2", $"{_settings.Hostname} Timeout exceeded, closing connection");
                _quit = true;
                await ResetTransactionAsync();
                return;
            }
        }

        if (result.Status == DataStatus.Closed)
        {
            _logger.LogInformation("Connection lost during DATA; message {QueueId} discarded", spool.Id);
            _quit = true;
            await ResetTransactionAsync();
            return;
        }
        if (result.Defect != DataDefect.None)
        {
            _logger.LogInformation("Message {QueueId} refused: {Defect}", spool.Id, result.Defect);
            Reply(MessageOctetGuard.Refusal(result.Defect, Limits.MaxMessageSize, Limits.MaxLineLength));
        }
        else if (sink.Failure is not null)
            StorageFailed(spool.Id, sink.Failure);
        else
            await CommitAsync(spool, scanner, result.Size);
        await ResetTransactionAsync();
    }

    // ---- BDAT (RFC 3030) ----

    async Task BdatAsync(string argument)
    {
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || !long.TryParse(parts[0], out var size) || size < 0
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            // Without a valid size the chunk cannot be skipped: the session cannot stay in step.
            Reply(501, "5.5.4", "Syntax: BDAT <size> [LAST]; closing connection");
            _quit = true;
            return;
        }
        var last = parts.Length == 2;

        using var deadline = new TransferDeadline(Limits.DataTimeoutSeconds, Limits.MinDataRateBytesPerSecond, _connectionClosed);
        SmtpReply? refusal = null;
        if (!_haveSender) refusal = new SmtpReply(503, "5.5.1", "Bad sequence of commands: send MAIL first");
        else if (_recipients.Count == 0) refusal = new SmtpReply(554, "5.5.1", "No valid recipients");
        if (refusal is not null)
        {
            // RFC 3030 2: the chunk is read and discarded even when the command fails.
            if (!await ReadChunkOrTimeoutAsync(size, null, null, deadline)) return;
            Reply(refusal);
            CountBadCommand();
            return;
        }

        if (_chunkSpool is null)
        {
            try { _chunkSpool = _spools.CreateSpool(); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The chunk is read and dropped, so that the next command is read as a command.
                if (!await ReadChunkOrTimeoutAsync(size, null, null, deadline)) return;
                StorageFailed("(none)", ex);
                return;
            }
            _chunkSink = new GuardedSink(_chunkSpool.Content);
            _chunkScanner = new HeaderSectionScanner();
            _chunkGuard = new MessageOctetGuard();
            _chunkSize = 0;
            _chunkDefect = DataDefect.None;
        }
        _chunkSize += size;
        if (_chunkDefect == DataDefect.None && _chunkSize > Limits.MaxMessageSize) _chunkDefect = DataDefect.TooLarge;

        Stream? sink = _chunkDefect == DataDefect.None ? _chunkSink : null;
        if (!await ReadChunkOrTimeoutAsync(size, sink, _chunkScanner, deadline, _chunkGuard)) return;
        if (_chunkDefect == DataDefect.None)
        {
            // A CR that ends the last chunk has no LF to come.
            if (last) _chunkGuard!.Finish();
            _chunkDefect = _chunkGuard!.Defect;
        }

        if (_chunkDefect != DataDefect.None)
        {
            // RFC 3030 2: after a failed chunk the client sends no more, but those already pipelined are read and dropped.
            _logger.LogInformation("Message {QueueId} refused: {Defect}", _chunkSpool.Id, _chunkDefect);
            Reply(MessageOctetGuard.Refusal(_chunkDefect, Limits.MaxMessageSize, Limits.MaxLineLength));
            if (last) await ResetTransactionAsync();
            return;
        }
        if (_chunkSink!.Failure is not null)
        {
            StorageFailed(_chunkSpool.Id, _chunkSink.Failure);
            await ResetTransactionAsync();
            return;
        }
        if (!last)
        {
            Reply(250, "2.0.0", $"{size} octets received");
            return;
        }
        await CommitAsync(_chunkSpool, _chunkScanner!, _chunkSize);
        await ResetTransactionAsync();
    }

    async Task<bool> ReadChunkOrTimeoutAsync(long size, Stream? sink, HeaderSectionScanner? scanner, TransferDeadline deadline, MessageOctetGuard? guard = null)
    {
        try
        {
            if (await _io.ReadChunkAsync(size, sink, scanner, deadline.Next, guard)) return true;
            _logger.LogInformation("Connection lost during BDAT");
        }
        catch (OperationCanceledException) when (!_connectionClosed.IsCancellationRequested)
        {
            _logger.LogInformation("Data timeout during BDAT after {Seconds:F0}s: the client sent too slowly (under {Rate} octets/s) or fell silent",
                deadline.Elapsed.TotalSeconds, Limits.MinDataRateBytesPerSecond);
            Reply(421, "4.4.2", $"{_settings.Hostname} Timeout exceeded, closing connection");
        }
        _quit = true;
        await ResetTransactionAsync();
        return false;
    }

    async Task CommitAsync(IMessageSpool spool, HeaderSectionScanner scanner, long size)
    {
        var now = _time.GetLocalNow();
        var prepend = new StringBuilder(TraceHeaders.Received(_info, _settings.Hostname, spool.Id, _recipients, _smtpUtf8, now));
        if (IsSubmission)
        {
            // RFC 6409 8.3: a submission server may add a missing Message-ID and Date.
            if (!scanner.HasMessageId) prepend.Append(TraceHeaders.MessageId(spool.Id, _settings.Hostname));
            if (!scanner.HasDate) prepend.Append(TraceHeaders.Date(now));
        }
        var envelope = new SmtpEnvelope
        {
            Sender = _sender,
            Recipients = _recipients.ToList(),
            Ret = _ret,
            EnvelopeId = _envelopeId,
            Body = _body,
            SmtpUtf8 = _smtpUtf8,
            RequireTls = _requireTls,
            Size = size,
            PrependedHeaders = prepend.ToString(),
            Session = _info,
        };
        SmtpReply? refusal;
        try
        {
            await spool.Content.FlushAsync(_connectionClosed);
            var end = spool.Content.Position;
            spool.Content.Position = 0;
            refusal = await _policy.CheckMessageAsync(_info, envelope.Recipients, new NonClosingStream(spool.Content), _connectionClosed);
            spool.Content.Position = end;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            StorageFailed(spool.Id, ex);
            return;
        }
        if (refusal is not null)
        {
            _logger.LogWarning("Refused message {QueueId} from <{Sender}> after DATA: {Code} {Text}", spool.Id, _sender?.Address ?? "", refusal.Code, string.Join(" ", refusal.Lines));
            Metrics.GatewayInstruments.SmtpRefused.Add(1, new("listener", _settings.Listener.Name), new("class", refusal.Code >= 500 ? "5xx" : "4xx"));
            Reply(refusal);
            return;
        }
        try
        {
            await spool.CommitAsync(envelope, CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            StorageFailed(spool.Id, ex);
            return;
        }
        _logger.LogInformation("Accepted message {QueueId} from <{Sender}> for {RecipientCount} recipient(s), {Size} octets",
            spool.Id, _sender?.Address ?? "", envelope.Recipients.Count, size);
        Metrics.GatewayInstruments.SmtpAccepted.Add(1, new KeyValuePair<string, object?>("listener", _settings.Listener.Name));
        Reply(250, "2.0.0", $"Ok: queued as {spool.Id}");
        _junkCommands = 0;
    }

    void StorageFailed(string queueId, Exception ex)
    {
        _logger.LogError(ex, "Could not store message {QueueId}; refused with 452, the client keeps it", queueId);
        Reply(452, "4.3.1", "Insufficient system storage; message not accepted, try again later");
    }

    // ---- STARTTLS (RFC 3207) ----

    async Task StartTlsAsync(string argument)
    {
        if (_settings.Listener.Tls != TlsMode.StartTls) { Reply(502, "5.5.1", "STARTTLS is not offered on this port"); CountBadCommand(); return; }
        if (_info.IsTls) { Reply(503, "5.5.1", "TLS is already active"); CountBadCommand(); return; }
        if (argument.Length > 0) { Reply(501, "5.5.4", "STARTTLS takes no parameters"); CountBadCommand(); return; }

        var dropped = _io.DiscardBufferedInput();
        if (dropped > 0)
            _logger.LogWarning("Discarded {Octets} octets sent after STARTTLS before the TLS handshake (possible command injection)", dropped);
        Reply(220, "2.0.0", "Ready to start TLS");
        await _io.FlushAsync(_connectionClosed);
        if (!await HandshakeAsync()) { _quit = true; return; }

        // RFC 3207 4.2: forget everything learnt before TLS, including EHLO.
        await ResetTransactionAsync();
        _info.Helo = null;
        _info.Extended = false;
        _info.AuthenticatedUser = null;
    }

    async Task<bool> HandshakeAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_connectionClosed);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Min(Limits.CommandTimeoutSeconds, 60)));
        try
        {
            await _io.UpgradeToTlsAsync(_settings.TlsOptions(), timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            _logger.LogInformation("TLS handshake failed: {Reason}", ex.Message);
            _quit = true;
            return false;
        }
        _info.IsTls = true;
        var ssl = _io.Tls!;
        _info.TlsDescription = $"using {ProtocolName(ssl.SslProtocol)} with cipher {ssl.NegotiatedCipherSuite}";
        _logger.LogDebug("TLS established: {Tls}", _info.TlsDescription);
        return true;
    }

    static string ProtocolName(SslProtocols p) => p switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => p.ToString(),
    };

    // ---- AUTH (RFC 4954; PLAIN RFC 4616; LOGIN draft-murchison-sasl-login) ----

    async Task AuthAsync(string argument)
    {
        if (!IsSubmission) { Reply(502, "5.5.1", "Authentication is not offered on this port; use the submission port"); CountBadCommand(); return; }
        if (_info.Helo is null || !_info.Extended) { Reply(503, "5.5.1", "Bad sequence of commands: send EHLO first"); CountBadCommand(); return; }
        if (!_info.IsTls) { Reply(SmtpReply.StartTlsFirst); CountBadCommand(); return; }
        if (_info.AuthenticatedUser is not null) { Reply(503, "5.5.1", "Already authenticated"); CountBadCommand(); return; }
        if (_haveSender) { Reply(503, "5.5.1", "AUTH is not allowed during a mail transaction"); CountBadCommand(); return; }
        if (_authThrottle.IsLockedOut(_info.RemoteAddress))
        {
            Reply(454, "4.7.0", "Too many failed authentication attempts; try again later");
            return;
        }

        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2) { Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"); CountBadCommand(); return; }
        var mechanism = parts[0].ToUpperInvariant();
        var initial = parts.Length == 2 ? parts[1] : null;

        string? user, password;
        switch (mechanism)
        {
            case "PLAIN":
            {
                var response = initial ?? await ChallengeAsync("");
                if (response is null) return;
                var decoded = DecodeBase64(response == "=" ? "" : response);
                if (decoded is null) return;
                var fields = decoded.Split('\0');
                if (fields.Length != 3) { Reply(501, "5.5.2", "Malformed PLAIN response"); CountBadCommand(); return; }
                if (fields[0].Length > 0 && !fields[0].Equals(fields[1], StringComparison.OrdinalIgnoreCase))
                {
                    await FailAuthAsync(fields[1]);
                    return;
                }
                user = fields[1];
                password = fields[2];
                break;
            }
            case "LOGIN":
            {
                var userResponse = initial ?? await ChallengeAsync("VXNlcm5hbWU6");
                if (userResponse is null) return;
                user = DecodeBase64(userResponse);
                if (user is null) return;
                var passwordResponse = await ChallengeAsync("UGFzc3dvcmQ6");
                if (passwordResponse is null) return;
                password = DecodeBase64(passwordResponse);
                if (password is null) return;
                break;
            }
            default:
                Reply(504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN or LOGIN");
                CountBadCommand();
                return;
        }

        if (_authThrottle.IsLockedOut(_info.RemoteAddress, user))
        {
            Reply(454, "4.7.0", "Too many failed authentication attempts; try again later");
            return;
        }
        var canonical = await _authenticator.AuthenticateAsync(user, password, _connectionClosed);
        if (canonical is null)
        {
            await FailAuthAsync(user);
            return;
        }
        _authThrottle.RecordSuccess(_info.RemoteAddress, canonical);
        _info.AuthenticatedUser = canonical;
        _logger.LogInformation("Authenticated as {User}", canonical);
        Reply(235, "2.7.0", "Authentication successful");
    }

    async Task FailAuthAsync(string user)
    {
        var delay = _authThrottle.RecordFailure(_info.RemoteAddress, user);
        _logger.LogWarning("Authentication failed for {User}", user);
        if (delay > TimeSpan.Zero) await Task.Delay(delay, _connectionClosed);
        Reply(535, "5.7.8", "Authentication credentials invalid");
        CountBadCommand();
    }

    /// <summary>Sends a 334 challenge and reads the client's response; null when the client cancelled or the line was bad.</summary>
    async Task<string?> ChallengeAsync(string challenge)
    {
        _io.Write($"334 {challenge}\r\n");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_connectionClosed);
        timeout.CancelAfter(TimeSpan.FromSeconds(Limits.CommandTimeoutSeconds));
        var line = await _io.ReadLineAsync(timeout.Token);
        switch (line.Status)
        {
            case LineStatus.Closed: _quit = true; return null;
            case LineStatus.TooLong: Reply(500, "5.5.6", "Authentication exchange line is too long"); CountBadCommand(); return null;
            case LineStatus.BareLinefeed: Reply(SmtpReply.BareLinefeed); CountBadCommand(); return null;
        }
        if (line.Text == "*") { Reply(501, "5.7.0", "Authentication cancelled"); return null; }
        return line.Text;
    }

    string? DecodeBase64(string text)
    {
        var bytes = new byte[Base64.GetMaxDecodedFromUtf8Length(text.Length)];
        if (!Convert.TryFromBase64String(text, bytes, out var n))
        {
            Reply(501, "5.5.2", "Invalid base64 data");
            CountBadCommand();
            return null;
        }
        return Encoding.UTF8.GetString(bytes, 0, n);
    }

    // ---- helpers ----

    async ValueTask ResetTransactionAsync()
    {
        _haveSender = false;
        _sender = null;
        _recipients.Clear();
        _ret = DsnReturn.Unspecified;
        _envelopeId = null;
        _body = BodyType.Unspecified;
        _smtpUtf8 = false;
        _requireTls = false;
        if (_chunkSpool is not null)
        {
            await _chunkSpool.DisposeAsync();
            _chunkSpool = null;
        }
        _chunkScanner = null;
        _chunkSink = null;
        _chunkSize = 0;
        _chunkDefect = DataDefect.None;
        _chunkGuard = null;
    }

    void CountBadCommand() => _badCommands++;

    void Reply(int code, string? enhanced, string text) => Reply(new SmtpReply(code, enhanced, text));

    void Reply(SmtpReply reply)
    {
        if (reply.Code >= 400) _logger.LogDebug("S: {Reply}", reply.ToString());
        _io.Write(reply);
    }
}
