using System.Text;
using System.Text.RegularExpressions;
using Gateway.Tests.Support;

namespace Gateway.Tests.Interop;

/// <summary>
/// The same scripted IMAP session against Dovecot and against the gateway: after normalising what legitimately
/// differs (UIDVALIDITY, MODSEQ values, human-readable response text), the untagged data must be the same:
/// FETCH results byte for byte (ENVELOPE, BODYSTRUCTURE, sections, partials), UIDs after APPEND, COPY and EXPUNGE,
/// SEARCH results and STATUS counts.
/// </summary>
public sealed class DovecotComparisonTests
{
    const string Password = "compare-secret-5";

    static readonly string Multipart =
        "From: \"Alice \\\"Al\\\" Example\" <alice@example.org>\r\n" +
        "To: Bob <bob@example.org>, undisclosed-recipients:;\r\n" +
        "Cc: team: carol@example.org, dave@example.org;\r\n" +
        "Subject: =?utf-8?q?Caf=C3=A9?= report\r\n" +
        " folded onto a second line\r\n" +
        "Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n" +
        "Message-ID: <compare-1@example.org>\r\n" +
        "In-Reply-To: <earlier@example.org>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
        "\r\n" +
        "This is a multi-part message in MIME format.\r\n" +
        "--outer\r\n" +
        "Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
        "\r\n" +
        "--inner\r\n" +
        "Content-Type: text/plain; charset=utf-8; format=flowed\r\n" +
        "Content-Transfer-Encoding: quoted-printable\r\n" +
        "\r\n" +
        "Caf=C3=A9 numbers are in.\r\n" +
        "Second line.\r\n" +
        "--inner\r\n" +
        "Content-Type: text/html; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: 7bit\r\n" +
        "\r\n" +
        "<p>Numbers are in.</p>\r\n" +
        "--inner--\r\n" +
        "\r\n" +
        "--outer\r\n" +
        "Content-Type: application/pdf; name=\"report.pdf\"\r\n" +
        "Content-Disposition: attachment; filename=\"report.pdf\"\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "Content-ID: <part3@example.org>\r\n" +
        "Content-Description: The report\r\n" +
        "\r\n" +
        "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n" +
        "eJwrVAhUKFQwUDAAAAAA//8DAA==\r\n" +
        "--outer\r\n" +
        "Content-Type: message/rfc822\r\n" +
        "\r\n" +
        "From: Carol <carol@example.org>\r\n" +
        "Subject: forwarded\r\n" +
        "Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n" +
        "\r\n" +
        "The forwarded text.\r\n" +
        "--outer--\r\n";

    static readonly string Plain =
        "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: plain one\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nJust text.\r\n";

    static readonly string NoHeaders = "Subject: bare\r\n\r\nno content type, no date\r\n";

