#!/usr/bin/env python3
"""imap_bench.py - the IMAP client of bench/imap-fetch-idle.sh (Python 3 standard library only).

The same client talks to both servers. It does not use imaplib: it writes a command on a raw
(TLS) socket and reads the reply in large chunks until the tagged completion, skipping literals
by their announced length, so that the client costs little next to the server it measures.

    imap_bench.py probe  --port P [--plain] [--timeout S]
    imap_bench.py load   --port P [--plain] --user U --password W --count N --size BYTES
    imap_bench.py fetch  --port P [--plain] --user U --password W --what headers|bodies --expect N [--repeat R]
    imap_bench.py search --port P [--plain] --user U --password W --key 'SUBJECT invoice'
    imap_bench.py idle   --port P [--plain] --user U --password W --count C --hold H [--check-exists]
    imap_bench.py mem    --pid PID [--tree] [--pss]

Every command prints one line starting with an upper-case word (PROBE, LOADED, FETCH, READY,
EXISTS, DONE, MEM); problems are printed as lines starting with ERROR. Every network wait is
bounded by a timeout. Exit status 0 on success, 1 on a failed check, 2 on a usage error.
"""
import argparse
import asyncio
import os
import random
import socket
import ssl
import sys
import time

CHUNK = 1 << 20
HEADER_FIELDS = "From To Subject Date Message-ID"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImapError(Exception):
    pass


