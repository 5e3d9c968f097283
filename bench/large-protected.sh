#!/usr/bin/env bash
# large-protected.sh - one large message (default 50 MB) from one local user to another, end to end: submitted over
# SMTPS, protected by the courier (Agent split, Foreground re-wrap, stored), then read back whole over IMAPS and
# compared. The gateway's resident memory is sampled every 50 ms and its managed allocations read from /metrics.
# The peer, measured in the same run, is the same gateway with Courier:Split off (the message stored as submitted).
#
#   bench/large-protected.sh
#   SIZE_MB=20 bench/large-protected.sh
#   CONCURRENT=4 SIZE_MB=20 bench/large-protected.sh    # four messages submitted at once
#
# Needs dotnet, python3 and curl. All traffic stays on 127.0.0.1; the gateways started here are stopped on exit.
set -euo pipefail
SIZE_MB=${SIZE_MB:-50}
CONCURRENT=${CONCURRENT:-1}
SMTP_PORT=${SMTP_PORT:-16465}; IMAP_PORT=${IMAP_PORT:-16993}; WEB_PORT=${WEB_PORT:-16443}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
PASSWORD=bench-password-1
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
((SIZE_MB >= 1 && SIZE_MB <= 90)) || die "SIZE_MB must be 1..90"
((CONCURRENT >= 1 && CONCURRENT <= 8)) || die "CONCURRENT must be 1..8"
for tool in dotnet python3 curl; do command -v "$tool" >/dev/null || die "$tool not found"; done
source "$HERE/gateway-dll.sh"