    static readonly string[] Script =
    {
        "APPEND INBOX (\\Seen) \"24-Nov-2026 10:00:00 +0000\" {MULTIPART}",
        "APPEND INBOX \"23-Nov-2026 08:00:00 +0000\" {PLAIN}",
        "APPEND INBOX (\\Flagged $Work) \"22-Nov-2026 08:00:00 +0000\" {NOHEADERS}",
        "SELECT INBOX",
        "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)",
        "FETCH 1:* (BODYSTRUCTURE)",
        "FETCH 1:* (BODY)",
        "FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject FROM)] BODY.PEEK[1.1] BODY.PEEK[2.MIME] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[TEXT]<10.20>)",
        "FETCH 2 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS.NOT (To Date)] RFC822.HEADER BODY.PEEK[]<5000.10>)",
        "FETCH 3 (BODY.PEEK[1] BODY.PEEK[TEXT] BODY.PEEK[9])",
        "FETCH 1:3 (BODY.PEEK[HEADER] BODY.PEEK[HEADER]<4.30> BODY.PEEK[HEADER.FIELDS (Subject Message-ID)] RFC822.HEADER)",
        "FETCH 2 (BODY[TEXT])",
        "FETCH 2 (FLAGS)",
        "SEARCH SEEN",
        "SEARCH KEYWORD $Work",
        "SEARCH OR SUBJECT report FROM carol",
        "SEARCH SUBJECT café",
        "SEARCH BODY \"numbers are\"",
        "SEARCH TEXT forwarded",
        "SEARCH LARGER 1000",
        "SEARCH SENTBEFORE 24-Nov-2026",
        "SEARCH SINCE 23-Nov-2026",
        "SEARCH NOT 2:3",
        "UID SEARCH UID 2:*",
        "UID SEARCH UID 9:*",
        "SEARCH 2:3 SEEN",
        "SEARCH OR 1 UID 3",
        "SEARCH OR 1 SUBJECT report",
        "UID SEARCH UID 1,3 OR 2 LARGER 1",
        "SEARCH 1:2 NOT UID 1",
        "SEARCH HEADER Message-ID compare-1",
        "SEARCH FROM alice",
        "SEARCH FROM \"Bob\"",
        "SEARCH TO bob@example.org",
        "SEARCH CC dave",
        "SEARCH BCC anyone",
        "UID SEARCH SUBJECT \"plain one\"",
        "SEARCH SUBJECT folded",
        "SEARCH HEADER In-Reply-To earlier",
        "SEARCH BODY \"Just text\"",
        "SEARCH TEXT \"no content type\"",
        "SEARCH NOT BODY numbers",
        "SEARCH OR BODY \"Just text\" HEADER Subject bare",
        "STORE 2 +FLAGS (\\Deleted $Done)",
        "STORE 1 -FLAGS (\\Seen)",
        "STORE 3 FLAGS (\\Answered)",
        "EXPUNGE",
        "UID FETCH 1:* (FLAGS)",
        "COPY 1:2 Archive",
        "STATUS Archive (MESSAGES UIDNEXT UNSEEN RECENT)",
        "UID MOVE 3 Trash",
        "FETCH 1:* (UID)",
        "EXAMINE Trash",
        "FETCH 1 (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
        "LIST \"\" \"%\"",
    };

    [Fact]
    public async Task The_same_session_gives_the_same_data_as_dovecot()
    {
        await using var dovecot = await DovecotInstance.StartAsync("alice@dovecot.test", Password);
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser("alice@gateway.test", Password);

        var reference = await RunAsync(dovecot.Port, tls: false, "alice@dovecot.test");
        var ours = await RunAsync(gw.ImapsPort, tls: true, "alice@gateway.test");

        var differences = new StringBuilder();
        for (var i = 0; i < Script.Length; i++)
        {
            if (reference[i].SequenceEqual(ours[i])) continue;
            differences.AppendLine($"--- {Script[i]}\n  dovecot: {string.Join("\n           ", reference[i])}\n  gateway: {string.Join("\n           ", ours[i])}");
        }
        Assert.True(differences.Length == 0, "differences from Dovecot:\n" + differences);
    }

    static async Task<List<List<string>>> RunAsync(int port, bool tls, string user)
    {
        await using var wire = await ImapWire.ConnectAsync(port, tls);
        await wire.ReadLineAsync();
        var login = await wire.CommandAsync($"LOGIN \"{user}\" \"{Password}\"");
        Assert.Contains(" OK", login[^1]);
        var transcript = new List<List<string>>();
        var n = 0;
        foreach (var step in Script)
        {
            var tag = $"C{++n}";
            var command = step.Replace("{MULTIPART}", "").Replace("{PLAIN}", "").Replace("{NOHEADERS}", "");
            string? literal = step.EndsWith("{MULTIPART}") ? Multipart : step.EndsWith("{PLAIN}") ? Plain : step.EndsWith("{NOHEADERS}") ? NoHeaders : null;
            List<string> lines;
            if (literal is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(literal);
                await wire.SendAsync($"{tag} {command}{{{bytes.Length}}}\r\n");
                var go = await wire.ReadLineAsync();
                Assert.StartsWith("+", go);
                await wire.SendAsync(bytes.Concat("\r\n"u8.ToArray()).ToArray());
                lines = await wire.ReadUntilTaggedAsync(tag);
            }
            else if (command.Contains("café"))
            {
                var bytes = Encoding.UTF8.GetBytes("café");
                await wire.SendAsync($"{tag} SEARCH CHARSET UTF-8 SUBJECT {{{bytes.Length}}}\r\n");
                Assert.StartsWith("+", await wire.ReadLineAsync());
                await wire.SendAsync(bytes.Concat("\r\n"u8.ToArray()).ToArray());
                lines = await wire.ReadUntilTaggedAsync(tag);
            }
            else lines = await wire.CommandAsync(command).ContinueWith(t => t.Result);
            transcript.Add(Normalise(lines, lines[^1].Split(' ')[0]));
        }
        return transcript;
    }