class Conn:
    """A blocking IMAP connection with a literal-aware response reader."""

    def __init__(self, port, plain, timeout=60.0, host="127.0.0.1"):
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = raw if plain else tls_context().wrap_socket(raw, server_hostname=None)
        self.buf = bytearray()
        self.pos = 0
        self.nbytes = 0  # application bytes received
        self.scratch = memoryview(bytearray(CHUNK))  # recv_into target: no allocation per read
        self.tagno = 0
        self.last_search = []
        self.greeting, _ = self.read_response()
        if not self.greeting.startswith(b"* OK"):
            raise ImapError("greeting: %r" % self.greeting[:100])

    def tls_info(self):
        if isinstance(self.sock, ssl.SSLSocket):
            return "%s %s" % (self.sock.version(), self.sock.cipher()[0])
        return "plaintext"

    def next_tag(self):
        self.tagno += 1
        return b"Zb%04d" % self.tagno

    def _fill(self):
        if self.pos > 0:
            del self.buf[: self.pos]
            self.pos = 0
        n = self.sock.recv_into(self.scratch)
        if n == 0:
            raise ImapError("connection closed by the server")
        self.nbytes += n
        self.buf += self.scratch[:n]

    def read_response(self):
        """Reads one complete response; returns (its first line, up to 200 bytes; literal octets in it)."""
        first = None
        literal = 0
        while True:
            eol = self.buf.find(b"\r\n", self.pos)
            while eol < 0:
                self._fill()
                eol = self.buf.find(b"\r\n", self.pos)
            if first is None:
                first = bytes(self.buf[self.pos : min(eol, self.pos + 200)])
                if first.startswith(b"* SEARCH"):  # kept whole: the bench compares the answers
                    self.last_search = bytes(self.buf[self.pos + 8 : eol]).split()
            if eol > self.pos and self.buf[eol - 1] == 0x7D:  # line ends with '}': a literal follows
                lb = self.buf.rfind(b"{", self.pos, eol)
                if lb >= 0:
                    n = int(bytes(self.buf[lb + 1 : eol - 1]).rstrip(b"+"))
                    literal += n
                    avail = len(self.buf) - (eol + 2)
                    if avail >= n:
                        self.pos = eol + 2 + n
                    else:  # skip the rest of the literal straight from the socket
                        skip = n - avail
                        self.buf.clear()
                        self.pos = 0
                        while skip > 0:
                            got = self.sock.recv_into(self.scratch)
                            if got == 0:
                                raise ImapError("connection closed inside a literal")
                            self.nbytes += got
                            if got <= skip:
                                skip -= got
                            else:
                                self.buf += self.scratch[skip:got]
                                skip = 0
                    continue  # the response goes on after the literal
            self.pos = eol + 2
            if self.pos > (1 << 16):
                del self.buf[: self.pos]
                self.pos = 0
            return first, literal

    def command(self, text, on_response=None):
        """Sends one command, reads up to its tagged completion; returns that line. Fails unless OK."""
        tag = self.next_tag()
        self.sock.sendall(tag + b" " + text + b"\r\n")
        return self.wait_tag(tag, text, on_response)

    def wait_tag(self, tag, text=b"", on_response=None):
        prefix = tag + b" "
        while True:
            first, literal = self.read_response()
            if first.startswith(prefix):
                if not first.startswith(prefix + b"OK"):
                    raise ImapError("%s -> %s" % (text[:60].decode(errors="replace"), first.decode(errors="replace")))
                return first
            if on_response is not None:
                on_response(first, literal)

    def login(self, user, password):
        self.command(b"LOGIN " + quote(user) + b" " + quote(password))

    def close(self):
        try:
            self.sock.settimeout(5)
            self.command(b"LOGOUT")
        except (OSError, ImapError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def quote(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# ------------------------------------------------------------------------------- messages
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can out other into "
    "report quarterly meeting agenda invoice shipment delivery schedule project budget review draft "
    "attached please regards thanks update status customer server network backup release version "
    "tomorrow morning afternoon office building contract signature payment account balance summary"
).split()
NAMES = ["Alice Martin", "Bob Schulz", "Carla Rossi", "David Chen", "Eva Novak", "Farid Haddad", "Greta Olsen", "Hugo Silva"]


def make_message(i, size, rnd):
    """A plain-text message of exactly `size` octets (CRLF line ends) with realistic headers."""
    sender = NAMES[i % len(NAMES)]
    local = sender.lower().replace(" ", ".")
    when = time.gmtime(1_700_000_000 + i * 397)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", when)
    subject = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 8))).capitalize()
    head = (
        "Return-Path: <%s@example.org>\r\n"
        "Received: from mail.example.org (mail.example.org [192.0.2.%d])\r\n"
        "\tby mx.bench.test with ESMTPS id %08x\r\n\tfor <bench@bench.test>; %s\r\n"
        "From: %s <%s@example.org>\r\n"
        "To: Bench User <bench@bench.test>\r\n"
        "Subject: %s %d\r\n"
        "Date: %s\r\n"
        "Message-ID: <%08x.%d@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
    ) % (local, 1 + i % 250, rnd.getrandbits(32), date, sender, local, subject, i, date, rnd.getrandbits(32), i)
    out = bytearray(head.encode())
    body_target = max(size, len(out) + 2)
    line = []
    linelen = 0
    while len(out) < body_target:
        w = rnd.choice(WORDS)
        if linelen + len(w) + 1 > 72:
            out += (" ".join(line) + "\r\n").encode()
            line, linelen = [], 0
            if rnd.random() < 0.08:
                out += b"\r\n"
        line.append(w)
        linelen += len(w) + 1
    # cut to the exact size, ending in CRLF, without leaving a bare CR behind
    del out[body_target - 2 :]
    if out.endswith(b"\r"):
        out[-1:] = b"x"
    out += b"\r\n"
    return bytes(out)


