#!/usr/bin/env python3
"""A scripted session with Python's imaplib against an IMAP server over implicit TLS.

Usage: imaplib-session.py PORT USER PASSWORD
Prints one "key: value" line per step; the test reads them. The certificate is not checked (a test CA)."""
import imaplib
import ssl
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
print("capability:", " ".join(c.decode() if isinstance(c, bytes) else c for c in m.capabilities))
print("login:", m.login(user, password)[0])
typ, boxes = m.list()
print("list:", typ, "|".join(b.decode() for b in boxes))
message = b"From: Python <py@example.org>\r\nTo: " + user.encode() + b"\r\nSubject: from imaplib\r\n\r\nHello from Python.\r\n"
typ, data = m.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1767225600), message)
print("append:", typ, data[0].decode())
typ, data = m.select("INBOX")
print("select:", typ, data[0].decode())
typ, data = m.search(None, "SUBJECT", '"from imaplib"')
print("search:", typ, data[0].decode())
number = data[0].split()[-1]
typ, data = m.fetch(number, "(RFC822)")
print("fetch-exact:", data[0][1] == message)
typ, data = m.fetch(number, "(FLAGS)")
print("flags:", data[0].decode())
typ, data = m.store(number, "+FLAGS", "(\\Deleted)")
print("store:", typ)
typ, data = m.expunge()
print("expunge:", typ, b" ".join(d for d in data if d).decode())
print("logout:", m.logout()[0])
