#!/usr/bin/env bash
# smtp-throughput.sh - Gateway vs. Postfix acceptance rate, and Gateway RSS with idle connections.
#
# Run as root (Postfix instance, binding to 127.0.0.x source addresses):
#     bench/smtp-throughput.sh
#     MESSAGES=500 GATEWAY_DLL=/path/to/gateway.dll bench/smtp-throughput.sh
#
# See bench/README.md for what is measured and the knobs (environment variables).
# All traffic stays on 127.0.0.0/8. Every run is bounded in count and time; everything
# started here (gateway, smtp-sinks, Postfix instance, idle clients) is stopped on exit.
set -euo pipefail

MESSAGES=${MESSAGES:-2000}          # timed messages per server
WARMUP=${WARMUP:-200}               # untimed warm-up messages per server
ROUNDS=${ROUNDS:-3}                 # timed runs per server (alternating); the median is reported
SESSIONS=${SESSIONS:-20}            # parallel smtp-source sessions
SIZE=${SIZE:-10240}                 # message payload in bytes
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
IDLE_HOLD=${IDLE_HOLD:-10}          # seconds the idle connections are held
RUN_TIMEOUT=${RUN_TIMEOUT:-600}     # upper bound for one smtp-source run, seconds
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-180} # upper bound for a queue to drain, seconds
GW_PORT=${GW_PORT:-12525}           # gateway delivery listener
GW_SINK_PORT=${GW_SINK_PORT:-12526} # smtp-sink behind the gateway
PF_PORT=${PF_PORT:-12527}           # postfix smtpd
PF_SINK_PORT=${PF_SINK_PORT:-12528} # smtp-sink behind postfix
KEEP_WORK=${KEEP_WORK:-0}           # 1: keep the work directory (logs) after the run

((MESSAGES > 0 && MESSAGES <= 1000000)) || { echo "MESSAGES out of range" >&2; exit 2; }
((ROUNDS > 0 && ROUNDS <= 20)) || { echo "ROUNDS must be 1..20" >&2; exit 2; }
((WARMUP > 0 && WARMUP <= 100000)) || { echo "WARMUP must be 1..100000" >&2; exit 2; }
((IDLE_CONNECTIONS >= 0 && IDLE_CONNECTIONS <= 1000)) || { echo "IDLE_CONNECTIONS must be 0..1000" >&2; exit 2; }
((IDLE_HOLD > 0 && IDLE_HOLD <= 60)) || { echo "IDLE_HOLD must be 1..60" >&2; exit 2; }

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
POSTFIX_INSTANCE=$REPO/Gateway.Tests/scripts/postfix-instance.sh
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (private Postfix instance)"
for tool in smtp-source smtp-sink postfix dotnet python3 timeout; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x $POSTFIX_INSTANCE ]] || die "$POSTFIX_INSTANCE missing or not executable"

# ---------------------------------------------------------------- gateway binary
if [[ -n ${GATEWAY_DLL:-} ]]; then
    [[ -f $GATEWAY_DLL ]] || die "GATEWAY_DLL=$GATEWAY_DLL does not exist"
else
    GATEWAY_DLL=$REPO/Gateway/bin/Release/net10.0/gateway.dll
    if [[ ! -f $GATEWAY_DLL ]]; then
        log "building $GATEWAY_DLL"
        dotnet build -c Release "$REPO/Gateway/Gateway.csproj" >&2 || die "build failed"
    fi
fi

# ---------------------------------------------------------------- limits, work dir, cleanup
want_fds=$((IDLE_CONNECTIONS + 1024))
if (($(ulimit -n) < want_fds)); then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
(($(ulimit -n) >= want_fds)) || log "warning: ulimit -n is $(ulimit -n); idle-connection test may fall short"

WORK=$(mktemp -d /tmp/gateway-bench.XXXXXX)
chmod 0755 "$WORK"   # the Postfix instance's delivery user must be able to traverse it
cd "$WORK"

PIDS=()
PF_DIR=$WORK/postfix
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    "$POSTFIX_INSTANCE" stop "$PF_DIR" >/dev/null 2>&1
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then
        log "work directory kept: $WORK"
    else
        cd / && rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
