#!/usr/bin/env bash
# portal.sh - the pickup portal for outside recipients: open latency (link to rendered page, each load an open the
# Background counts) against /health on the same HTTPS listener, the pages' weight, and the gateway's peak RSS growth
# while a large attachment downloads through the portal against the same message read whole over IMAP by a local
# recipient.
#
#     bench/portal.sh
#     OPENS=500 BIG=20000000 bench/portal.sh
#
# Needs dotnet and python3 (client: bench/portal_bench.py, standard library only; it is also the outside MTA). All
# traffic stays on 127.0.0.1; every wait is bounded; the gateway started here is stopped on exit.
set -euo pipefail

OPENS=${OPENS:-200}               # timed loads of the message page (and of /health)
BIG=${BIG:-50000000}              # bytes of the large attachment (0 skips the memory figures)
ROUNDS=${ROUNDS:-3}               # downloads and FETCHes of it measured (median and least reported)
RUN_TIMEOUT=${RUN_TIMEOUT:-1200}  # bound for the client, seconds
SMTP_PORT=${SMTP_PORT:-16465}
IMAP_PORT=${IMAP_PORT:-16993}
WEB_PORT=${WEB_PORT:-16443}
SINK_PORT=${SINK_PORT:-16025}
KEEP_WORK=${KEEP_WORK:-0}

((OPENS > 0 && OPENS <= 10000)) || { echo "OPENS must be 1..10000" >&2; exit 2; }
((BIG >= 0 && BIG <= 209715200)) || { echo "BIG must be 0..209715200" >&2; exit 2; }

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
CLIENT=$HERE/portal_bench.py
PASSWORD=bench-password-1
log() { echo "[portal-bench] $*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dotnet python3 timeout awk; do command -v "$tool" >/dev/null || die "$tool is missing"; done

source "$HERE/gateway-dll.sh"

WORK=$(mktemp -d /tmp/portal-bench.XXXXXX)
GW_PID=""
cleanup() {
    local rc=$?
    set +e
    if [[ -n $GW_PID ]]; then kill "$GW_PID" 2>/dev/null; sleep 1; kill -9 "$GW_PID" 2>/dev/null; fi
    if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in "$SMTP_PORT" "$IMAP_PORT" "$WEB_PORT" "$SINK_PORT"; do
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && die "127.0.0.1:$p is already in use (set SMTP_PORT/IMAP_PORT/WEB_PORT/SINK_PORT)"
done

DATA=$WORK/data
mkdir -p "$DATA"
GW_ENV=(
    GATEWAY_DATA_DIR="$DATA" Gateway__Hostname=bench.test Gateway__Domains__0=bench.test
    Gateway__Listeners__0__Name=submissions Gateway__Listeners__0__Endpoint=127.0.0.1:$SMTP_PORT
    Gateway__Listeners__0__Role=Submission Gateway__Listeners__0__Tls=Implicit
    Gateway__Listeners__1__Name=imaps Gateway__Listeners__1__Endpoint=127.0.0.1:$IMAP_PORT
    Gateway__Listeners__1__Role=Imap Gateway__Listeners__1__Tls=Implicit
    Gateway__Web__Endpoint=127.0.0.1:$WEB_PORT Gateway__Web__PublicUrl=https://127.0.0.1:$WEB_PORT
    Gateway__Routes__0__Domain=outside.test Gateway__Routes__0__Host=127.0.0.1 Gateway__Routes__0__Port=$SINK_PORT
    Gateway__Courier__Outside=Portal Gateway__Imap__QuotaKilobytes=0 Gateway__Limits__MaxMessageSize=210000000
    Gateway__ShutdownTimeoutSeconds=5 Logging__LogLevel__Default=Warning
)
for user in alice@bench.test bob@bench.test; do
    echo "$PASSWORD" | env "${GW_ENV[@]}" timeout 120 dotnet "$GATEWAY_DLL" user add "$user" --password-stdin \
        >>"$WORK/user-add.log" 2>&1 || { tail "$WORK/user-add.log" >&2; die "user add $user failed"; }
done
env "${GW_ENV[@]}" dotnet "$GATEWAY_DLL" >>"$WORK/gateway.log" 2>&1 &
GW_PID=$!
for _ in $(seq 300); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$WEB_PORT" 2>/dev/null && break; sleep 0.2; done
kill -0 "$GW_PID" 2>/dev/null || { tail -n 5 "$WORK/gateway.log" >&2; die "the gateway did not start"; }
log "gateway $GATEWAY_DLL (pid $GW_PID); $OPENS opens; attachment $BIG bytes; $(nproc) cores"

OUT=$(timeout "$RUN_TIMEOUT" python3 "$CLIENT" --sink-port "$SINK_PORT" --submission-port "$SMTP_PORT" --imaps-port "$IMAP_PORT" \
    --web-port "$WEB_PORT" --pid "$GW_PID" --sender alice@bench.test --local bob@bench.test --password "$PASSWORD" \
    --opens "$OPENS" --big "$BIG" --rounds "$ROUNDS") || { echo "$OUT" >&2; tail -n 20 "$WORK/gateway.log" >&2; die "client failed"; }

field() { sed -n "s/.*\(^\| \)$1=\([^ ]*\).*/\2/p" <<<"$OUT" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b}'; }
kb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1024}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

printf '\n%-34s %10s %10s\n' "latency (ms)" "p50" "p99"
printf '%-34s %10s %10s\n' "portal: link to rendered page" "$(field OPEN_P50_MS)" "$(field OPEN_P99_MS)"
printf '%-34s %10s %10s\n' "/health, same HTTPS listener" "$(field HEALTH_P50_MS)" "$(field HEALTH_P99_MS)"
printf '%-34s %10s %10s\n' "ratio" "$(ratio "$(field OPEN_P50_MS)" "$(field HEALTH_P50_MS)")" "$(ratio "$(field OPEN_P99_MS)" "$(field HEALTH_P99_MS)")"
printf '\npage weight: code page %s KB, message page %s KB (a 20 KB message; no script, no other resource)\n' \
    "$(kb "$(field PROVE_PAGE_BYTES)")" "$(kb "$(field MESSAGE_PAGE_BYTES)")"
if ((BIG > 0)); then
    printf '\n%-44s %12s %12s %12s\n' "peak RSS growth, $BIG-byte attachment" "median MiB" "least MiB" "x message"
    printf '%-44s %12s %12s %12s\n' "portal: attachment download (SHA-256 equal)" "$(mib "$(field PORTAL_GROWTH_KB)")" "$(mib "$(field PORTAL_GROWTH_MIN_KB)")" \
        "$(awk -v k="$(field PORTAL_GROWTH_KB)" -v b="$BIG" 'BEGIN {printf "%.2f", k * 1024 / b}')"
    printf '%-44s %12s %12s %12s\n' "IMAP FETCH BODY[] by a local recipient" "$(mib "$(field IMAP_GROWTH_KB)")" "$(mib "$(field IMAP_GROWTH_MIN_KB)")" \
        "$(awk -v k="$(field IMAP_GROWTH_KB)" -v b="$BIG" 'BEGIN {printf "%.2f", k * 1024 / b}')"
    printf '%-44s %12s\n' "ratio portal / IMAP (medians)" "$(ratio "$(field PORTAL_GROWTH_KB)" "$(field IMAP_GROWTH_KB)")"
fi
echo
echo "Each portal load is a counted open (no max-opens set); /health is the floor of the same TLS/HTTP stack."
