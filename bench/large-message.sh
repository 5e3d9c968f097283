#!/usr/bin/env bash
# large-message.sh - one large message (default 50 MB) end to end: accepted on the delivery listener, queued with
# fsync, relayed to an smtp-sink; the gateway's resident memory is sampled every 50 ms the whole way, and so is a
# private Postfix instance's (master and all its children) doing the same work in the same run. A streaming server's
# memory does not grow with the message.
#
#   sudo bench/large-message.sh                   # 50 MB, 3 messages per server
#   sudo SIZE_MB=100 COUNT=1 bench/large-message.sh
#   sudo WARMUP_KB=0 bench/large-message.sh       # cold: no warm-up message first
#
# Before the measured messages each server gets one small message (WARMUP_KB, default 1024) over the same path, so
# that what is measured is what the large message costs, not the first use of the path (code loaded and compiled in
# the gateway, processes started by Postfix's master); WARMUP_KB=0 measures cold, as earlier versions of this did.
set -euo pipefail
SIZE_MB=${SIZE_MB:-50}
COUNT=${COUNT:-3}
WARMUP_KB=${WARMUP_KB:-1024}
GW_PORT=${GW_PORT:-12625}; GW_SINK_PORT=${GW_SINK_PORT:-12626}; PF_PORT=${PF_PORT:-12627}; PF_SINK_PORT=${PF_SINK_PORT:-12628}
GW_WEB_PORT=${GW_WEB_PORT:-12629}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
POSTFIX_INSTANCE=$REPO/Gateway.Tests/scripts/postfix-instance.sh
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (private Postfix instance)"
for tool in smtp-source smtp-sink postfix dotnet; do command -v "$tool" >/dev/null || die "$tool not found"; done
source "$HERE/gateway-dll.sh"

WORK=$(mktemp -d /tmp/gateway-large.XXXXXX)
chmod 0755 "$WORK"
PIDS=()
PF_DIR=$WORK/postfix
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    "$POSTFIX_INSTANCE" stop "$PF_DIR" >/dev/null 2>&1
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    cd / && rm -rf "$WORK"
}
trap cleanup EXIT

bytes=$((SIZE_MB * 1024 * 1024))
limit=$((bytes + 10 * 1024 * 1024))
wait_greeting() { for _ in $(seq 300); do timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; IFS= read -r -t 2 l <&3; [[ \$l == 220* ]]" 2>/dev/null && return 0; sleep 0.2; done; return 1; }
sink() { smtp-sink -c -u root "127.0.0.1:$1" 64 >"$2" 2>&1 & PIDS+=($!); wait_greeting "$1" || die "smtp-sink on $1 did not start"; }
rss() { local total=0 p; for p in "$@"; do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$total"; }
tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }

sink "$GW_SINK_PORT" "$WORK/gw-sink.log"
cat >"$WORK/gateway.json" <<JSON
{ "Gateway": { "Hostname": "gateway.bench.test", "Domains": ["bench.test"],
  "Listeners": [ { "Name": "delivery", "Endpoint": "127.0.0.1:$GW_PORT", "Role": "Delivery", "Tls": "StartTls" } ],
  "Limits": { "MaxMessageSize": $limit },
  "Delivery": { "Tls": "None", "FirstRetrySeconds": 2, "MaxRetrySeconds": 10 },
  "Routes": [ { "Domain": "bench.test", "Host": "127.0.0.1", "Port": $GW_SINK_PORT } ], "Web": { "Endpoint": "127.0.0.1:$GW_WEB_PORT" } } }
JSON
GATEWAY_DATA_DIR=$WORK/gateway-data Logging__LogLevel__Default=Warning dotnet "$GATEWAY_DLL" --config "$WORK/gateway.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!; PIDS+=("$GW_PID")
wait_greeting "$GW_PORT" || die "the gateway did not start"
sink "$PF_SINK_PORT" "$WORK/pf-sink.log"
"$POSTFIX_INSTANCE" start "$PF_DIR" "$PF_PORT" "127.0.0.1:$PF_SINK_PORT" >&2
PF_MASTER=$(tr -dc '0-9' <"$PF_DIR/queue/pid/master.pid")

queue_files() { find "$1" -type f 2>/dev/null | wc -l; }
# warm_up NAME PORT QUEUE-DIR: one small message over the same path, then waits for the queue to drain.
warm_up() {
    ((WARMUP_KB > 0)) || return 0
    smtp-source -l $((WARMUP_KB * 1024)) -m 1 -s 1 -f bench@example.org -t user@bench.test "127.0.0.1:$2" >/dev/null || die "$1: warm-up failed"
    for _ in $(seq 600); do (($(queue_files "$3") == 0)) && break; sleep 0.1; done
}
# measure NAME PORT PIDS-FUNCTION QUEUE-DIR: sends COUNT messages one after another, waits for the queue to drain;
# prints "NAME before peak after seconds" (KiB, KiB, KiB, s).
measure() {
    local name=$1 port=$2 pids=$3 queue=$4 before peak=0 now start
    sleep 2
    before=$(rss $($pids))
    start=$(date +%s.%N)
    ( for _ in $(seq "$COUNT"); do smtp-source -l "$bytes" -m 1 -s 1 -f bench@example.org -t user@bench.test "127.0.0.1:$port" >/dev/null || exit 1; done ) &
    local sender=$!
    while kill -0 "$sender" 2>/dev/null || (($(queue_files "$queue") > 0)); do
        now=$(rss $($pids)); ((now > peak)) && peak=$now
        sleep 0.05
    done
    wait "$sender" || die "$name: smtp-source failed"
    local took; took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    sleep 1
    echo "$name $before $peak $(rss $($pids)) $took"
}
gw_pids() { echo "$GW_PID"; }
pf_pids() { tree "$PF_MASTER"; }
# The gateway's managed allocations (its /metrics), to tell what the collector's budget fills with.
allocated() { curl -sk "https://127.0.0.1:$GW_WEB_PORT/metrics" | awk '/^gateway_process_allocated_bytes / { printf "%.0f", $2 }'; }
log "gateway: $COUNT x $SIZE_MB MB"
warm_up gateway "$GW_PORT" "$WORK/gateway-data/queue/messages"
alloc_before=$(allocated)
gw=$(measure gateway "$GW_PORT" gw_pids "$WORK/gateway-data/queue/messages")
alloc_after=$(allocated)
log "postfix: $COUNT x $SIZE_MB MB"
warm_up postfix "$PF_PORT" "$PF_DIR/queue/active"
pf=$(measure postfix "$PF_PORT" pf_pids "$PF_DIR/queue/active")
received() { tr '\r' '\n' <"$1" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0; }
echo "messages the sinks received: behind the gateway $(received "$WORK/gw-sink.log"), behind Postfix $(received "$WORK/pf-sink.log") (of $COUNT each)"
for line in "$gw" "$pf"; do
    awk -v c="$COUNT" -v mb="$SIZE_MB" '{ printf "%-8s %d x %d MB end to end in %5.1f s: RSS before %6.1f MiB, peak %6.1f MiB (+%5.1f MiB), after %6.1f MiB\n", $1, c, mb, $5, $2/1024, $3/1024, ($3-$2)/1024, $4/1024 }' <<<"$line"
done
awk -v a="$alloc_before" -v b="$alloc_after" -v c="$COUNT" -v mb="$SIZE_MB" \
    'BEGIN { printf "gateway managed allocations: %.1f MiB per message of %d MB (%.2f bytes allocated per byte of message)\n", (b - a) / c / 1048576, mb, (b - a) / c / (mb * 1048576) }'
