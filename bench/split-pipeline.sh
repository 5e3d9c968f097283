#!/usr/bin/env bash
# split-pipeline.sh - the split end to end: a message submitted over SMTPS until every recipient
# can open it over IMAPS, with Courier:Split on (Agent -> Background + Foreground -> recipient's
# Agent) against the same gateway with Split off (stored as submitted) as the baseline peer.
# 10 KB messages, 1 recipient and 10 recipients. Prints messages/s, p50 and p99 latency and ratios.
#
#     bench/split-pipeline.sh
#     MESSAGES=100 CONCURRENCY=4 bench/split-pipeline.sh
#
# Needs dotnet and python3 (client: bench/split_bench.py). All traffic stays on 127.0.0.1; every
# wait is bounded; the gateways started here are stopped on exit.
set -euo pipefail

MESSAGES=${MESSAGES:-300}         # messages per run
CONCURRENCY=${CONCURRENCY:-4}     # parallel SMTP sessions
SIZE=${SIZE:-10240}               # bytes per message
SEQUENTIAL=${SEQUENTIAL:-50}      # messages sent one at a time for the latency without queueing (0 skips)
WARMUP=${WARMUP:-3000}            # messages sent first, unmeasured: the JIT's tiers settle (perf over the measured
                                  # messages, split, 1 recipient: the JIT took 29% of the gateway's CPU after 200,
                                  # 25% after 1000, 1.2% after 3000; both modes ran faster after 3000 than after 1000)
RUN_TIMEOUT=${RUN_TIMEOUT:-900}   # bound for one run, seconds
SMTP_PORT=${SMTP_PORT:-15465}
IMAP_PORT=${IMAP_PORT:-15993}
KEEP_WORK=${KEEP_WORK:-0}

((MESSAGES > 0 && MESSAGES <= 20000)) || { echo "MESSAGES must be 1..20000" >&2; exit 2; }
((CONCURRENCY > 0 && CONCURRENCY <= 64)) || { echo "CONCURRENCY must be 1..64" >&2; exit 2; }
((WARMUP > 0 && WARMUP <= 10000)) || { echo "WARMUP must be 1..10000" >&2; exit 2; }
((SIZE >= 1024 && SIZE <= 10485760)) || { echo "SIZE must be 1024..10485760" >&2; exit 2; }

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
CLIENT=$HERE/split_bench.py
PASSWORD=bench-password-1
log() { echo "[split-bench] $*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in dotnet python3 timeout awk; do command -v "$tool" >/dev/null || die "$tool is missing"; done

source "$HERE/gateway-dll.sh"

WORK=$(mktemp -d /tmp/split-bench.XXXXXX)
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

SENDER=alice@bench.test
RECIPIENTS_1=r0@bench.test
RECIPIENTS_10=$(printf 'r%d@bench.test,' $(seq 0 9)); RECIPIENTS_10=${RECIPIENTS_10%,}

gw_env() { # gw_env DATA SPLIT
    echo GATEWAY_DATA_DIR="$1" Gateway__Hostname=bench.test Gateway__Domains__0=bench.test \
        Gateway__Listeners__0__Name=submissions Gateway__Listeners__0__Endpoint=127.0.0.1:$SMTP_PORT \
        Gateway__Listeners__0__Role=Submission Gateway__Listeners__0__Tls=Implicit \
        Gateway__Listeners__1__Name=imaps Gateway__Listeners__1__Endpoint=127.0.0.1:$IMAP_PORT \
        Gateway__Listeners__1__Role=Imap Gateway__Listeners__1__Tls=Implicit \
        Gateway__Web__Endpoint= Gateway__Imap__QuotaKilobytes=0 Gateway__Limits__MaxRecipients=100 \
        Gateway__Courier__Split="$2" Gateway__ShutdownTimeoutSeconds=5 Logging__LogLevel__Default=Warning
}

CLK_TCK=$(getconf CLK_TCK)
# The gateway's CPU time so far (user + system, clock ticks): over the timed run, divided by its messages, the CPU a
# message costs the gateway, whatever the client and the machine's other load took (a steadier figure than msg/s on
# shared cores; the client's own CPU is not in it).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_mode() { # run_mode SPLIT -> prints RESULT lines for 1 and 10 recipients
    local split=$1 data=$WORK/data-$1
    mkdir -p "$data"
    for user in "$SENDER" r{0..9}@bench.test; do
        echo "$PASSWORD" | env $(gw_env "$data" "$split") timeout 120 dotnet "$GATEWAY_DLL" user add "$user" --password-stdin \
            >>"$WORK/user-add.log" 2>&1 || { tail "$WORK/user-add.log" >&2; die "user add $user failed"; }
    done
    env $(gw_env "$data" "$split") dotnet "$GATEWAY_DLL" >>"$WORK/gateway-$split.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 300); do timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IMAP_PORT" 2>/dev/null && break; sleep 0.2; done
    kill -0 "$GW_PID" 2>/dev/null || { tail -n 5 "$WORK/gateway-$split.log" >&2; die "the gateway did not start (split=$split)"; }
    for n in 1 10; do
        local rcpts=$RECIPIENTS_1; [[ $n == 10 ]] && rcpts=$RECIPIENTS_10
        # Warm-up (JIT, TLS session set-up, first certificates), then the timed run.
        timeout "$RUN_TIMEOUT" python3 "$CLIENT" --smtp-port "$SMTP_PORT" --imap-port "$IMAP_PORT" --sender "$SENDER" \
            --recipients "$rcpts" --password "$PASSWORD" --messages "$WARMUP" --concurrency "$CONCURRENCY" --size "$SIZE" >/dev/null \
            || die "warm-up failed (split=$split, $n recipients)"
        local line before after
        before=$(cpu_ticks "$GW_PID")
        line=$(timeout "$RUN_TIMEOUT" python3 "$CLIENT" --smtp-port "$SMTP_PORT" --imap-port "$IMAP_PORT" --sender "$SENDER" \
            --recipients "$rcpts" --password "$PASSWORD" --messages "$MESSAGES" --concurrency "$CONCURRENCY" --size "$SIZE" --timeout "$RUN_TIMEOUT") \
            || die "run failed (split=$split, $n recipients): $line"
        after=$(cpu_ticks "$GW_PID")
        echo "split=$split $line cpu_ms=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v m="$MESSAGES" 'BEGIN {printf "%.1f", t * 1000 / hz / m}')"
        if ((SEQUENTIAL > 0)); then
            line=$(timeout "$RUN_TIMEOUT" python3 "$CLIENT" --smtp-port "$SMTP_PORT" --imap-port "$IMAP_PORT" --sender "$SENDER" \
                --recipients "$rcpts" --password "$PASSWORD" --messages "$SEQUENTIAL" --size "$SIZE" --sequential --timeout "$RUN_TIMEOUT") \
                || die "sequential run failed (split=$split, $n recipients): $line"
        else
            line="RESULT p50_ms=n/a p99_ms=n/a"
        fi
        echo "split=$split SEQ $line"
    done
    kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
}

