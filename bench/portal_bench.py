#!/usr/bin/env python3
"""portal_bench.py - the pickup portal measured from outside, with the Python standard library only.

Driven by bench/portal.sh, which starts the gateway. This script plays the outside MTA (a small SMTP sink on
127.0.0.1), the sender (SMTP submission over implicit TLS) and the outside recipient (HTTPS with a cookie jar):

  * open latency: the message page behind a proven link, loaded again and again (each load is an open the
    Background counts), against the gateway's /health over the same HTTPS listener (no open, no page);
  * page weight: the bytes of the code page and of the message page;
  * memory: the gateway's peak RSS growth (VmHWM after /proc/PID/clear_refs) while a large attachment is downloaded
    through the portal, against the same message read whole over IMAP by a local recipient (FETCH BODY[]); each
    measured ROUNDS times (the garbage an earlier request left makes one reading noisy): median and least.

Prints KEY=VALUE lines for portal.sh. Every wait is bounded.
"""
import argparse, email, email.policy, hashlib, http.client, imaplib, os, re, smtplib, socket, socketserver, ssl, sys, threading, time
from email.message import EmailMessage

MAIL = []            # (rcpt list, bytes) the sink received
MAIL_LOCK = threading.Lock()


class SinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to take mail from the gateway (no STARTTLS: the portal's notification and code mails go with
    the configured opportunistic TLS)."""

    def handle(self):
        w = lambda s: (self.wfile.write((s + "\r\n").encode()), self.wfile.flush())
        w("220 sink.test ESMTP bench")
        rcpts = []
        while True:
            line = self.rfile.readline(10000)
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            up = cmd.upper()
            if up.startswith(("EHLO", "HELO")):
                w("250-sink.test\r\n250-8BITMIME\r\n250 SIZE 200000000")
            elif up.startswith("MAIL"):
                rcpts = []
                w("250 2.1.0 ok")
            elif up.startswith("RCPT"):
                rcpts.append(cmd)
                w("250 2.1.5 ok")
            elif up == "DATA":
                w("354 go ahead")
                data = bytearray()
                while True:
                    l = self.rfile.readline(1000000)
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data += l[1:] if l.startswith(b"..") else l
                with MAIL_LOCK:
                    MAIL.append((rcpts, bytes(data)))
                w("250 2.0.0 queued")
            elif up == "QUIT":
                w("221 bye")
                return
            else:
                w("250 ok")


def wait_mail(pred, timeout=120, since=0):
    end = time.time() + timeout
    while time.time() < end:
        with MAIL_LOCK:
            for m in MAIL[since:]:
                if pred(m):
                    return m
        time.sleep(0.05)
    raise SystemExit("timed out waiting for mail at the sink")


class Https:
    """One keep-alive HTTPS connection with a cookie jar (as a browser holds one per site)."""

    def __init__(self, port):
        self.port, self.cookies = port, {}
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname, self.ctx.verify_mode = False, ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=self.ctx, timeout=120)

    def request(self, method, path, body=None, sink=None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";")[0]
        if sink is None:
            return r.status, r.read(), r
        total, digest = 0, hashlib.sha256()
        while True:
            chunk = r.read(65536)
            if not chunk:
                break
            total += len(chunk)
            digest.update(chunk)
            sink(total)
        return r.status, (total, digest.hexdigest()), r


def form_of(html):
    return re.search(rb'name="form" value="([^"]+)"', html).group(1).decode()


def rss(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def submit(port, user, password, msg):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=300) as s:
        s.login(user, password)
        s.send_message(msg)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--sink-port", type=int, required=True)
    a.add_argument("--submission-port", type=int, required=True)
    a.add_argument("--imaps-port", type=int, required=True)
    a.add_argument("--web-port", type=int, required=True)
    a.add_argument("--pid", type=int, required=True)
    a.add_argument("--sender", required=True)
    a.add_argument("--local", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--opens", type=int, default=200)
    a.add_argument("--big", type=int, default=50_000_000)
    a.add_argument("--rounds", type=int, default=3)
    o = a.parse_args()

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    sink = socketserver.ThreadingTCPServer(("127.0.0.1", o.sink_port), SinkHandler)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()

    # A message of everyday size: text and HTML, about 20 KB.
    small = EmailMessage()
    small["From"], small["To"], small["Subject"] = o.sender, "carol@outside.test", "Portal bench"
    small.set_content("Hello Carol,\n\n" + ("A line of an everyday message body.\n" * 500))
    small.add_alternative("<p>Hello Carol,</p>" + ("<p>A line of an everyday message body.</p>" * 300), subtype="html")
    submit(o.submission_port, o.sender, o.password, small)
    note = wait_mail(lambda m: b"/pickup/" in m[1] and b"carol@outside.test" in b"".join(x.encode() for x in m[0]))
    text = email.message_from_bytes(note[1], policy=email.policy.default).get_body(("plain",)).get_content()
    path = "/pickup/" + re.search(r"/pickup/([A-Za-z0-9_-]+)", text).group(1)

    web = Https(o.web_port)
    status, prove, _ = web.request("GET", path)
    assert status == 200 and b"Prove your address" in prove, status
    status, _, _ = web.request("POST", path + "/code", "form=" + form_of(prove))
    assert status == 303, status
    code_mail = wait_mail(lambda m: b"Your code to open" in m[1])
    code = re.search(rb"\b(\d{8})\b", email.message_from_bytes(code_mail[1], policy=email.policy.default).get_body(("plain",)).get_content().encode()).group(1).decode()
    status, _, _ = web.request("POST", path + "/verify", f"form={form_of(prove)}&code={code}")
    assert status == 303, status

    # Open latency: link to rendered page, each load a counted open; /health on the same listener as the floor.
    for _ in range(5):
        web.request("GET", path)
        web.request("GET", "/health")
    opens, health = [], []
    page = b""
    for _ in range(o.opens):
        t = time.perf_counter()
        status, page, _ = web.request("GET", path)
        opens.append((time.perf_counter() - t) * 1000)
        assert status == 200 and b"A line of an everyday" in page, status
        t = time.perf_counter()
        web.request("GET", "/health")
        health.append((time.perf_counter() - t) * 1000)
    print(f"OPEN_P50_MS={percentile(opens, 50):.2f} OPEN_P99_MS={percentile(opens, 99):.2f} "
          f"HEALTH_P50_MS={percentile(health, 50):.2f} HEALTH_P99_MS={percentile(health, 99):.2f} OPENS={len(opens)}")
    print(f"PROVE_PAGE_BYTES={len(prove)} MESSAGE_PAGE_BYTES={len(page)}")

    if o.big <= 0:
        return
    # A large attachment, to the outside recipient and to a local user (who reads it over IMAP).
    blob = os.urandom(o.big)
    big = EmailMessage()
    big["From"], big["To"], big["Subject"] = o.sender, f"carol@outside.test, {o.local}", "Portal bench, large"
    big.set_content("The file is attached.\n")
    big.add_attachment(blob, maintype="application", subtype="octet-stream", filename="big.bin")
    with MAIL_LOCK:
        since = len(MAIL)
    submit(o.submission_port, o.sender, o.password, big)
    note = wait_mail(lambda m: b"/pickup/" in m[1], timeout=600, since=since)
    text = email.message_from_bytes(note[1], policy=email.policy.default).get_body(("plain",)).get_content()
    big_path = "/pickup/" + re.search(r"/pickup/([A-Za-z0-9_-]+)", text).group(1)
    deadline = time.time() + 600
    while True:
        status, page, _ = web.request("GET", big_path)
        if b"big.bin" in page or time.time() > deadline:
            break
        time.sleep(1)
    assert b"big.bin" in page, page[:300]
    part = re.search(rb'href="(/pickup/[^"]+/part/\d+\?view=[^"]+)">big.bin', page).group(1).decode().replace("&amp;", "&")
    growth = []
    for _ in range(o.rounds):
        time.sleep(3)
        before = rss(o.pid, "VmRSS")
        reset_peak(o.pid)
        status, (size, digest), _ = web.request("GET", part, sink=lambda n: None)
        growth.append(rss(o.pid, "VmHWM") - before)
        assert status == 200 and size == len(blob) and digest == hashlib.sha256(blob).hexdigest(), (status, size)
    print(f"PORTAL_DOWNLOAD_BYTES={size} PORTAL_GROWTH_KB={percentile(growth, 50)} PORTAL_GROWTH_MIN_KB={min(growth)} SHA256_MATCH=1")

    # The same message read whole over IMAP by the local recipient.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    imap = imaplib.IMAP4_SSL("127.0.0.1", o.imaps_port, ssl_context=ctx)
    imap.login(o.local, o.password)
    deadline = time.time() + 600
    while True:
        imap.select("INBOX")
        typ, data = imap.search(None, "LARGER", str(o.big // 2))
        if data[0] or time.time() > deadline:
            break
        time.sleep(1)
    uid = data[0].split()[-1]
    growth = []
    for _ in range(o.rounds):
        time.sleep(3)
        before = rss(o.pid, "VmRSS")
        reset_peak(o.pid)
        typ, fetched = imap.fetch(uid, "(BODY[])")
        growth.append(rss(o.pid, "VmHWM") - before)
    imap.logout()
    print(f"IMAP_FETCH_BYTES={len(fetched[0][1])} IMAP_GROWTH_KB={percentile(growth, 50)} IMAP_GROWTH_MIN_KB={min(growth)}")

if __name__ == "__main__":
    main()
