#!/usr/bin/env python3
"""split_bench.py - end-to-end latency and throughput of the gateway's mail path: submit over SMTPS
(AUTH PLAIN), then poll the recipients' INBOXes over IMAPS until each message can be opened (a
full-body FETCH returns the original, not a placeholder). Standard library only.

    split_bench.py --smtp-port P --imap-port P --sender A --recipients B,C --password PW \
                   --messages N --concurrency C --size BYTES

Prints one line: RESULT messages=N recipients=R seconds=S rate=MSG_PER_S p50_ms=.. p99_ms=.. max_ms=.. unopened=K
Latency of a message = from the start of its SMTP transaction to the moment the last of its
recipients could open it. Every wait is bounded (--timeout)."""
import argparse, imaplib, re, smtplib, ssl, sys, threading, time, uuid

def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--sender", required=True)
    p.add_argument("--recipients", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--dump", action="store_true", help="print each message's latency (ms) to stderr, in order")
    p.add_argument("--sequential", action="store_true",
                   help="one message at a time: the next is submitted when every recipient could open the last (latency without queueing)")
    return p.parse_args()

def context():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c

def message(sender, recipients, tag, size):
    head = (f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: bench {tag}\r\n"
            f"Message-ID: <{tag}@bench.test>\r\nX-Bench-Id: {tag}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    line = ("bench payload " + tag + " ").ljust(76, "x") + "\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body

def main():
    a = parse()
    recipients = a.recipients.split(",")
    started = {}          # tag -> start time
    opened = {}           # (tag, recipient) -> time
    lock = threading.Lock()
    done_submitting = threading.Event()
    deadline = time.monotonic() + a.timeout
    tags = [uuid.uuid4().hex[:16] for _ in range(a.messages)]
    errors = []
    ready = threading.Semaphore(0)

    def watcher(user):
        imap = imaplib.IMAP4_SSL("127.0.0.1", a.imap_port, ssl_context=context())
        imap.login(user, a.password)
        imap.select("INBOX")
        # Only messages from this run: start after what the mailbox already holds.
        typ, data = imap.status("INBOX", "(UIDNEXT)")
        seen_uid = int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1)) - 1
        pending = {}      # uid -> attempts; uids whose body was not openable yet
        ready.release()
        try:
            while time.monotonic() < deadline:
                with lock:
                    if done_submitting.is_set() and sum(1 for t in tags if (t, user) in opened) == len(tags):
                        return
                imap.noop()
                typ, data = imap.uid("SEARCH", None, f"UID {seen_uid + 1}:*")
                for uid in (int(x) for x in data[0].split()):
                    if uid > seen_uid:
                        pending[uid] = 0
                        seen_uid = max(seen_uid, uid)
                for uid in sorted(pending):
                    typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
                    body = b"".join(part[1] for part in data if isinstance(part, tuple))
                    m = re.search(rb"X-Bench-Id: ([0-9a-f]{16})", body)
                    if m and b"bench payload" in body:
                        with lock:
                            opened.setdefault((m.group(1).decode(), user), time.monotonic())
                        del pending[uid]
                time.sleep(0.002 if a.sequential else 0.01)
        finally:
            try: imap.logout()
            except Exception: pass

    def submitter(share):
        smtp = smtplib.SMTP_SSL("127.0.0.1", a.smtp_port, context=context(), timeout=120)
        smtp.login(a.sender, a.password)
        try:
            for tag in share:
                text = message(a.sender, recipients, tag, a.size)
                with lock:
                    started[tag] = time.monotonic()
                smtp.sendmail(a.sender, recipients, text)
                while a.sequential and time.monotonic() < deadline:
                    with lock:
                        if all((tag, r) in opened for r in recipients):
                            break
                    time.sleep(0.002)
        except Exception as e:
            errors.append(repr(e))
        finally:
            try: smtp.quit()
            except Exception: pass

    watchers = [threading.Thread(target=watcher, args=(r,), daemon=True) for r in recipients]
    for w in watchers: w.start()
    for _ in watchers:   # every watcher logged in and knows where this run's messages start
        if not ready.acquire(timeout=max(1, deadline - time.monotonic())):
            print("ERROR a watcher did not log in", file=sys.stderr)
            return 1
    t0 = time.monotonic()
    shares = [tags] if a.sequential else [tags[i::a.concurrency] for i in range(a.concurrency)]
    submitters = [threading.Thread(target=submitter, args=(s,), daemon=True) for s in shares]
    for s in submitters: s.start()
    for s in submitters: s.join(max(1, deadline - time.monotonic()))
    done_submitting.set()
    for w in watchers: w.join(max(1, deadline - time.monotonic()))
    t1 = max([v for v in opened.values()] or [time.monotonic()])

    latencies, unopened = [], 0
    for tag in tags:
        times = [opened.get((tag, r)) for r in recipients]
        if tag not in started or any(t is None for t in times):
            unopened += 1
            continue
        latencies.append((max(times) - started[tag]) * 1000)
    if a.dump:
        for tag in tags:
            times = [opened.get((tag, r)) for r in recipients]
            if tag in started and all(t is not None for t in times):
                print(f"{tag} {(max(times) - started[tag]) * 1000:.0f}", file=sys.stderr)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(f"RESULT messages={a.messages} recipients={len(recipients)} seconds={t1 - t0:.2f} "
          f"rate={len(latencies) / (t1 - t0):.1f} p50_ms={pct(0.50):.0f} p99_ms={pct(0.99):.0f} "
          f"max_ms={(latencies[-1] if latencies else float('nan')):.0f} unopened={unopened}")
    for e in errors[:5]: print("ERROR", e, file=sys.stderr)
    return 0 if unopened == 0 and not errors else 1

if __name__ == "__main__":
    sys.exit(main())