field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<"$2" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b}'; }

for p in "$SMTP_PORT" "$IMAP_PORT"; do
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && die "127.0.0.1:$p is already in use (set SMTP_PORT/IMAP_PORT)"
done
log "gateway $GATEWAY_DLL; $MESSAGES messages of $SIZE bytes, $CONCURRENCY SMTP sessions; $(nproc) cores"
# In this shell (not a subshell), so that the exit trap knows the gateway to stop.
run_mode true >"$WORK/split.out"
run_mode false >"$WORK/plain.out"
mapfile -t SPLIT <"$WORK/split.out"
mapfile -t PLAIN <"$WORK/plain.out"

# Lines per mode: [0] 1 recipient loaded, [1] 1 recipient sequential, [2] 10 loaded, [3] 10 sequential.
printf '\n%-11s %-9s %9s %11s %11s %13s %13s %10s\n' "recipients" "mode" "msg/s" "load p50 ms" "load p99 ms" "single p50 ms" "single p99 ms" "cpu ms/msg"
for i in 0 2; do
    n=$([[ $i == 0 ]] && echo 1 || echo 10)
    for mode in split no-split; do
        if [[ $mode == split ]]; then l=${SPLIT[$i]}; q=${SPLIT[$((i + 1))]}; else l=${PLAIN[$i]}; q=${PLAIN[$((i + 1))]}; fi
        printf '%-11s %-9s %9s %11s %11s %13s %13s %10s\n' "$n" "$mode" "$(field rate "$l")" "$(field p50_ms "$l")" "$(field p99_ms "$l")" "$(field p50_ms "$q")" "$(field p99_ms "$q")" "$(field cpu_ms "$l")"
    done
    printf '%-11s %-9s %9s %11s %11s %13s %13s %10s\n' "$n" "ratio" "$(ratio "$(field rate "${SPLIT[$i]}")" "$(field rate "${PLAIN[$i]}")")" \
        "$(ratio "$(field p50_ms "${SPLIT[$i]}")" "$(field p50_ms "${PLAIN[$i]}")")" "$(ratio "$(field p99_ms "${SPLIT[$i]}")" "$(field p99_ms "${PLAIN[$i]}")")" \
        "$(ratio "$(field p50_ms "${SPLIT[$((i + 1))]}")" "$(field p50_ms "${PLAIN[$((i + 1))]}")")" "$(ratio "$(field p99_ms "${SPLIT[$((i + 1))]}")" "$(field p99_ms "${PLAIN[$((i + 1))]}")")" \
        "$(ratio "$(field cpu_ms "${PLAIN[$i]}")" "$(field cpu_ms "${SPLIT[$i]}")")"
done
echo
echo "msg/s: messages openable by every recipient per second (first submission to last open)."
echo "latency: SMTP transaction start to the moment the last recipient's full-body FETCH returned the original;"
echo "  load = $MESSAGES messages from $CONCURRENCY sessions at once (includes queueing), single = one message at a time."
echo "cpu ms/msg: the gateway's CPU time (user + system) over the load run per message; its ratio is no-split / split,"
echo "  the share of the no-split rate the split would reach if both were bound by the gateway's CPU alone."
