using System.CommandLine;
using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Hosting;

namespace Gateway;

public static class Program
{
    public static int Main(string[] args)
    {
        // Before anything touches the disk: every file the gateway creates is owner-only (0600, directories 0700).
        Platform.PrivateFiles.RestrictNewFiles();
        var configOption = new Option<string?>("--config", "-c")
        {
            Description = "Configuration file (JSON). Default: $GATEWAY_CONFIG, else ./gateway.json if present, else the embedded defaults.",
            Recursive = true,
        };

        (IConfiguration Configuration, GatewayOptions Options)? Load(ParseResult parse)
        {
            try
            {
                var (configuration, _) = ConfigurationSources.Load(parse.GetValue(configOption));
                return (configuration, GatewayOptionsLoader.Load(configuration));
            }
            catch (ConfigurationException ex)
            {
                foreach (var problem in ex.Problems) Console.Error.WriteLine("gateway: configuration error: " + problem);
                return null;
            }
        }

        var run = new Command("run", "Start the gateway (the default when no verb is given): SMTP delivery and submission listeners and the delivery worker.");
        run.SetAction(async (parse, cancellationToken) =>
        {
            if (Load(parse) is not { } loaded) return 2;
            var options = loaded.Options;
            try
            {
                var app = GatewayHost.Build(options, loaded.Configuration);
                await app.RunAsync();
                return 0;
            }
            catch (IOException ex) when (ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase) || ex.InnerException is System.Net.Sockets.SocketException)
            {
                Console.Error.WriteLine($"gateway: cannot listen: {ex.Message}; fix: stop what uses the port or change Gateway:Listeners:N:Endpoint.");
                return 3;
            }
            catch (Exception ex) when (ex is Crypto.MasterKeyException or Crypto.KeyStoreException or Platform.DataDirectoryException)
            {
                Console.Error.WriteLine("gateway: " + ex.Message);
                return 2;
            }
            catch (UnauthorizedAccessException ex)
            {
                Console.Error.WriteLine($"gateway: no permission: {ex.Message}; fix: make {options.DataDirectory} writable or set GATEWAY_DATA_DIR.");
                return 3;
            }
        });

        var root = new RootCommand("Gateway: a self-hosted SMTP mail gateway that encrypts mail transparently.")
        {
            configOption,
            run,
            UserCommands.Create(parse => Load(parse)?.Options),
            CaCommands.Create(parse => Load(parse)?.Options),
            CertCommands.Create(parse => Load(parse)?.Options),
            MessageCommands.Create(parse => Load(parse)?.Options),
            PeerCommands.Create(parse => Load(parse)?.Options),
            RolesCommands.Create(parse => Load(parse)?.Options),
            RekeyCommands.Create(parse => Load(parse)?.Options),
            TransferCommands.Create(parse => Load(parse)?.Options),
            QueueCommands.Create(parse => Load(parse)?.Options),
        };
        root.SetAction((parse, cancellationToken) => run.Action is System.CommandLine.Invocation.AsynchronousCommandLineAction a
            ? a.InvokeAsync(parse, cancellationToken)
            : Task.FromResult(1));
        try
        {
            // The default handler would print a stack trace for every exception; this one gets a plain line.
            return root.Parse(args).Invoke(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Platform.DataDirectoryException ex)
        {
            // An admin verb found the data directory open to other users and could not close it.
            Console.Error.WriteLine("gateway: " + ex.Message);
            return 2;
        }
        catch (Exception ex)
        {
            // What System.CommandLine's default handler would do: report it and fail, rather than abort the process.
            Console.Error.WriteLine("gateway: unexpected error: " + ex);
            return 1;
        }
    }
}
