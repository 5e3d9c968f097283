using System.IO.Pipelines;
using System.Text;
using Gateway.Courier;
using Gateway.Crypto;
using Gateway.Imap;
using Gateway.Smtp;
using MimeKit;

namespace Gateway.Fuzzing;

/// <summary>
/// What the fuzzers feed: each target takes arbitrary octets and runs one of the gateway's parsers of untrusted input
/// on them. A target may reject its input only with the exceptions that parser documents for bad input (the ones the
/// gateway turns into a protocol error); any other exception, a hang or a crash is a bug. Shared by the short run in
/// the test suite (Gateway.Tests, FuzzTests) and the coverage-guided run with SharpFuzz and AFL (fuzz/run.sh).
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["smtp"] = Smtp,
        ["imap"] = Imap,
        ["mime"] = Mime,
        ["courier"] = Courier,
    };

    /// <summary>SMTP command lines: MAIL/RCPT paths and parameters, xtext (RFC 3461), AUTH's base64.</summary>
    public static void Smtp(byte[] data)
    {
        foreach (var line in Encoding.Latin1.GetString(data).Split("\r\n"))
        {
            var space = line.IndexOf(' ');
            var (verb, argument) = space < 0 ? (line, "") : (line[..space].ToUpperInvariant(), line[(space + 1)..]);
            if (verb is "MAIL" or "RCPT" && SmtpPathParser.TryParse(argument, verb == "MAIL" ? "FROM:" : "TO:", out var parsed, out _))
            {
                foreach (var (_, value) in parsed.Parameters)
                    if (value is not null) XText.TryDecode(value, out _);
                SmtpMailbox.TryParse(parsed.Path, out _);
            }
            XText.TryDecode(argument, out _);
            SmtpMailbox.TryParse(argument, out _);
        }
    }

    /// <summary>IMAP commands read off the wire (literals included, bounded) and parsed, with FETCH items, SEARCH keys and sequence sets.</summary>
    public static void Imap(byte[] data)
    {
        var pipe = new Pipe();
        pipe.Writer.WriteAsync(data).AsTask().GetAwaiter().GetResult();
        pipe.Writer.Complete();
        var reader = new ImapCommandReader(pipe.Reader, 8192, 65536, 262144);
        for (var i = 0; i < 1000; i++)
        {
            var read = reader.ReadAsync(() => ValueTask.CompletedTask, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (read.Status == ImapReadStatus.Closed || !read.CanContinue) return;
            if (read.Command is null) continue;
            try
            {
                var command = ImapCommandParser.Parse(read.Command);
                var arguments = command.Arguments;
                var uid = command.Name == "UID" && arguments.Count > 0;
                var name = uid ? (arguments[0].AsString() ?? "").ToUpperInvariant() : command.Name;
                var rest = uid ? arguments.Skip(1).ToList() : arguments.ToList();
                if (rest.Count > 0 && rest[0] is ImapValue.Atom set) SequenceSet.TryParse(set.Text, out _);
                if (name == "FETCH" && rest.Count > 1) FetchAttributes.Parse(rest[1]);
                if (name == "SEARCH") SearchQuery.Parse(rest);
                foreach (var a in rest.OfType<ImapValue.String>()) ModifiedUtf7.TryDecode(a.AsString() ?? "", out _);
            }
            catch (Exception ex) when (ex is ImapSyntaxException or BadCharsetException) { }
        }
    }

    /// <summary>A whole message: MIME structure (IMAP BODYSTRUCTURE and ENVELOPE) as the IMAP server computes it for any stored message.</summary>
    public static void Mime(byte[] data)
    {
        try
        {
            MessageStructure.Parse(new MemoryStream(data, writable: false)).ToJson();
        }
        catch (Exception ex) when (ex is FormatException or ParseException) { }
    }

    static readonly Lazy<(CertificateDirectory Directory, IKeyRing Keys)> Stores = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "gateway-fuzz-" + Environment.ProcessId);
        var data = new Gateway.Platform.DataDirectory(root);
        data.EnsureCreated();
        var keys = new KeyStore(data.KeyStorePath, MasterKey.Load(data));
        return (new CertificateDirectory(data.CertificateDirectoryPath), ScopedKeyRing.Agent(keys));
    });

    /// <summary>What couriers and roles send each other: ARMs, manifests, Inter-Courier headers, Introductions, Key
    /// Replacement and transfer bodies (JSON), and S/MIME envelopes opened and verified (no key fits garbage).</summary>
    public static void Courier(byte[] data)
    {
        Expect(() => AccessRestrictionsMessage.Parse(data));
        Expect(() => ContentManifest.Parse(data));
        Expect(() => InterCourierHeader.Parse(data));
        Expect(() => IntroductionBody.Parse(data));
        Expect(() => KeyReplacementBody.Parse(data));
        Expect(() => TransferBody.From(CourierMime.Part(TransferBody.MediaType, data)));
        Expect(() =>
        {
            var entity = MimeEntity.Load(new MemoryStream(data, writable: false));
            using var context = new CourierSecureMimeContext(Stores.Value.Keys, Stores.Value.Directory);
            try { PartEnvelope.Open(context, entity, null); }
            catch (PartRejectedException) { }
            PartEnvelope.Verify(context, entity, null);
        });
    }

    static void Expect(Action parse)
    {
        try { parse(); }
        catch (Exception ex) when (ex is PartRejectedException or FormatException or ParseException or System.Text.Json.JsonException) { }
    }
}