# ------------------------------------------------------------------------------- commands
def cmd_probe(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = Conn(a.port, a.plain, timeout=3)
            info = c.tls_info()
            greeting = c.greeting.decode(errors="replace")
            c.close()
            print("PROBE ok %s | %s" % (info, greeting), flush=True)
            return 0
        except (OSError, ImapError, ssl.SSLError) as e:
            last = e
            time.sleep(0.2)
    print("ERROR no IMAP greeting on port %d within %ss: %s" % (a.port, a.timeout, last), flush=True)
    return 1


def cmd_load(a):
    c = Conn(a.port, a.plain)
    c.login(a.user, a.password)
    rnd = random.Random(a.seed)
    msgs = [make_message(i, a.size, rnd) for i in range(a.count)]
    total = sum(len(m) for m in msgs)
    box = a.mailbox.encode()
    if a.mailbox != "INBOX":
        try:
            c.command(b"CREATE " + quote(a.mailbox))
        except ImapError:
            pass  # there already
        box = quote(a.mailbox)
    window = max(1, a.window)
    pending = []
    t0 = time.monotonic()
    for i, m in enumerate(msgs):
        tag = c.next_tag()
        flags = b"(\\Seen) " if i % 3 else b""
        c.sock.sendall(tag + b" APPEND " + box + b" " + flags + b"{%d+}\r\n" % len(m) + m + b"\r\n")
        pending.append(tag)
        if len(pending) >= window:
            c.wait_tag(pending.pop(0), b"APPEND")
    for tag in pending:
        c.wait_tag(tag, b"APPEND")
    secs = time.monotonic() - t0
    exists = []
    c.command(b"EXAMINE " + box, lambda first, lit: first.endswith(b" EXISTS") and exists.append(int(first.split()[1])))
    c.close()
    n = exists[-1] if exists else -1
    print("LOADED messages=%d bytes=%d secs=%.3f rate=%.1f exists=%d" % (a.count, total, secs, a.count / secs, n), flush=True)
    if n != a.count:
        print("ERROR %s holds %d messages after loading %d (was it empty?)" % (a.mailbox, n, a.count), flush=True)
        return 1
    return 0


def cmd_fetch(a):
    c = Conn(a.port, a.plain, timeout=a.timeout)
    c.login(a.user, a.password)
    c.command(b"SELECT INBOX")
    if a.what == "headers":
        text = b"UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (" + HEADER_FIELDS.encode() + b")])"
    else:
        text = b"UID FETCH 1:* (BODY.PEEK[])"
    counts = {"fetch": 0, "literal": 0, "other": 0}

    def on_response(first, literal):
        if first.startswith(b"* ") and b" FETCH " in first[:24]:
            counts["fetch"] += 1
            counts["literal"] += literal
        else:
            counts["other"] += 1

    b0 = c.nbytes
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(a.repeat):
        c.command(text, on_response)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    wire = c.nbytes - b0
    info = c.tls_info()
    c.close()
    print(
        "FETCH what=%s messages=%d bytes=%d literal_bytes=%d secs=%.4f msg_per_s=%.1f mb_per_s=%.2f client_cpu=%.0f%% other=%d tls=%s"
        % (a.what, counts["fetch"], wire, counts["literal"], secs, counts["fetch"] / secs, wire / secs / 1e6,
           100.0 * cpu / secs, counts["other"], info.replace(" ", "/")),
        flush=True,
    )
    if a.expect and counts["fetch"] != a.expect * a.repeat:
        print("ERROR %d FETCH responses, expected %d" % (counts["fetch"], a.expect * a.repeat), flush=True)
        return 1
    return 0


def cmd_search(a):
    """One timed UID SEARCH over the INBOX (already selected, so only the search is timed)."""
    c = Conn(a.port, a.plain, timeout=a.timeout)
    c.login(a.user, a.password)
    c.command(b"SELECT INBOX")
    t0 = time.perf_counter()
    c.command(b"UID SEARCH " + a.key.encode())
    secs = time.perf_counter() - t0
    uids = [int(u) for u in c.last_search]
    # The same search again in the same session (what a mail program's repeated filter does).
    t0 = time.perf_counter()
    c.command(b"UID SEARCH " + a.key.encode())
    again = time.perf_counter() - t0
    c.close()
    # Both servers number the same loaded messages 1..N in order: equal hits and UID sums mean equal answers.
    print("SEARCH key=%s ms=%.1f ms_again=%.1f hits=%d uid_sum=%d" % (a.key.replace(" ", "_"), secs * 1000, again * 1000, len(uids), sum(uids)), flush=True)
    return 0


# ------------------------------------------------------------------------------- idle (asyncio)
class AsyncConn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.n = 0

    async def response_line(self, timeout):
        line = await asyncio.wait_for(self.r.readline(), timeout)
        if not line:
            raise ImapError("connection closed by the server")
        return line

    async def command(self, text, timeout):
        self.n += 1
        tag = b"Zi%d" % self.n
        self.w.write(tag + b" " + text + b"\r\n")
        await self.w.drain()
        seen = []
        while True:
            line = await self.response_line(timeout)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ImapError("%s -> %s" % (text[:40].decode(errors="replace"), line.strip().decode(errors="replace")))
                return seen
            seen.append(line)


async def open_async(port, plain, timeout):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=None if plain else tls_context(), limit=1 << 20), timeout)
    c = AsyncConn(reader, writer)
    greeting = await c.response_line(timeout)
    if not greeting.startswith(b"* OK"):
        raise ImapError("greeting: %r" % greeting[:80])
    return c


