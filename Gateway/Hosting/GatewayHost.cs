using Gateway.Configuration;
using Gateway.Crypto;
using Gateway.Courier;
using Gateway.Delivery;
using Gateway.Imap;
using Gateway.Platform;
using Gateway.Queue;
using Gateway.Routing;
using Gateway.Sealing;
using Gateway.Smtp;
using Gateway.Storage;
using Gateway.Storage.Mail;
using Gateway.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Gateway.Hosting;

/// <summary>
/// Builds the one Gateway process: a generic host on Kestrel whose listeners run our SMTP connection handler,
/// plus the delivery worker. Used by <c>gateway run</c> and, in-process, by the tests.
/// </summary>
public static class GatewayHost
{
    /// <summary>The HTTPS address users and peers reach this courier at (Web:PublicUrl, else the host name and the web port).</summary>
    public static string PublicUrl(GatewayOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.Web.PublicUrl)) return options.Web.PublicUrl.TrimEnd('/');
        var port = GatewayOptionsValidator.TryParseEndpoint(options.Web.Endpoint, out var ep) ? ep.Port : 443;
        return $"https://{options.Hostname}:{port}";
    }

    /// <summary>The senders' status page receipts link to: with the Agent (users log in there), on this host or, for a
    /// Background on its own host, at Courier:AgentUrl; null when neither is known.</summary>
    static string? StatusPageUrl(GatewayOptions options)
    {
        var agent = options.Runs(GatewayOptions.AgentRole) ? options.Web.PublicUrl : options.Courier.AgentUrl;
        return string.IsNullOrWhiteSpace(agent) ? null : agent.TrimEnd('/') + Web.StatusPage.Path;
    }

    /// <summary>Mail an earlier version stored plain is sealed before any listener opens (resumable: a crash only leaves less to do).</summary>
    static void SealLegacyMail(MailStore store, ILogger log)
    {
        var lastReport = DateTime.MinValue;
        var sealedCount = store.SealLegacyAsync((done, total) =>
        {
            if (done < total && DateTime.UtcNow - lastReport < TimeSpan.FromSeconds(2)) return;
            lastReport = DateTime.UtcNow;
            log.LogInformation("Sealing stored mail an earlier version kept plain: {Done} of {Total} message file(s)", done, total);
        }, reason => log.LogWarning("Stored mail left plain for now: {Reason}", reason)).GetAwaiter().GetResult();
        if (sealedCount > 0) log.LogInformation("Sealed {Count} stored message(s) for their owners; no plain copy remains", sealedCount);
        var orphans = store.RemoveOrphanBlobs();
        if (orphans > 0) log.LogInformation("Removed {Count} stored message file(s) an interrupted delivery left without a record", orphans);
    }

    static string WelcomeText(GatewayOptions options)
    {
        int Port(ListenerRole role, TlsMode tls, int fallback) => GatewayOptionsValidator.AnnouncedPort(options, role, tls, fallback);
        return $"""
            Welcome. Your mailbox {"{address}"} at {options.Hostname} is ready, and the messages that were held for you are in it.

            Mail program settings (Thunderbird and Outlook find them by themselves from your address):
              Incoming mail (IMAP): {options.Hostname}, port {Port(ListenerRole.Imap, TlsMode.Implicit, 993)}, SSL/TLS, your address and password
              Outgoing mail (SMTP): {options.Hostname}, port {Port(ListenerRole.Submission, TlsMode.Implicit, 465)}, SSL/TLS, your address and password
              Automatic configuration: {PublicUrl(options)}/mail/config-v1.1.xml

            Messages you receive are protected: your mail program shows them as usual, and the sender may limit how
            long or how often they can be opened.
            """;
    }

    public static WebApplication Build(GatewayOptions options, IConfiguration? configuration = null, Action<ILoggingBuilder>? configureLogging = null)
    {
        var data = new DataDirectory(options.DataDirectory);
        // Every file and directory under the data directory owner-only, whatever an older version or mkdir left.
        var tightened = data.EnsureCreated(options, tightenTree: true);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>(), ContentRootPath = AppContext.BaseDirectory });
        if (configuration is not null) builder.Configuration.AddConfiguration(configuration);

        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // The standard "Logging" section (levels, Console:FormatterName = simple | json | systemd) overrides the above.
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole();
        // The slim builder pins the simple formatter with a configure action of its own; the configured name must win.
        builder.Services.PostConfigure<ConsoleLoggerOptions>(o =>
            o.FormatterName = builder.Configuration["Logging:Console:FormatterName"] ?? ConsoleFormatterNames.Simple);
        builder.Services.Configure<SimpleConsoleFormatterOptions>(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        builder.Services.Configure<JsonConsoleFormatterOptions>(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
        });
        // Request paths carry pickup link tokens: ASP.NET Core's request logs stay at Warning whatever the configuration says.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Routing", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Http.Result", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));

        var services = builder.Services;
        // Guests of the pickup portal exist only where it runs (all roles in this process, see GatewayOptions.PortalAvailable).
        Func<string, bool> IsPortalGuest(IServiceProvider sp) =>
            options.PortalAvailable ? sp.GetRequiredService<Courier.Portal.PortalGuests>().Contains : _ => false;
        services.AddSingleton(options);
        services.AddSingleton(options.Delivery);
        services.AddSingleton(data);
        services.AddSingleton<TlsCertificateProvider>();
        services.AddSingleton(_ => MasterKey.Load(data));
        services.AddSingleton(sp => new SpoolSeal(sp.GetRequiredService<MasterKey>()));
        services.AddSingleton(sp => new KeyStore(data.KeyStorePath, sp.GetRequiredService<MasterKey>()));
        services.AddSingleton(_ => new CertificateDirectory(data.CertificateDirectoryPath));
        services.AddSingleton(sp => new CourierAuthority(sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<CertificateDirectory>(),
            CourierAuthority.CrlUrlFor(options.Web.PublicUrl)));
        services.AddSingleton<MessageQueue>();
        services.AddSingleton<IMessageSpoolFactory>(sp => sp.GetRequiredService<MessageQueue>());
        services.AddSingleton<IUserStore>(_ => new LiteDbUserStore(data.UserDatabasePath));
        services.AddSingleton<UserAuthenticator>();
        services.AddSingleton<ISmtpAuthenticator>(sp => sp.GetRequiredService<UserAuthenticator>());
        services.AddSingleton<IImapAuthenticator>(sp => sp.GetRequiredService<UserAuthenticator>());
        services.AddSingleton(sp =>
        {
            // A Background-only host never stores mail here (its domains are routed to the Agent's host), but the queue's
            // local delivery is built with a store all the same.
            DurableFile.CreatePrivateDirectory(data.MailboxDirectory);
            var seal = new OwnerSeal(ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<MasterKey>(),
                owner => sp.GetRequiredService<CourierAuthority>().EnsureUser(owner, options.Crypto.UserKeyAlgorithm));
            return new MailStore(data.MailDatabasePath, data.BlobDirectory, seal, options.Imap.QuotaKilobytes,
                describe: stored =>
                {
                    var structure = MessageStructure.Parse(stored);
                    return new MessageDescription(structure.ToJson(), (int)Math.Min(structure.Root.HeaderEnd - structure.Root.HeaderStart, int.MaxValue));
                });
        });
        services.AddSingleton(new ImapUserSessions(options.Imap.MaxConnectionsPerUser));
        services.AddSingleton<RouteTable>();
        services.AddSingleton<ISmtpPolicy>(sp => new RelayPolicy(sp.GetRequiredService<RouteTable>(), sp.GetRequiredService<IUserStore>(), sp.GetRequiredService<InterCourierGate>(),
            sp.GetRequiredService<ForegroundDelivery>(), sp.GetRequiredService<ServedElsewhere>(), sp.GetRequiredService<KeyReplacementIntake>()));
        services.AddSingleton(sp => new ServedElsewhere(() => options.Runs(CourierElement.Foreground) ? sp.GetRequiredKeyedService<ElementRelay>(CourierElement.Foreground).Peers : null));
        services.AddSingleton(new ConnectionLimiter(options.Limits.MaxConnections, options.Limits.MaxConnectionsPerAddress));
        services.AddSingleton(new AuthThrottle(options.Limits.MaxAuthFailures, TimeSpan.FromSeconds(options.Limits.AuthLockoutSeconds),
            TimeSpan.FromMilliseconds(options.Limits.AuthFailureDelayMilliseconds)));
        services.AddSingleton(sp =>
        {
            var tls = sp.GetRequiredService<TlsCertificateProvider>();
            var registry = new SmtpListenerRegistry();
            foreach (var listener in options.Listeners.Where(l => l.Role != ListenerRole.Imap))
                registry.Add(new SmtpSessionSettings { Hostname = options.Hostname, PostmasterDomain = options.Domains.FirstOrDefault() ?? options.Hostname, Listener = listener, Limits = options.Limits, TlsOptions = tls.CreateServerOptions });
            return registry;
        });
        services.AddSingleton(sp =>
        {
            var tls = sp.GetRequiredService<TlsCertificateProvider>();
            var registry = new ImapListenerRegistry();
            foreach (var listener in options.Listeners.Where(l => l.Role == ListenerRole.Imap))
                registry.Add(new ImapSessionSettings { Hostname = options.Hostname, Listener = listener, Limits = options.Imap, TlsOptions = tls.CreateServerOptions });
            return registry;
        });
        services.AddSingleton<CertificateHarvester>();
        services.AddSingleton<MxResolver>();
        services.AddSingleton(new OutboundTrust(options.Delivery));
        services.AddSingleton<MtaStsResolver>();
        services.AddSingleton<SmtpConnectionCache>();
        services.AddSingleton<SmtpRelay>();
        services.AddSingleton<LocalMailboxDelivery>();
        services.AddSingleton<DsnBuilder>();
        services.AddSingleton<RetrySchedule>();
        // The courier roles. The Foreground and Background share nothing: own directories, inboxes, stores and key views.
        services.AddSingleton<CourierIdentity>();
        services.AddSingleton<RestrictionPolicy>(_ => new RestrictionPolicy(options.Courier));
        services.AddSingleton(_ => new BackgroundStore(BackgroundStore.PathIn(data)));
        services.AddSingleton(sp => new ReceiptMailer(sp.GetRequiredService<MessageQueue>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<ILogger<ReceiptMailer>>(),
            StatusPageUrl(options),
            a => sp.GetRequiredService<IUserStore>().Find(a) is not null));
        var pendingLifetime = TimeSpan.FromDays(options.Courier.PendingDays);
        services.AddSingleton(sp => new NonDeliveryNotice(sp.GetRequiredService<MessageQueue>(), sp.GetRequiredService<IUserStore>(), options.Hostname,
            sp.GetRequiredService<ILogger<NonDeliveryNotice>>()));
        // Federation: each element has its own peer table, router, outbound queue and transport.
        services.AddSingleton(sp => new PeerCrlFetcher(sp.GetRequiredService<CertificateDirectory>(), () => sp.GetRequiredService<CourierAuthority>().CrlUrl,
            TimeSpan.FromSeconds(options.Courier.PeerCrlMaxAgeSeconds), sp.GetRequiredService<ILogger<PeerCrlFetcher>>()));
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
        {
            services.AddKeyedSingleton(element, (sp, _) => new PeerTable(PeerTable.PathIn(data, element)));
            services.AddKeyedSingleton(element, (sp, _) => new PeerOutbox(Path.Combine(element == CourierElement.Foreground ? data.ForegroundDirectory : data.BackgroundDirectory, "outbound"), sp.GetRequiredService<SpoolSeal>()));
            services.AddKeyedSingleton(element, (sp, _) =>
            {
                var authority = sp.GetRequiredService<CourierAuthority>();
                var users = sp.GetRequiredService<IUserStore>();
                var peers = sp.GetRequiredKeyedService<PeerTable>(element);
                // The pickup portal's guests are served here as local users are (their parts are kept for the portal).
                var isGuest = IsPortalGuest(sp);
                var router = new CourierRouter(a => users.Find(a) is not null || isGuest(a), options.Domains, () => authority.Role, peers,
                    () => options.Courier.Invite ?? authority.Role == CourierRole.Public, d => options.Courier.OutsideDomains.ContainsKey(d));
                var keys = element == CourierElement.Foreground ? ScopedKeyRing.Foreground(sp.GetRequiredService<KeyStore>()) : ScopedKeyRing.Background(sp.GetRequiredService<KeyStore>());
                return new ElementRelay(element, keys, sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(), peers,
                    sp.GetRequiredKeyedService<PeerOutbox>(element), router, GatewayOptionsValidator.CourierEndpoint(options, element),
                    () => authority.OwnChain(),
                    () => options.Domains, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Courier." + element));
            });
        }
        // Distribute Account from the Foreground to our Background (its inbox here, or the link to its host), and from the
        // Agent's own host to our Foreground (signed by the user's key).
        void TellBackground(IServiceProvider sp, string address, string? servedBy = null, bool removed = false)
        {
            var keys = sp.GetRequiredService<KeyStore>();
            DistributeAccount.Send(ScopedKeyRing.Foreground(keys), keys, sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
                sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Background), address, servedBy, removed);
        }
        void TellForeground(IServiceProvider sp, string address, bool removed = false)
        {
            var keys = sp.GetRequiredService<KeyStore>();
            DistributeAccount.SendToForeground(ScopedKeyRing.Agent(keys), keys, sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
                sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Foreground), address, removed);
        }
        // Roles (one process by default): a split courier runs the Agent and Foreground on one host and the Background
        // on another, or each role on a host of its own; what runs elsewhere is reached over SMTP (parts, accounts,
        // re-wrapped content for local users) and HTTPS (key release, routing questions, registration), never in memory.
        var runsAgent = options.Runs(GatewayOptions.AgentRole);
        var runsForeground = options.Runs(GatewayOptions.ForegroundRole);
        var runsBackground = options.Runs(GatewayOptions.BackgroundRole);
        var localElements = new[] { CourierElement.Foreground, CourierElement.Background }.Where(options.Runs).ToArray();
        var takesTransfers = runsAgent && runsForeground;
        // Whether the courier network serves an address: the Foreground's router here, or asked of the Foreground's host.
        services.AddSingleton(sp => new Web.RemoteCourierReach(new Uri(options.Courier.ForegroundUrl!), ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
            sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>()));
        services.AddSingleton(sp =>
        {
            if (localElements.Length == 0) return new CourierReach(sp.GetRequiredService<Web.RemoteCourierReach>().Serves);
            var (users, isGuest) = (sp.GetRequiredService<IUserStore>(), IsPortalGuest(sp));
            // A portal guest is reached through the portal (held here, then notified), not as a courier recipient, until
            // they register as a user. (The element is looked up when asked, not when this is built.)
            return new CourierReach(a => (users.Find(a) is not null || !isGuest(a))
                && sp.GetRequiredKeyedService<ElementRelay>(localElements[0]).Router.Decide(a) is not CourierRoute.Outside);
        });
        // The SMTP links to our own elements on other hosts: from the Agent (and the Foreground, for Distribute Account)
        // to the Background, from the Agent to the Foreground.
        foreach (var element in new[] { CourierElement.Foreground, CourierElement.Background })
            services.AddKeyedSingleton(element, (sp, _) => new ElementLink(
                new PeerOutbox(Path.Combine(runsAgent ? data.AgentDirectory : data.ForegroundDirectory, element == CourierElement.Background ? "background-link" : "foreground-link"), sp.GetRequiredService<SpoolSeal>()),
                element == CourierElement.Background ? options.Courier.BackgroundEndpoint ?? "" : GatewayOptionsValidator.CourierEndpoint(options), element,
                () => sp.GetRequiredService<CourierIdentity>().ElementAddress(element)));
        // Where parts for our own elements go: their inboxes here, or the SMTP link to the host they run on.
        services.AddKeyedSingleton<IElementDrop>(CourierElement.Foreground, (sp, _) =>
            runsForeground ? sp.GetRequiredService<ForegroundElement>().Inbox
            : runsAgent ? sp.GetRequiredKeyedService<ElementLink>(CourierElement.Foreground) : new ElsewhereDrop(CourierElement.Foreground));
        services.AddKeyedSingleton<IElementDrop>(CourierElement.Background, (sp, _) =>
            runsBackground ? sp.GetRequiredService<BackgroundElement>().Inbox : sp.GetRequiredKeyedService<ElementLink>(CourierElement.Background));
        // Where the Foreground puts content re-wrapped for local users: their mailboxes here, or the Agent's host over SMTP.
        services.AddSingleton(sp => new AgentLink(new PeerOutbox(Path.Combine(data.ForegroundDirectory, "agent-link"), sp.GetRequiredService<SpoolSeal>()), options.Courier.AgentEndpoint ?? "",
            () => sp.GetRequiredService<CourierIdentity>().ElementAddress(CourierElement.Foreground)));
        services.AddSingleton<IAgentDrop>(sp => runsAgent ? new MailboxAgentDrop(sp.GetRequiredService<MailStore>()) : sp.GetRequiredService<AgentLink>());
        services.AddSingleton(sp => new ForegroundDelivery(ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(),
            sp.GetRequiredService<CourierIdentity>(), active: runsAgent && !runsForeground));
        services.AddSingleton(sp => new BackgroundElement(sp.GetRequiredService<BackgroundStore>(), new ElementInbox(Path.Combine(data.BackgroundDirectory, "inbox"), sp.GetRequiredService<SpoolSeal>()),
            ScopedKeyRing.Background(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
            sp.GetRequiredService<IUserStore>(), new AccountVersions(AccountVersions.PathIn(data.BackgroundDirectory)), sp.GetRequiredService<ReceiptMailer>(),
            new PendingParts(Path.Combine(data.BackgroundDirectory, "pending"), sp.GetRequiredService<SpoolSeal>()),
            pendingLifetime, sp.GetRequiredService<NonDeliveryNotice>(), sp.GetRequiredKeyedService<ElementRelay>(CourierElement.Background),
            sp.GetRequiredService<ILogger<BackgroundElement>>(),
            agent: () => runsAgent ? sp.GetRequiredService<KeyReplacementAgent>().Inbox : sp.GetRequiredService<AgentMailDrop>()));
        services.AddSingleton(sp => new ForegroundElement(new ElementInbox(Path.Combine(data.ForegroundDirectory, "inbox"), sp.GetRequiredService<SpoolSeal>()),
            ScopedKeyRing.Foreground(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
            sp.GetRequiredService<IUserStore>(), new AccountVersions(AccountVersions.PathIn(data.ForegroundDirectory)), sp.GetRequiredService<IAgentDrop>(),
            new PendingParts(Path.Combine(data.ForegroundDirectory, "pending"), sp.GetRequiredService<SpoolSeal>()),
            pendingLifetime, sp.GetRequiredService<NonDeliveryNotice>(), sp.GetRequiredKeyedService<ElementRelay>(CourierElement.Foreground),
            sp.GetService<IInvitationDesk>(), sp.GetRequiredService<ILogger<ForegroundElement>>(),
            ownCourierCa: () => sp.GetRequiredService<CourierAuthority>().Certificate,
            transfers: () => takesTransfers ? sp.GetRequiredService<TransferDesk>() : null,
            rekeys: () => runsForeground ? sp.GetRequiredService<KeyReplacementDesk>() : null,
            isGuest: IsPortalGuest(sp)));
        // Key Replacement: the Foreground drives it, the Background carries its messages to the user's Agent (this
        // process, or mail to the Agent's host), the Agent makes the new key where the CA is.
        services.AddSingleton(_ => new KeyReplacementStore(KeyReplacementStore.PathIn(data)));
        services.AddSingleton(sp => new KeyReplacementDesk(sp.GetRequiredService<KeyReplacementStore>(), ScopedKeyRing.Foreground(sp.GetRequiredService<KeyStore>()),
            sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<IUserStore>(),
            sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Background), () => sp.GetRequiredService<CourierAuthority>().Certificate,
            sp.GetRequiredService<ILogger<KeyReplacementDesk>>(), () => takesTransfers ? sp.GetRequiredService<TransferDesk>() : null));
        services.AddSingleton(sp => new KeyReplacementAgent(new ElementInbox(Path.Combine(data.AgentDirectory, "key-replacement"), sp.GetRequiredService<SpoolSeal>()), sp.GetRequiredService<CourierAuthority>(),
            sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<IUserStore>(),
            sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Foreground), options.Crypto.UserKeyAlgorithm, Path.Combine(data.AgentDirectory, "key-replacements-done.json"),
            sp.GetRequiredService<ILogger<KeyReplacementAgent>>()));
        services.AddSingleton(sp => new AgentMailDrop(sp.GetRequiredService<MessageQueue>()));
        services.AddSingleton(sp => new KeyReplacementIntake(ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(),
            sp.GetRequiredService<CourierIdentity>(), runsAgent ? sp.GetRequiredService<KeyReplacementAgent>().Inbox : null,
            TimeSpan.FromHours(options.Courier.InterCourierMaxAgeHours)));
        if (runsAgent)
            services.AddSingleton<IHostedService>(sp =>
            {
                var agent = sp.GetRequiredService<KeyReplacementAgent>();
                return new ElementWorker("Agent (Key Replacement)", agent.Inbox, agent.ProcessAsync, _ => Task.CompletedTask, TimeSpan.FromHours(1),
                    sp.GetRequiredService<ILogger<KeyReplacementAgent>>(), TimeSpan.FromDays(options.Courier.RejectedRetentionDays));
            });
        services.AddSingleton(sp => new InvitationDesk(Path.Combine(data.ForegroundDirectory, "invitations.db"), sp.GetRequiredService<MessageQueue>(),
            ScopedKeyRing.Foreground(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
            sp.GetRequiredService<CourierAuthority>(), sp.GetRequiredService<IUserStore>(),
            () => sp.GetRequiredKeyedService<ElementRelay>(CourierElement.Foreground), () => GatewayOptionsValidator.CourierEndpoint(options, CourierElement.Background),
            address => TellBackground(sp, address),
            (runsAgent ? PublicUrl(options) : options.Courier.AgentUrl!.TrimEnd('/')) + Web.RegistrationPage.Path, WelcomeText(options), TimeSpan.FromDays(options.Courier.InvitationDays), options.Crypto.UserKeyAlgorithm,
            sp.GetRequiredService<ILogger<InvitationDesk>>()));
        services.AddSingleton<IInvitationDesk>(sp => sp.GetRequiredService<InvitationDesk>());
        services.AddSingleton<IRegistrationDesk>(sp => runsForeground
            ? sp.GetRequiredService<InvitationDesk>()
            : new Web.RemoteRegistrationDesk(new Uri(options.Courier.ForegroundUrl!), ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
                sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<CourierAuthority>(),
                sp.GetRequiredService<IUserStore>(), sp.GetRequiredService<MessageQueue>(), address => TellForeground(sp, address),
                WelcomeText(options), options.Crypto.UserKeyAlgorithm, sp.GetRequiredService<ILogger<Web.RemoteRegistrationDesk>>()));
        services.AddSingleton<Web.RegistrationPage>();
        services.AddSingleton(sp => new InterCourierGate(sp.GetRequiredService<CourierIdentity>(), ScopedKeyRing.Foreground(sp.GetRequiredService<KeyStore>()),
            ScopedKeyRing.Background(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(),
            runsForeground ? sp.GetRequiredService<ForegroundElement>().Inbox : null, runsBackground ? sp.GetRequiredService<BackgroundElement>().Inbox : null,
            sp.GetRequiredService<ILogger<InterCourierGate>>(), () => sp.GetRequiredService<CourierAuthority>().Certificate,
            runsBackground ? null : sp.GetRequiredKeyedService<ElementLink>(CourierElement.Background),
            runsAgent && !runsForeground ? sp.GetRequiredKeyedService<ElementLink>(CourierElement.Foreground) : null, agentElsewhere: !runsAgent,
            transferAuthorised: (address, courier) => takesTransfers && sp.GetRequiredService<TransferDesk>().IsAuthorised(address, courier),
            maxAge: TimeSpan.FromHours(options.Courier.InterCourierMaxAgeHours)));
        // Registration Transfer: where the Foreground runs with the Agent (the account, keys, CA and mailbox are there).
        services.AddSingleton(_ => new TransferStore(TransferStore.PathIn(data)));
        services.AddSingleton(sp => new MailboxMove(sp.GetRequiredService<MailStore>(), sp.GetRequiredService<IProtectedMessageReader>(), sp.GetRequiredService<MessageQueue>()));
        services.AddSingleton(sp =>
        {
            var (keys, directory, identity, queue) = (sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(),
                sp.GetRequiredService<MessageQueue>());
            return new TransferDesk(sp.GetRequiredService<TransferStore>(), keys, directory, sp.GetRequiredService<CourierAuthority>(), sp.GetRequiredService<IUserStore>(),
                () => sp.GetRequiredKeyedService<ElementRelay>(CourierElement.Foreground), () => GatewayOptionsValidator.CourierEndpoint(options, CourierElement.Background),
                address => TellBackground(sp, address), (address, courier) => TellBackground(sp, address, courier),
                (address, ct) => sp.GetRequiredService<MailboxMove>().QueueAsync(address, ct), queue.Contains,
                address => sp.GetRequiredService<MailStore>().DeleteUser(address),
                (address, ct) => InvitationDesk.QueueWelcomeAsync(queue, identity.ElementAddress(CourierElement.Foreground) ?? "foreground@invalid", address, WelcomeText(options),
                    TimeProvider.System, ct),
                options.Crypto.UserKeyAlgorithm, sp.GetRequiredService<ILogger<TransferDesk>>(), () => sp.GetRequiredService<KeyReplacementDesk>());
        });
        foreach (var element in localElements)
        {
            services.AddSingleton<IHostedService>(sp =>
            {
                var relay = sp.GetRequiredKeyedService<ElementRelay>(element);
                var notices = sp.GetRequiredService<NonDeliveryNotice>();
                var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Courier." + element);
                return new PeerDeliveryWorker(element.ToString(), relay.Outbox, new SmtpPeerTransport(options.Hostname, TimeSpan.FromSeconds(options.Delivery.ConnectTimeoutSeconds)),
                    TimeSpan.FromSeconds(options.Courier.PeerFirstRetrySeconds), TimeSpan.FromSeconds(options.Delivery.MaxQueueAgeSeconds),
                    async (entry, reason) =>
                    {
                        // A refused Transfer Subscription ends the transfer (nothing changed); the Foreground reports a refused or
                        // undeliverable part to its sender (the Background's refusal is the same event).
                        if (element == CourierElement.Foreground && entry.Kind == InterCourierKind.TransferSubscription && takesTransfers)
                            sp.GetRequiredService<TransferDesk>().Refused(entry.MessageId, reason);
                        if (element != CourierElement.Foreground || entry.Kind != InterCourierKind.ContentPart || entry.Sender.Length == 0) return;
                        await notices.SendAsync("Foreground", entry.Sender, entry.MessageId, entry.InternetMessageId,
                            entry.Recipients.Select(r => new UndeliveredRecipient(r, "5.7.1", $"courier {entry.Peer} did not take the message: {reason}")).ToList(),
                            CancellationToken.None, senderVouched: true); // a part is forwarded only after its sender's signature checked out
                    }, log);
            });
        }
        services.AddSingleton(sp => new SubmissionAgent(sp.GetRequiredService<MessageQueue>(), data, ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
            sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierAuthority>(), sp.GetRequiredService<CourierIdentity>(),
            sp.GetRequiredService<RestrictionPolicy>(), options, sp.GetRequiredService<ILogger<SubmissionAgent>>())
        {
            ForegroundInbox = sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Foreground),
            BackgroundInbox = sp.GetRequiredKeyedService<IElementDrop>(CourierElement.Background),
        });
        // The Background answers the Agent's key requests: in this process directly, and over HTTPS for an Agent on
        // another host (KeyReleaseEndpoint).
        services.AddSingleton<IKeyRelease>(sp => runsBackground
            ? sp.GetRequiredService<BackgroundElement>()
            : new Web.RemoteKeyRelease(new Uri(options.Courier.BackgroundUrl!), ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
                sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<ILogger<Web.RemoteKeyRelease>>()));
        services.AddSingleton(_ => new RequestNonceLedger(RequestNonceLedger.PathIn(data)));
        services.AddSingleton(sp => new SignedRequestGuard(sp.GetRequiredService<CourierAuthority>(), ledger: sp.GetRequiredService<RequestNonceLedger>()));
        services.AddSingleton(sp => new KeyReleaseDesk(ScopedKeyRing.Background(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(),
            sp.GetRequiredService<SignedRequestGuard>(), sp.GetRequiredService<IKeyRelease>(), sp.GetRequiredService<ILogger<KeyReleaseDesk>>()));
        // The sender's status page is where users log in (with the Agent); the records are the Background's, asked
        // over HTTPS when it runs on another host.
        services.AddSingleton(sp => new LocalSentMessages(sp.GetRequiredService<BackgroundStore>(), sp.GetRequiredService<BackgroundElement>()));
        // 'gateway message' verbs reach the Background's store through the process that has it.
        if (runsBackground)
            services.AddSingleton<IHostedService>(sp => new SentMessageControl(sp.GetRequiredService<BackgroundStore>(),
                BackgroundStore.ControlDirectoryOf(BackgroundStore.PathIn(data)), sp.GetRequiredService<ILogger<SentMessageControl>>()));
        services.AddSingleton<ISentMessages>(sp => runsBackground
            ? sp.GetRequiredService<LocalSentMessages>()
            : new Web.RemoteSentMessages(new Uri(options.Courier.BackgroundUrl!), ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
                sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>()));
        services.AddSingleton(sp => new StatusDesk(ScopedKeyRing.Background(sp.GetRequiredService<KeyStore>()), sp.GetRequiredService<CertificateDirectory>(),
            sp.GetRequiredService<SignedRequestGuard>(), sp.GetRequiredService<LocalSentMessages>(),
            sp.GetRequiredService<ILogger<StatusDesk>>()));
        services.AddSingleton<IProtectedMessageReader>(sp => new ReadingAgent(sp.GetRequiredService<MailStore>(), ScopedKeyRing.Agent(sp.GetRequiredService<KeyStore>()),
            sp.GetRequiredService<CertificateDirectory>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<IKeyRelease>(),
            sp.GetRequiredService<ILogger<ReadingAgent>>()));
        // Each element here works through its inbox and looks at what it holds. Added as plain IHostedService:
        // AddHostedService would keep only one of two workers of the same type.
        foreach (var element in localElements)
            services.AddSingleton<IHostedService>(sp =>
            {
                ElementInbox inbox;
                Func<string, CancellationToken, Task> process;
                Func<CancellationToken, Task> sweep;
                if (element == CourierElement.Foreground)
                {
                    var foreground = sp.GetRequiredService<ForegroundElement>();
                    (inbox, process, sweep) = (foreground.Inbox, foreground.ProcessAsync, foreground.SweepPendingAsync);
                }
                else
                {
                    var background = sp.GetRequiredService<BackgroundElement>();
                    (inbox, process, sweep) = (background.Inbox, background.ProcessAsync, background.SweepPendingAsync);
                }
                return new ElementWorker(element.ToString(), inbox, process, sweep, TimeSpan.FromSeconds(options.Courier.PendingCheckSeconds),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Courier." + element), TimeSpan.FromDays(options.Courier.RejectedRetentionDays),
                    options.Courier.ElementConcurrency, name => !ElementInbox.IsAgentPart(name));
            });
        // The links to elements on other hosts, and the accounts they must know (added with 'user add' or registered).
        PeerDeliveryWorker Link(IServiceProvider sp, string name, PeerOutbox outbox) => new(name, outbox,
            new SmtpPeerTransport(options.Hostname, TimeSpan.FromSeconds(options.Delivery.ConnectTimeoutSeconds)),
            TimeSpan.FromSeconds(options.Courier.PeerFirstRetrySeconds), TimeSpan.FromSeconds(options.Delivery.MaxQueueAgeSeconds),
            (entry, reason) => Task.CompletedTask, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Courier." + name.Replace(" link", "Link")));
        if (!runsBackground)
            services.AddSingleton<IHostedService>(sp => Link(sp, "Background link", sp.GetRequiredKeyedService<ElementLink>(CourierElement.Background).Outbox));
        if (runsAgent && !runsForeground)
            services.AddSingleton<IHostedService>(sp => Link(sp, "Foreground link", sp.GetRequiredKeyedService<ElementLink>(CourierElement.Foreground).Outbox));
        if (runsForeground && !runsAgent)
            services.AddSingleton<IHostedService>(sp => Link(sp, "Agent link", sp.GetRequiredService<AgentLink>().Outbox));
        if (runsForeground && !runsBackground)
            services.AddSingleton<IHostedService>(sp =>
            {
                var identity = sp.GetRequiredService<CourierIdentity>();
                return new AccountDistributor(sp.GetRequiredService<IUserStore>(), () => identity.ElementCertificate(CourierElement.Background) is not null,
                    address => TellBackground(sp, address),
                    "Foreground -> Background's host", Path.Combine(data.ForegroundDirectory, "accounts-told.json"), TimeSpan.FromSeconds(options.Courier.PendingCheckSeconds),
                    sp.GetRequiredService<ILogger<AccountDistributor>>(),
                    address => TellBackground(sp, address, removed: true));
            });
        if (runsAgent && !runsForeground)
            services.AddSingleton<IHostedService>(sp =>
            {
                var (keys, identity, authority) = (sp.GetRequiredService<KeyStore>(), sp.GetRequiredService<CourierIdentity>(), sp.GetRequiredService<CourierAuthority>());
                return new AccountDistributor(sp.GetRequiredService<IUserStore>(), () => identity.ElementCertificate(CourierElement.Foreground) is not null && authority.Certificate is not null,
                    address =>
                    {
                        // The account travels with its certificate, the proof that this courier's CA made it. Checked and
                        // issued under the gate: a registration issuing the same user's certificate at this moment is not overwritten.
                        authority.EnsureUser(address, options.Crypto.UserKeyAlgorithm);
                        TellForeground(sp, address);
                    },
                    "Agent's host -> Foreground's host", Path.Combine(data.AgentDirectory, "accounts-told.json"), TimeSpan.FromSeconds(options.Courier.PendingCheckSeconds),
                    sp.GetRequiredService<ILogger<AccountDistributor>>(),
                    address =>
                    {
                        // Signed by the removed user's own key, the proof that it comes from where the accounts are.
                        if (keys.GetCertificate(CourierSecureMimeContext.UserKeyId(address)) is not null) TellForeground(sp, address, removed: true);
                    });
            });
        services.AddSingleton<Web.StatusPage>();
        services.AddSingleton<OwnCrlRefresher>();
        if (runsAgent) services.AddHostedService(sp => sp.GetRequiredService<OwnCrlRefresher>()); // the CA key lives with the Agent
        // Introduction certificates a courier rekey retired are revoked once nothing signed with them waits to leave.
        if (runsAgent)
            services.AddSingleton<IHostedService>(sp => new IntroductionRetirement(sp.GetRequiredService<CourierAuthority>(), sp.GetRequiredService<CertificateDirectory>(),
                e => options.Runs(e == CourierElement.Foreground ? GatewayOptions.ForegroundRole : GatewayOptions.BackgroundRole) ? sp.GetRequiredKeyedService<PeerOutbox>(e) : null,
                TimeSpan.FromSeconds(options.Delivery.MaxQueueAgeSeconds), sp.GetRequiredService<ILogger<IntroductionRetirement>>()));
        // Key Replacement before expiry: users' keys where the Foreground (which drives it) runs, the elements' where both their keys are.
        if (runsForeground || (runsAgent && runsBackground))
            services.AddSingleton<IHostedService>(sp => new KeyRenewal(sp.GetRequiredService<CourierAuthority>(), sp.GetRequiredService<KeyStore>(),
                runsForeground ? sp.GetRequiredService<KeyReplacementDesk>() : null, TimeSpan.FromDays(options.Courier.RekeyDaysBeforeExpiry),
                sp.GetRequiredService<ILogger<KeyRenewal>>()));
        services.AddSingleton(sp => new OutsideDeliveryPolicy(options.Courier, options.EffectiveOutside, sp.GetRequiredService<CertificateDirectory>()));
        // The pickup portal for outside recipients: guests, links, proofs of address, and the pages (with the Agent).
        services.AddSingleton(_ => new Courier.Portal.PortalGuests(Courier.Portal.PortalGuests.PathIn(data)));
        services.AddSingleton(sp => new Courier.Portal.PickupLink(sp.GetRequiredService<MasterKey>()));
        services.AddSingleton(sp => new Courier.Portal.AddressProofs(Path.Combine(data.AgentDirectory, "portal.db"), sp.GetRequiredService<MasterKey>()));
        if (options.PortalAvailable) // else the deliverer has no portal (and no guests store is opened on an element's own host)
            services.AddSingleton(sp => new Courier.Portal.PortalAdmission(sp.GetRequiredService<Courier.Portal.PortalGuests>(), sp.GetRequiredService<CourierAuthority>(),
                sp.GetRequiredService<Courier.Portal.PickupLink>(), sp.GetRequiredService<RestrictionPolicy>(), options, PublicUrl(options),
                sp.GetRequiredService<ILogger<Courier.Portal.PortalAdmission>>()));
        services.AddSingleton(sp => new Courier.Portal.PickupDesk(sp.GetRequiredService<Courier.Portal.PickupLink>(), sp.GetRequiredService<Courier.Portal.AddressProofs>(),
            sp.GetRequiredService<Courier.Portal.PortalGuests>(), sp.GetRequiredService<MailStore>(), sp.GetRequiredService<IProtectedMessageReader>(),
            sp.GetRequiredService<MessageQueue>(), sp.GetRequiredService<CertificateDirectory>(), runsForeground ? sp.GetRequiredService<IInvitationDesk>() : null,
            () => options.Courier.Invite ?? sp.GetRequiredService<CourierAuthority>().Role == CourierRole.Public, options,
            sp.GetRequiredService<ILogger<Courier.Portal.PickupDesk>>()));
        services.AddSingleton(sp => new Web.Pickup.PickupBrowser(sp.GetRequiredService<MasterKey>(), TimeSpan.FromMinutes(options.Courier.Portal.SessionMinutes),
            TimeSpan.FromDays(options.Courier.Portal.TrustedBrowserDays)));
        services.AddSingleton<Web.Pickup.PickupPage>();
        if (options.PortalAvailable)
        {
            // A link works at most LinkDays from its notification, which may wait in the queue up to MaxQueueAgeSeconds.
            services.AddSingleton(sp => new Courier.Portal.PortalRetention(sp.GetRequiredService<Courier.Portal.PortalGuests>(), sp.GetRequiredService<IUserStore>(),
                sp.GetRequiredService<MailStore>(), TimeSpan.FromDays(options.Courier.Portal.LinkDays) + TimeSpan.FromSeconds(options.Delivery.MaxQueueAgeSeconds),
                sp.GetRequiredService<ILogger<Courier.Portal.PortalRetention>>()));
            services.AddHostedService(sp => sp.GetRequiredService<Courier.Portal.PortalRetention>());
        }
        services.AddSingleton<MessageDeliverer>();
        services.AddSingleton<QueueRunner>();
        services.AddSingleton(sp =>
        {
            var exposition = new Metrics.PrometheusExposition();
            var runner = sp.GetRequiredService<QueueRunner>();
            var started = DateTime.UtcNow;
            exposition.AddGauges(() =>
            {
                var (queued, deferred, inFlight) = runner.Counts();
                using var process = System.Diagnostics.Process.GetCurrentProcess();
                return new[]
                {
                    new Metrics.GaugeReading("gateway_queue_messages", "Messages in the outbound queue: all, those tried before (deferred), those being delivered now",
                        new[] { ("state=\"queued\"", (double)queued), ("state=\"deferred\"", deferred), ("state=\"in_flight\"", inFlight) }),
                    new Metrics.GaugeReading("gateway_process_resident_memory_bytes", "Resident memory of the gateway process", new[] { ("", (double)process.WorkingSet64) }),
                    new Metrics.GaugeReading("gateway_process_managed_heap_bytes", "Managed heap in use", new[] { ("", (double)GC.GetTotalMemory(false)) }),
                    new Metrics.GaugeReading("gateway_process_allocated_bytes", "Bytes allocated on the managed heap since start (only grows: take its rate)",
                        new[] { ("", (double)GC.GetTotalAllocatedBytes(precise: false)) }),
                    new Metrics.GaugeReading("gateway_uptime_seconds", "Seconds since the gateway started", new[] { ("", (DateTime.UtcNow - started).TotalSeconds) }),
                };
            });
            return exposition;
        });
        services.AddHostedService(sp => sp.GetRequiredService<QueueRunner>());

        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (GatewayOptionsValidator.TryParseEndpoint(options.Web.Endpoint, out var web))
            {
                kestrel.Listen(web, listen =>
                {
                    listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;
                    // The same certificate as SMTP, read at each handshake so a reload applies here too.
                    listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.TlsHandshakeCallbackOptions
                    {
                        OnConnection = context => ValueTask.FromResult(kestrel.ApplicationServices.GetRequiredService<TlsCertificateProvider>().CreateServerOptions()),
                    });
                });
            }
            foreach (var listener in options.Listeners)
            {
                GatewayOptionsValidator.TryParseEndpoint(listener.Endpoint, out var endpoint);
                var name = listener.Name;
                kestrel.Listen(endpoint, listen =>
                {
                    listen.Use(next => connection =>
                    {
                        connection.Items[SmtpConnectionHandler.ListenerKey] = name;
                        return next(connection);
                    });
                    if (listener.Role == ListenerRole.Imap) listen.UseConnectionHandler<ImapConnectionHandler>();
                    else listen.UseConnectionHandler<SmtpConnectionHandler>();
                });
            }
        });

        var app = builder.Build();
        Web.WebEndpoints.Map(app, options);
        // Fail at start-up, not at the first STARTTLS, if the certificate cannot be made or read.
        app.Services.GetRequiredService<TlsCertificateProvider>();
        app.Services.GetRequiredService<IUserStore>();
        // A missing or wrong master key stops the start-up here, with its own message, not at first use.
        app.Services.GetRequiredService<KeyStore>();
        if (runsAgent) app.Services.GetRequiredService<MailStore>();
        var authority = app.Services.GetRequiredService<CourierAuthority>();
        if (options.Courier.CreateRootOnFirstStart && authority.Certificate is null && !authority.HasPendingRequest)
        {
            authority.InitRoot(options.Hostname, KeyAlgorithm.EcP256);
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway").LogInformation(
                "First start: this courier is now the Root of its own network ({Hostname}); set Courier:CreateRootOnFirstStart to false before the first start to join an existing network instead", options.Hostname);
        }
        // Users' certificates are issued on demand by the CA just made, if this is the first start.
        if (runsAgent) SealLegacyMail(app.Services.GetRequiredService<MailStore>(), app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Upgrade"));
        // The elements validate through the certificate directory only (their key rings hold no CA): our own CA must be there.
        if (authority.Certificate is { } ownCa) app.Services.GetRequiredService<CertificateDirectory>().Add(ownCa, "hierarchy");
        // Queue recovery clears half-received spool files, so it runs now, before any listener accepts mail,
        // and the delivery worker exists (and listens for new commits) before the first one can arrive.
        if (runsAgent) app.Services.GetRequiredService<OwnCrlRefresher>().RefreshNow();
        app.Services.GetRequiredService<CertificateDirectory>().CrlSource = app.Services.GetRequiredService<PeerCrlFetcher>();
        var queued = app.Services.GetRequiredService<MessageQueue>().Recover();
        if (runsAgent) app.Services.GetRequiredService<SubmissionAgent>().DiscardOrphans(queued.Select(m => m.Id).ToHashSet());
        app.Services.GetRequiredService<QueueRunner>();
        app.Services.GetRequiredService<Metrics.PrometheusExposition>(); // listens from the start, not from the first scrape
        // Receipts recorded as owed but not yet queued when the last run ended.
        if (runsBackground) app.Services.GetRequiredService<BackgroundElement>().SendOwedReceipts();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway");
        if (tightened > 0)
            log.LogWarning("Data directory {DataDirectory}: {Count} files and directories other local users could reach are now owner-only (0600/0700)", data.Root, tightened);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var l in options.Listeners)
                log.LogInformation("Listening for {Role} on {Endpoint} (TLS: {Tls}) as {Listener}", l.Role, l.Endpoint, l.Tls, l.Name);
            if (!string.IsNullOrWhiteSpace(options.Web.Endpoint))
                log.LogInformation("Listening for HTTPS on {Endpoint} (public URL {PublicUrl})", options.Web.Endpoint, options.Web.PublicUrl);
            log.LogInformation("Gateway {Hostname} serving {Domains}; data in {DataDirectory}", options.Hostname, string.Join(", ", options.Domains), options.DataDirectory);
        });
        app.Lifetime.ApplicationStopping.Register(() => log.LogInformation("Shutting down: no new connections; finishing transactions in progress"));
        return app;
    }
}