for p in "$GW_PORT" "$GW_SINK_PORT" "$PF_PORT" "$PF_SINK_PORT"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (set GW_PORT/GW_SINK_PORT/PF_PORT/PF_SINK_PORT)"
done

# Waits (bounded) for a 220 greeting on a port.
wait_for_greeting() {
    local port=$1 limit=$2 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if timeout 3 bash -c '
                exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
                IFS= read -r -t 2 line <&3 || exit 1
                printf "QUIT\r\n" >&3
                [[ $line == 220* ]]' 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# smtp-sink -c writes "sess=N quit=N mesg=N" counters separated by CR; print the last mesg.
sink_count() {
    tr '\r' '\n' <"$1" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0
}

start_sink() { # port logfile
    smtp-sink -c -u root "127.0.0.1:$1" 256 >"$2" 2>&1 &
    PIDS+=($!)
    wait_for_greeting "$1" 10 || die "smtp-sink on $1 did not start"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# ---------------------------------------------------------------- gateway
start_sink "$GW_SINK_PORT" "$WORK/gw-sink.out"

cat >"$WORK/gateway.json" <<EOF
{
  "Gateway": {
    "Hostname": "gateway.bench.test",
    "Domains": ["bench.test"],
    "Listeners": [
      { "Name": "delivery", "Endpoint": "127.0.0.1:$GW_PORT", "Role": "Delivery", "Tls": "StartTls" }
    ],
    "Limits": { "MaxConnections": 5000, "MaxConnectionsPerAddress": 50 },
    "Delivery": { "Tls": "None", "ConcurrentDeliveries": 16, "FirstRetrySeconds": 2, "MaxRetrySeconds": 10 },
    "Routes": [ { "Domain": "bench.test", "Host": "127.0.0.1", "Port": $GW_SINK_PORT } ]
  }
}
EOF
log "starting gateway: dotnet $GATEWAY_DLL"
GATEWAY_DATA_DIR=$WORK/gateway-data Logging__LogLevel__Default=Warning \
    dotnet "$GATEWAY_DLL" --config "$WORK/gateway.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
if ! wait_for_greeting "$GW_PORT" 60; then
    tail -n 30 "$WORK/gateway.log" >&2
    die "gateway did not greet on 127.0.0.1:$GW_PORT within 60s"
fi

# ---------------------------------------------------------------- postfix
start_sink "$PF_SINK_PORT" "$WORK/pf-sink.out"
"$POSTFIX_INSTANCE" start "$PF_DIR" "$PF_PORT" "127.0.0.1:$PF_SINK_PORT" >&2

gw_queue_count() { find "$WORK/gateway-data/queue" -type f 2>/dev/null | wc -l; }
pf_queue_count() {
    find "$PF_DIR/queue/maildrop" "$PF_DIR/queue/incoming" "$PF_DIR/queue/active" \
        "$PF_DIR/queue/deferred" "$PF_DIR/queue/hold" -type f 2>/dev/null | wc -l
}

# wait_drain NAME COUNTFN: bounded wait for an empty queue.
wait_drain() {
    local name=$1 fn=$2 deadline=$((SECONDS + DRAIN_TIMEOUT)) n
    while ((SECONDS < deadline)); do
        n=$($fn)
        ((n == 0)) && return 0
        sleep 0.5
    done
    log "warning: $name queue still holds $($fn) file(s) after ${DRAIN_TIMEOUT}s"
    return 1
}

# run_source NAME PORT COUNT -> prints elapsed seconds; fails on smtp-source errors.
run_source() {
    local name=$1 port=$2 count=$3 t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout "$RUN_TIMEOUT" smtp-source -4 -s "$SESSIONS" -m "$count" -l "$SIZE" \
        -f sender@bench.test -t user@bench.test "127.0.0.1:$port" \
        >>"$WORK/smtp-source-$name.out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    if ((rc != 0)); then
        tail -n 20 "$WORK/smtp-source-$name.out" >&2
        die "smtp-source against $name failed (exit $rc; 124 = timed out after ${RUN_TIMEOUT}s)"
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}

# ---------------------------------------------------------------- idle connections (first, on a fresh gateway)
IDLE_SUMMARY="idle RSS: skipped (IDLE_CONNECTIONS=0)"
if ((IDLE_CONNECTIONS > 0)); then
    cat >"$WORK/idle.py" <<'EOF'
# idle.py PORT COUNT HOLD: open COUNT (<= 1000) connections to 127.0.0.1:PORT from source
# addresses 127.0.0.2..127.0.0.60, read each greeting, report, stay idle HOLD (<= 60) seconds.
import socket, sys, time
port, count, hold = int(sys.argv[1]), min(int(sys.argv[2]), 1000), min(float(sys.argv[3]), 60.0)
socks, refused, errors = [], 0, []
deadline = time.monotonic() + 60
for i in range(count):
    if time.monotonic() > deadline:
        errors.append("connect phase hit its 60 s bound")
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.bind(("127.0.0.%d" % (2 + i % 59), 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError as e:
        refused += 1
        if len(errors) < 5:
            errors.append("connect %d: %s" % (i, e))
        s.close()
greeted, other = 0, 0
for s in socks:
    try:
        line = s.recv(512)
        if line.startswith(b"220"):
            greeted += 1
        else:
            other += 1
            if len(errors) < 10:
                errors.append("greeting: %r" % line[:80])
    except OSError as e:
        other += 1
        if len(errors) < 10:
            errors.append("greeting: %s" % e)
print("READY open=%d greeted=%d bad_greeting=%d failed_connect=%d" % (len(socks), greeted, other, refused), flush=True)
for e in errors:
    print("ERROR " + e, flush=True)
time.sleep(hold)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(512) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("DONE closed_by_server_during_hold=%d" % closed, flush=True)
for s in socks:
    try:
        s.setblocking(True)
        s.settimeout(1)
        s.sendall(b"QUIT\r\n")
    except OSError:
        pass
    s.close()
EOF
    sleep 3
    RSS_BEFORE=$(rss_kib "$GW_PID")
    THREADS_BEFORE=$(threads_of "$GW_PID")
    log "gateway idle: VmRSS $(mib "$RSS_BEFORE") MiB, $THREADS_BEFORE threads; opening $IDLE_CONNECTIONS idle connections"
    timeout $((IDLE_HOLD + 120)) python3 "$WORK/idle.py" "$GW_PORT" "$IDLE_CONNECTIONS" "$IDLE_HOLD" >"$WORK/idle.out" 2>&1 &
    IDLE_PID=$!
    PIDS+=("$IDLE_PID")
    deadline=$((SECONDS + 90))
    until grep -q '^READY' "$WORK/idle.out" 2>/dev/null; do
        kill -0 "$IDLE_PID" 2>/dev/null || { cat "$WORK/idle.out" >&2; die "idle client exited early"; }
        ((SECONDS < deadline)) || die "idle client not ready within 90s"
        sleep 0.2
    done
    sed -n 's/^/  idle client: /p' "$WORK/idle.out" >&2
    OPEN=$(sed -n 's/^READY open=\([0-9]*\).*/\1/p' "$WORK/idle.out")
    # Sample during the hold; keep the largest value.
    RSS_DURING=0
    samples=$((IDLE_HOLD > 3 ? IDLE_HOLD - 2 : 1))
    for ((i = 0; i < samples; i++)); do
        sleep 1
        r=$(rss_kib "$GW_PID")
        ((r > RSS_DURING)) && RSS_DURING=$r
    done
    THREADS_DURING=$(threads_of "$GW_PID")
    wait "$IDLE_PID" || log "warning: idle client exited with $?"
    sed -n 's/^DONE /  idle client: /p' "$WORK/idle.out" >&2
    sleep 2
    RSS_AFTER=$(rss_kib "$GW_PID")
    PER_CONN="n/a"
    ((OPEN > 0)) && PER_CONN=$(awk -v a="$RSS_BEFORE" -v b="$RSS_DURING" -v n="$OPEN" 'BEGIN {printf "%+.1f", (b - a) / n}')
    log "gateway with $OPEN idle connections: VmRSS $(mib "$RSS_DURING") MiB, $THREADS_DURING threads; after close $(mib "$RSS_AFTER") MiB"
    IDLE_SUMMARY="idle RSS: before $(mib "$RSS_BEFORE") MiB, with $OPEN idle connections $(mib "$RSS_DURING") MiB ($PER_CONN KiB/connection); threads $THREADS_BEFORE -> $THREADS_DURING; $(mib "$RSS_AFTER") MiB after they closed"
fi

# ---------------------------------------------------------------- throughput
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine skew the figures)"

for name in gateway postfix; do
    port=$GW_PORT; fn=gw_queue_count
    [[ $name == postfix ]] && { port=$PF_PORT; fn=pf_queue_count; }
    log "$name: warm-up ($WARMUP messages)"
    run_source "$name" "$port" "$WARMUP" >/dev/null
    wait_drain "$name" "$fn" || true
done

# Alternate timed runs so that drifting background load hits both sides alike; each
# queue is drained before the next run so no server relays the other's backlog.
GW_RATES=() PF_RATES=() GW_DRAIN=0 PF_DRAIN=0
for ((round = 1; round <= ROUNDS; round++)); do
    for name in gateway postfix; do
        port=$GW_PORT; fn=gw_queue_count
        [[ $name == postfix ]] && { port=$PF_PORT; fn=pf_queue_count; }
        secs=$(run_source "$name" "$port" "$MESSAGES")
        rate=$(awk -v n="$MESSAGES" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')
        t0=$SECONDS
        wait_drain "$name" "$fn" || true
        drain=$((SECONDS - t0))
        log "round $round/$ROUNDS $name: $MESSAGES msgs in ${secs}s = $rate msg/s (queue drained ${drain}s later)"
        if [[ $name == gateway ]]; then
            GW_RATES+=("$rate"); ((drain > GW_DRAIN)) && GW_DRAIN=$drain
        else
            PF_RATES+=("$rate"); ((drain > PF_DRAIN)) && PF_DRAIN=$drain
        fi
    done
done
GW_RSS_LOAD=$(rss_kib "$GW_PID")

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

sleep 1
GW_SUNK=$(sink_count "$WORK/gw-sink.out")
PF_SUNK=$(sink_count "$WORK/pf-sink.out")
EXPECTED=$((WARMUP + ROUNDS * MESSAGES))
GW_RATE=$(median "${GW_RATES[@]}")
PF_RATE=$(median "${PF_RATES[@]}")
RATIO=$(awk -v a="$GW_RATE" -v b="$PF_RATE" 'BEGIN {printf "%.2f", a / b}')
GW_ERRORS=$(grep -ciE 'fail|error|exception|crit' "$WORK/gateway.log" || true)
kept=" (removed; KEEP_WORK=1 keeps it)"
[[ $KEEP_WORK == 1 ]] && kept=""

cat <<EOF

== details
gateway: $GATEWAY_DLL (pid $GW_PID)
gateway msg/s per round: ${GW_RATES[*]}; RSS after the runs $(mib "$GW_RSS_LOAD") MiB; queue drained at most ${GW_DRAIN}s after a run; sink received $GW_SUNK of $EXPECTED; $GW_ERRORS error-ish log line(s)
postfix msg/s per round: ${PF_RATES[*]}; queue drained at most ${PF_DRAIN}s after a run; sink received $PF_SUNK of $EXPECTED
work directory: $WORK$kept

== summary
throughput ($((SIZE / 1024)) KB, $SESSIONS clients, $MESSAGES msgs, median of $ROUNDS): gateway $GW_RATE msg/s, postfix $PF_RATE msg/s, ratio $GW_RATE/$PF_RATE = $RATIO
$IDLE_SUMMARY
EOF
if ((GW_SUNK != EXPECTED || PF_SUNK != EXPECTED)); then
    log "warning: a sink did not receive every message (gateway $GW_SUNK, postfix $PF_SUNK, expected $EXPECTED)"
fi