async def idle_main(a):
    errors = []
    conns = []
    sem = asyncio.Semaphore(a.batch)
    timeout = 30.0

    async def setup(i):
        async with sem:
            try:
                c = await open_async(a.port, a.plain, timeout)
                await c.command(b"LOGIN " + quote(a.user) + b" " + quote(a.password), timeout)
                await c.command(b"SELECT INBOX", timeout)
                c.w.write(b"Zidle IDLE\r\n")
                await c.w.drain()
                line = await c.response_line(timeout)
                while not line.startswith(b"+"):
                    if line.startswith(b"Zidle "):
                        raise ImapError("IDLE -> %s" % line.strip().decode(errors="replace"))
                    line = await c.response_line(timeout)
                conns.append(c)
            except (OSError, ImapError, asyncio.TimeoutError, ssl.SSLError) as e:
                if len(errors) < 10:
                    errors.append("connection %d: %s" % (i, e or type(e).__name__))
                else:
                    errors.append(None)

    t0 = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(setup(i) for i in range(a.count))), a.setup_timeout)
    setup_secs = time.monotonic() - t0
    print("READY idling=%d of %d failed=%d setup_secs=%.1f" % (len(conns), a.count, len(errors), setup_secs), flush=True)
    for e in errors:
        if e:
            print("ERROR " + e, flush=True)

    # Watch every idle connection for an EXISTS (or for the server closing it).
    got = {}
    closed = [0]

    async def watch(idx, c):
        try:
            while True:
                line = await c.r.readline()
                if not line:
                    closed[0] += 1
                    return
                if line.startswith(b"* ") and line.rstrip().endswith(b" EXISTS"):
                    got.setdefault(idx, time.monotonic())
        except (OSError, ssl.SSLError, ImapError):
            closed[0] += 1

    watchers = [asyncio.ensure_future(watch(i, c)) for i, c in enumerate(conns)]
    await asyncio.sleep(a.hold)
    if a.release_file:  # the caller may still be sampling memory: wait (bounded) for its go
        deadline = time.monotonic() + 120
        while not os.path.exists(a.release_file) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    closed_in_hold = closed[0]

    if a.check_exists and conns:
        # Another connection appends one message; every idle connection should be told.
        msg = make_message(999_999, 2048, random.Random(7))
        try:
            ap = await open_async(a.port, a.plain, timeout)
            await ap.command(b"LOGIN " + quote(a.user) + b" " + quote(a.password), timeout)
            t_append = time.monotonic()
            await ap.command(b"APPEND INBOX {%d+}\r\n" % len(msg) + msg, timeout)
            deadline = time.monotonic() + a.exists_wait
            while len(got) < len(conns) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            first_ms = (min(got.values()) - t_append) * 1000 if got else -1
            last_ms = (max(got.values()) - t_append) * 1000 if got else -1
            sample = "yes" if 0 in got else "no"
            print("EXISTS sample_connection_notified=%s notified=%d of %d first_ms=%.0f last_ms=%.0f wait_s=%g"
                  % (sample, len(got), len(conns), first_ms, last_ms, a.exists_wait), flush=True)
            ap.w.write(b"Zq LOGOUT\r\n")
            ap.w.close()
        except (OSError, ImapError, asyncio.TimeoutError, ssl.SSLError) as e:
            print("ERROR EXISTS check: append failed: %s" % e, flush=True)

    for w in watchers:
        w.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)

    async def finish(c):
        try:
            c.w.write(b"DONE\r\nZz LOGOUT\r\n")
            await c.w.drain()
            while True:
                line = await c.response_line(10)
                if line.startswith(b"Zz "):
                    break
        except (OSError, ImapError, asyncio.TimeoutError, ssl.SSLError):
            pass
        try:
            c.w.close()
        except OSError:
            pass

    await asyncio.wait_for(asyncio.gather(*(finish(c) for c in conns), return_exceptions=True), 60)
    print("DONE closed_by_server_during_hold=%d" % closed_in_hold, flush=True)
    return 0 if not errors else 1