WORK=$(mktemp -d /tmp/gateway-large-protected.XXXXXX)
GW_PID=""
cleanup() {
    set +e
    if [[ -n $GW_PID ]]; then kill "$GW_PID" 2>/dev/null; sleep 1; kill -9 "$GW_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/client.py" <<'PY'
import hashlib, imaplib, smtplib, ssl, sys, time
mode, smtp_port, imap_port, password, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
line = b"x" * 76 + b"\r\n"
body = b"From: <alice@bench.test>\r\nTo: <bob@bench.test>\r\nSubject: large %d\r\n\r\n" % size + line * (size // 78)
if mode == "send":
    with smtplib.SMTP_SSL("127.0.0.1", smtp_port, context=ctx, timeout=300) as s:
        s.login("alice@bench.test", password)
        s.sendmail("alice@bench.test", ["bob@bench.test"], body)
elif mode == "wait":  # until bob's INBOX holds COUNT messages (argument 6), bounded
    deadline = time.time() + 600
    while time.time() < deadline:
        with imaplib.IMAP4_SSL("127.0.0.1", imap_port, ssl_context=ctx) as m:
            m.login("bob@bench.test", password)
            typ, data = m.select("INBOX", readonly=True)
            if int(data[0]) >= int(sys.argv[6]): sys.exit(0)
        time.sleep(0.5)
    sys.exit("the message did not arrive")
elif mode == "read":  # the newest message, whole, compared with what was sent
    with imaplib.IMAP4_SSL("127.0.0.1", imap_port, ssl_context=ctx) as m:
        m.login("bob@bench.test", password)
        typ, data = m.select("INBOX")
        typ, fetched = m.fetch(data[0], "(BODY.PEEK[])")
        got = fetched[0][1]
        if not got.endswith(body[body.index(b"\r\n\r\n"):]): sys.exit("the message read back differs from the one sent")
PY

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$GW_PID/status" 2>/dev/null || echo 0; }
allocated() { curl -sk "https://127.0.0.1:$WEB_PORT/metrics" | awk '/^gateway_process_allocated_bytes / { printf "%.0f", $2 }'; }
# sampled CMD...: runs CMD while sampling the gateway's RSS; prints the peak (KiB).
sampled() {
    local peak=0 now; "$@" & local pid=$!
    while kill -0 "$pid" 2>/dev/null; do now=$(rss); ((now > peak)) && peak=$now; sleep 0.05; done
    wait "$pid" || die "$*: failed"
    echo "$peak"
}

run_mode() { # run_mode SPLIT -> "before peak_protect after_protect alloc_protect peak_read seconds"
    local split=$1 data=$WORK/data-$1
    local env=(GATEWAY_DATA_DIR="$data" Gateway__Hostname=bench.test Gateway__Domains__0=bench.test
        Gateway__Listeners__0__Name=submissions Gateway__Listeners__0__Endpoint=127.0.0.1:$SMTP_PORT
        Gateway__Listeners__0__Role=Submission Gateway__Listeners__0__Tls=Implicit
        Gateway__Listeners__1__Name=imaps Gateway__Listeners__1__Endpoint=127.0.0.1:$IMAP_PORT
        Gateway__Listeners__1__Role=Imap Gateway__Listeners__1__Tls=Implicit
        Gateway__Web__Endpoint=127.0.0.1:$WEB_PORT Gateway__Imap__QuotaKilobytes=0
        Gateway__Limits__MaxMessageSize=$(((SIZE_MB + 10) * 1024 * 1024))
        Gateway__Courier__Split="$split" Gateway__ShutdownTimeoutSeconds=5 Logging__LogLevel__Default=Warning)
    for user in alice@bench.test bob@bench.test; do
        echo "$PASSWORD" | env "${env[@]}" timeout 120 dotnet "$GATEWAY_DLL" user add "$user" --password-stdin >>"$WORK/user-add.log" 2>&1 \
            || die "user add $user failed"
    done
    env "${env[@]}" dotnet "$GATEWAY_DLL" >>"$WORK/gateway-$split.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 300); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IMAP_PORT" 2>/dev/null && break; sleep 0.2; done
    kill -0 "$GW_PID" 2>/dev/null || die "the gateway did not start (split=$split)"
    # Warm-up: one 1 MB message over the same path, read back.
    python3 "$WORK/client.py" send "$SMTP_PORT" "$IMAP_PORT" "$PASSWORD" 1048576 && python3 "$WORK/client.py" wait "$SMTP_PORT" "$IMAP_PORT" "$PASSWORD" 1048576 1 \
        && python3 "$WORK/client.py" read "$SMTP_PORT" "$IMAP_PORT" "$PASSWORD" 1048576 || die "warm-up failed (split=$split)"
    sleep 2
    local before a0 start peak_protect after a1 peak_read seconds
    before=$(rss); a0=$(allocated); start=$(date +%s.%N)
    peak_protect=$(sampled bash -c "for i in \$(seq $CONCURRENT); do python3 '$WORK/client.py' send $SMTP_PORT $IMAP_PORT $PASSWORD $((SIZE_MB * 1048576)) & done; wait \
        && python3 '$WORK/client.py' wait $SMTP_PORT $IMAP_PORT $PASSWORD $((SIZE_MB * 1048576)) $((CONCURRENT + 1))")
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    sleep 2; after=$(rss); a1=$(allocated)
    peak_read=$(sampled python3 "$WORK/client.py" read "$SMTP_PORT" "$IMAP_PORT" "$PASSWORD" $((SIZE_MB * 1048576)))
    kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
    echo "$before $peak_protect $after $(((a1 - a0) / 1048576)) $peak_read $seconds"
}

log "split: $CONCURRENT x $SIZE_MB MB alice -> bob at once, protected, then one read over IMAPS"
split=$(run_mode true)
log "no split (the peer): the same message stored as submitted"
plain=$(run_mode false)
printf '\n%-9s %10s %14s %12s %12s %16s %14s\n' mode "RSS before" "peak (submit" "after" "allocated" "peak (reading" "submit -> in"
printf '%-9s %10s %14s %12s %12s %16s %14s\n' "" "" "-> stored)" "" "(to stored)" "it back)" "INBOX"
for pair in "split $split" "no-split $plain"; do
    read -r name b p a al r s <<<"$pair"
    printf '%-9s %7.0f MiB %10.0f MiB %8.0f MiB %8d MiB %12.0f MiB %12s s\n' "$name" "$((b / 1024))" "$((p / 1024))" "$((a / 1024))" "$al" "$((r / 1024))" "$s"
done
read -r b1 p1 _ al1 r1 _ <<<"$split"; read -r b2 p2 _ al2 r2 _ <<<"$plain"
awk -v a="$((p1 - b1))" -v b="$((p2 - b2))" -v c="$al1" -v d="$al2" -v mb="$((SIZE_MB * CONCURRENT))" \
    'BEGIN { printf "\nRSS growth to stored: split +%.0f MiB, no split +%.0f MiB; allocated per byte of message: split %.1f, no split %.1f\n", a/1024, b/1024, c/mb, d/mb }'