    /// <summary>
    /// Keeps the data; drops what servers may word or order differently where IMAP gives them the choice:
    /// a string sent as a literal or quoted, STATUS item and LIST line order, and quoting of simple mailbox names.
    /// </summary>
    static List<string> Normalise(List<string> lines, string tag)
    {
        var result = new List<string>();
        var list = new List<string>();
        foreach (var original in lines)
        {
            var raw = LiteralsToQuoted(original);
            if (raw.StartsWith("* LIST ") || raw.StartsWith("* LSUB "))
            {
                list.Add(Regex.Replace(raw, @" ""([A-Za-z0-9/]+)""$", " $1"));
                continue;
            }
            if (raw.StartsWith("* STATUS "))
            {
                var m = Regex.Match(raw, @"^\* STATUS ""?([^"" ]+)""? \((.*)\)$");
                var pairs = Regex.Matches(m.Groups[2].Value, @"(\S+) (\S+)").Select(p => p.Value).OrderBy(p => p, StringComparer.Ordinal);
                raw = $"* STATUS {m.Groups[1].Value} ({string.Join(' ', pairs)})";
            }
            var line = Regex.Replace(raw, @"UIDVALIDITY \d+", "UIDVALIDITY v");
            line = Regex.Replace(line, @"(APPENDUID|COPYUID) \d+", "$1 v");
            line = Regex.Replace(line, @"MODSEQ \(?\d+\)?", "MODSEQ m");
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                // The status and any response code; the text after it is for humans.
                var m = Regex.Match(line, @"^\S+ (OK|NO|BAD)( \[[^\]]*\])?");
                result.Add(m.Value[(tag.Length + 1)..]);
                continue;
            }
            if (line.StartsWith("* OK [", StringComparison.Ordinal))
            {
                var code = Regex.Match(line, @"^\* OK \[([A-Z\-]+)").Groups[1].Value;
                if (code is "PERMANENTFLAGS" or "HIGHESTMODSEQ" or "CLOSED") continue; // keyword sets and CONDSTORE details vary
                result.Add(Regex.Match(line, @"^\* OK \[[^\]]*\]").Value);
                continue;
            }
            if (line.StartsWith("* FLAGS", StringComparison.Ordinal) || line.StartsWith("* CAPABILITY", StringComparison.Ordinal)) continue;
            result.Add(line);
        }
        list.Sort(StringComparer.Ordinal);
        result.InsertRange(Math.Max(0, result.Count - 1), list);
        return result;
    }

    /// <summary>Rewrites every literal {n}CRLF+octets in a response line as the equivalent quoted string.</summary>
    static string LiteralsToQuoted(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var output = new List<byte>();
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == '{')
            {
                var close = Array.IndexOf(bytes, (byte)'}', i);
                if (close > i + 1 && close + 2 < bytes.Length + 1 && bytes.Skip(i + 1).Take(close - i - 1).All(b => b is >= (byte)'0' and <= (byte)'9')
                    && close + 2 <= bytes.Length && bytes[close + 1] == '\r' && bytes[close + 2] == '\n')
                {
                    var n = int.Parse(Encoding.ASCII.GetString(bytes, i + 1, close - i - 1));
                    var start = close + 3;
                    if (start + n <= bytes.Length)
                    {
                        output.Add((byte)'"');
                        foreach (var b in bytes.AsSpan(start, n))
                        {
                            if (b is (byte)'"' or (byte)'\\') output.Add((byte)'\\');
                            if (b == '\r') { output.AddRange("\\r"u8.ToArray()); continue; }
                            if (b == '\n') { output.AddRange("\\n"u8.ToArray()); continue; }
                            output.Add(b);
                        }
                        output.Add((byte)'"');
                        i = start + n - 1;
                        continue;
                    }
                }
            }
            output.Add(bytes[i]);
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }
}