def cmd_idle(a):
    try:
        return asyncio.run(idle_main(a))
    except asyncio.TimeoutError:
        print("ERROR idle: a phase hit its time bound", flush=True)
        return 1


# ------------------------------------------------------------------------------- memory
def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmd_mem(a):
    pids = descendants(a.pid) if a.tree else [a.pid]
    rss = sum(status_kib(p, "VmRSS:") for p in pids)
    pss = sum(pss_kib(p) for p in pids) if a.pss else -1
    print("MEM rss_kib=%d pss_kib=%d processes=%d" % (rss, pss, len(pids)), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def net(sp):
        sp.add_argument("--port", type=int, required=True)
        sp.add_argument("--plain", action="store_true", help="no TLS (default: implicit TLS, no verification)")

    def cred(sp):
        sp.add_argument("--user", required=True)
        sp.add_argument("--password", required=True)

    sp = sub.add_parser("probe")
    net(sp)
    sp.add_argument("--timeout", type=float, default=30)
    sp = sub.add_parser("load")
    net(sp); cred(sp)
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--size", type=int, default=10240)
    sp.add_argument("--window", type=int, default=16, help="APPENDs in flight (LITERAL+ pipelining)")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--mailbox", default="INBOX", help="created first unless INBOX; must be empty")
    sp = sub.add_parser("fetch")
    net(sp); cred(sp)
    sp.add_argument("--what", choices=["headers", "bodies"], required=True)
    sp.add_argument("--expect", type=int, default=0, help="FETCH responses per command")
    sp.add_argument("--repeat", type=int, default=1, help="the same FETCH this many times in the session, timed together")
    sp.add_argument("--timeout", type=float, default=300)
    sp = sub.add_parser("search")
    net(sp); cred(sp)
    sp.add_argument("--key", required=True, help="the search key, e.g. 'SUBJECT invoice'")
    sp.add_argument("--timeout", type=float, default=300)
    sp = sub.add_parser("idle")
    net(sp); cred(sp)
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--hold", type=float, default=10)
    sp.add_argument("--batch", type=int, default=50, help="connections set up concurrently")
    sp.add_argument("--setup-timeout", type=float, default=300)
    sp.add_argument("--check-exists", action="store_true")
    sp.add_argument("--exists-wait", type=float, default=10, help="seconds to wait for every EXISTS")
    sp.add_argument("--release-file", help="after the hold, also wait (up to 120 s) until this file exists")
    sp = sub.add_parser("mem")
    sp.add_argument("--pid", type=int, required=True)
    sp.add_argument("--tree", action="store_true", help="the process and all its descendants")
    sp.add_argument("--pss", action="store_true", help="also sum Pss from smaps_rollup")
    a = p.parse_args()
    if a.cmd in ("load", "fetch", "idle") and getattr(a, "count", 1) is not None and getattr(a, "count", 1) < 0:
        p.error("negative count")
    try:
        return {"probe": cmd_probe, "load": cmd_load, "fetch": cmd_fetch, "search": cmd_search, "idle": cmd_idle, "mem": cmd_mem}[a.cmd](a)
    except (OSError, ImapError, ssl.SSLError) as e:
        print("ERROR %s: %s" % (a.cmd, e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
