#!/usr/bin/env bash
# imap-fetch-idle.sh - Gateway's IMAP server vs. a private Dovecot: APPEND and FETCH throughput,
# server-side SEARCH, the memory of one large APPEND and of many IDLE connections (with a check
# that IDLE really reports a new message).
#
# Run as root (private Dovecot instance, inotify limit):
#     bench/imap-fetch-idle.sh
#     MESSAGES=500 IDLE_CONNECTIONS=200 bench/imap-fetch-idle.sh
#
# See bench/README.md for what is measured and the knobs (environment variables). The IMAP
# client is bench/imap_bench.py (Python 3 standard library), the same for both servers. All
# traffic stays on 127.0.0.1. Every run and wait is bounded; everything started here (gateway,
# Dovecot instance, clients) is stopped on exit.
set -euo pipefail

MESSAGES=${MESSAGES:-2000}                 # messages loaded into each INBOX
SIZE=${SIZE:-10240}                        # bytes per message (headers included)
ROUNDS=${ROUNDS:-5}                        # timed FETCH rounds per server; the median is reported
HEADER_REPEAT=${HEADER_REPEAT:-10}         # FETCH headers commands per timed round, in one session (one takes 15-40 ms:
                                           # timed alone, scheduling noise moved rounds of both servers by 2x)
WARMUP_ROUNDS=${WARMUP_ROUNDS:-5}          # untimed FETCH rounds of each kind per server first (the JIT's tiers settle:
                                           # with one, the gateway's first timed rounds ran partly unoptimised code)
APPEND_WINDOW=${APPEND_WINDOW:-16}         # APPENDs in flight while loading (LITERAL+ pipelining)
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000} # IDLE connections per server (0 skips the test)
IDLE_HOLD=${IDLE_HOLD:-10}                 # seconds they are held (memory sampled meanwhile)
IDLE_BATCH=${IDLE_BATCH:-50}               # connections set up concurrently
IDLE_SETUP_TIMEOUT=${IDLE_SETUP_TIMEOUT:-600} # bound for setting up all IDLE connections, seconds
EXISTS_WAIT=${EXISTS_WAIT:-30}             # seconds to wait for the EXISTS on every IDLE connection
DOVECOT_TLS=${DOVECOT_TLS:-1}              # 1: Dovecot on implicit TLS like the gateway; 0: plaintext
DOVECOT_LOGIN=${DOVECOT_LOGIN:-security}   # security: one imap-login per connection (Dovecot default);
                                           # performance: imap-login processes serve many connections
FETCH_TIMEOUT=${FETCH_TIMEOUT:-300}        # bound for one FETCH run, seconds
LOAD_TIMEOUT=${LOAD_TIMEOUT:-900}          # bound for loading one server, seconds
GW_PORT=${GW_PORT:-14993}                  # gateway imaps listener
DC_PORT=${DC_PORT:-14994}                  # dovecot imap(s) listener
KEEP_WORK=${KEEP_WORK:-0}                  # 1: keep the work directory (logs) after the run
BIG_APPEND=${BIG_APPEND:-50000000}         # bytes of the one large APPEND whose RSS growth is measured (0 skips)

((MESSAGES > 0 && MESSAGES <= 100000)) || { echo "MESSAGES must be 1..100000" >&2; exit 2; }
((SIZE >= 1024 && SIZE <= 10485760)) || { echo "SIZE must be 1024..10485760" >&2; exit 2; }
((BIG_APPEND >= 0 && BIG_APPEND <= 209715200)) || { echo "BIG_APPEND must be 0..209715200" >&2; exit 2; }
((ROUNDS > 0 && ROUNDS <= 20)) || { echo "ROUNDS must be 1..20" >&2; exit 2; }
((HEADER_REPEAT > 0 && HEADER_REPEAT <= 100)) || { echo "HEADER_REPEAT must be 1..100" >&2; exit 2; }
((WARMUP_ROUNDS >= 0 && WARMUP_ROUNDS <= 50)) || { echo "WARMUP_ROUNDS must be 0..50" >&2; exit 2; }
((APPEND_WINDOW > 0 && APPEND_WINDOW <= 256)) || { echo "APPEND_WINDOW must be 1..256" >&2; exit 2; }
((IDLE_CONNECTIONS >= 0 && IDLE_CONNECTIONS <= 2000)) || { echo "IDLE_CONNECTIONS must be 0..2000" >&2; exit 2; }
((IDLE_HOLD >= 3 && IDLE_HOLD <= 120)) || { echo "IDLE_HOLD must be 3..120" >&2; exit 2; }
((IDLE_BATCH > 0 && IDLE_BATCH <= 500)) || { echo "IDLE_BATCH must be 1..500" >&2; exit 2; }
((IDLE_SETUP_TIMEOUT > 0 && IDLE_SETUP_TIMEOUT <= 3600)) || { echo "IDLE_SETUP_TIMEOUT must be 1..3600" >&2; exit 2; }
((EXISTS_WAIT > 0 && EXISTS_WAIT <= 300)) || { echo "EXISTS_WAIT must be 1..300" >&2; exit 2; }
[[ $DOVECOT_TLS == [01] ]] || { echo "DOVECOT_TLS must be 0 or 1" >&2; exit 2; }
[[ $DOVECOT_LOGIN == security || $DOVECOT_LOGIN == performance ]] || { echo "DOVECOT_LOGIN must be security or performance" >&2; exit 2; }

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
CLIENT=$HERE/imap_bench.py
DOVECOT_INSTANCE=$REPO/Gateway.Tests/scripts/dovecot-instance.sh
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
USER_NAME=bench@bench.test
PASSWORD=Bench-imap-$$-pw

WARNINGS=0
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { WARNINGS=$((WARNINGS + 1)); log "warning: $*"; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (private Dovecot instance, inotify limit)"
for tool in dotnet python3 openssl timeout awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -f $CLIENT ]] || die "$CLIENT missing"
[[ -x $DOVECOT_INSTANCE ]] || die "$DOVECOT_INSTANCE missing or not executable"

# ---------------------------------------------------------------- dovecot package
if ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/imap ]]; then
    log "installing dovecot-imapd with apt-get"
    # The package starts the system-wide Dovecot (143/993) unless a policy-rc.d refuses it.
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# imap-fetch-idle.sh: no service starts while installing\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    rc=0
    { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
        --no-install-recommends dovecot-imapd >/dev/null; } || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || die "apt-get install dovecot-imapd failed ($rc)"
fi
DC_VERSION=$(dovecot --version | awk '{print $1}')
[[ $DC_VERSION =~ ^([0-9]+)\.([0-9]+) ]] || die "cannot read 'dovecot --version'"
DC_V=$((BASH_REMATCH[1] * 100 + BASH_REMATCH[2]))

# ---------------------------------------------------------------- gateway binary
source "$HERE/gateway-dll.sh"

# ---------------------------------------------------------------- limits, work dir, cleanup
want_fds=$((IDLE_CONNECTIONS * 4 + 4096))
if (($(ulimit -n) < want_fds)); then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
(($(ulimit -n) >= IDLE_CONNECTIONS * 2 + 1024)) || warn "ulimit -n is $(ulimit -n); the IDLE test may fall short"

# Each Dovecot imap process takes an inotify instance to notice new mail at once; past the
# per-user limit (128 by default) IDLE falls back to polling every 30 s. Raised for the run.
INOTIFY=/proc/sys/fs/inotify/max_user_instances
INOTIFY_OLD=$(cat "$INOTIFY" 2>/dev/null || echo "")
want_inotify=$((IDLE_CONNECTIONS * 2 + 256))
if [[ -n $INOTIFY_OLD ]] && ((INOTIFY_OLD < want_inotify)); then
    if echo "$want_inotify" >"$INOTIFY" 2>/dev/null; then
        log "fs.inotify.max_user_instances raised $INOTIFY_OLD -> $want_inotify for the run"
    else
        warn "cannot raise fs.inotify.max_user_instances ($INOTIFY_OLD): Dovecot IDLE may poll"
        INOTIFY_OLD=""
    fi
else
    INOTIFY_OLD=""
fi

WORK=$(mktemp -d /tmp/imap-bench.XXXXXX)
chmod 0755 "$WORK"   # Dovecot's mail user must be able to traverse it
cd "$WORK"
DC_DIR=$WORK/dovecot
GW_DATA=$WORK/gateway-data
GW_PID=""
PIDS=()

cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}" $GW_PID; do
        kill "$pid" 2>/dev/null
    done
    "$DOVECOT_INSTANCE" stop "$DC_DIR" >/dev/null 2>&1
    for pid in "${PIDS[@]}" $GW_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    [[ -n $INOTIFY_OLD ]] && echo "$INOTIFY_OLD" >"$INOTIFY" 2>/dev/null
    if [[ $KEEP_WORK == 1 || $rc != 0 || $WARNINGS != 0 ]]; then
        log "work directory kept: $WORK"
    else
        cd / && rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
for p in "$GW_PORT" "$DC_PORT"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (set GW_PORT/DC_PORT)"
done

client() { python3 "$CLIENT" "$@"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<"$2" | head -n 1; } # field NAME LINE
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b}'; }

# ---------------------------------------------------------------- gateway
gw_env=(
    GATEWAY_DATA_DIR="$GW_DATA"
    Gateway__Hostname=bench.test
    Gateway__Domains__0=bench.test
    Gateway__Listeners__0__Name=imaps
    Gateway__Listeners__0__Endpoint=127.0.0.1:$GW_PORT
    Gateway__Listeners__0__Role=Imap
    Gateway__Listeners__0__Tls=Implicit
    Gateway__Web__Endpoint=
    Gateway__Limits__MaxConnections=5000
    Gateway__Limits__MaxConnectionsPerAddress=5000
    Gateway__Imap__MaxConnectionsPerUser=5000
    Gateway__Imap__QuotaKilobytes=0
    Gateway__ShutdownTimeoutSeconds=5
    Logging__LogLevel__Default=Warning
)

start_gateway() {
    log "starting gateway: dotnet $GATEWAY_DLL"
    env "${gw_env[@]}" dotnet "$GATEWAY_DLL" >>"$WORK/gateway.log" 2>&1 &
    GW_PID=$!
    if ! client probe --port "$GW_PORT" --timeout 60 >"$WORK/gw-probe.out" 2>&1; then
        cat "$WORK/gw-probe.out" >&2
        tail -n 30 "$WORK/gateway.log" >&2
        die "gateway did not greet on 127.0.0.1:$GW_PORT within 60 s"
    fi
    GW_TLS=$(sed -n 's/^PROBE ok \([^|]*\) |.*/\1/p' "$WORK/gw-probe.out")
}

stop_gateway() {
    [[ -n $GW_PID ]] || return 0
    kill "$GW_PID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    GW_PID=""
}

echo "$PASSWORD" | env "${gw_env[@]}" timeout 60 dotnet "$GATEWAY_DLL" user add "$USER_NAME" --password-stdin \
    >"$WORK/gateway-user-add.out" 2>&1 || { cat "$WORK/gateway-user-add.out" >&2; die "gateway user add failed"; }

# ---------------------------------------------------------------- dovecot
# dovecot-instance.sh writes the configuration (user, Maildir, paths) and checks the setup; we
# stop that plaintext instance, append overrides (TLS, limits for thousands of connections from
# one user and address) and start it again with the same configuration file.
DC_PASS_FLAG=()
start_dovecot() {
    log "starting dovecot $DC_VERSION"
    dovecot -c "$DC_DIR/dovecot.conf" >"$DC_DIR/dovecot.start.out" 2>&1 \
        || { cat "$DC_DIR/dovecot.start.out" >&2; tail -n 20 "$DC_DIR/dovecot.log" >&2; die "dovecot did not start"; }
    if ! client probe --port "$DC_PORT" "${DC_PASS_FLAG[@]}" --timeout 30 >"$WORK/dc-probe.out" 2>&1; then
        cat "$WORK/dc-probe.out" >&2
        tail -n 30 "$DC_DIR/dovecot.log" >&2
        die "dovecot did not greet on 127.0.0.1:$DC_PORT within 30 s"
    fi
    DC_TLS=$(sed -n 's/^PROBE ok \([^|]*\) |.*/\1/p' "$WORK/dc-probe.out")
}
stop_dovecot() { "$DOVECOT_INSTANCE" stop "$DC_DIR"; }

"$DOVECOT_INSTANCE" start "$DC_DIR" "$DC_PORT" "$USER_NAME" "$PASSWORD" >&2
stop_dovecot
limit=$((IDLE_CONNECTIONS + 200))
{
    echo
    echo "# ---- imap-fetch-idle.sh overrides"
    echo "default_client_limit = $((IDLE_CONNECTIONS * 4 + 1000))"
    echo "protocol imap {"
    echo "  mail_max_userip_connections = $((IDLE_CONNECTIONS + 100))"
    echo "}"
    echo "service imap {"
    echo "  process_limit = $limit"
    echo "}"
    echo "service imap-login {"
    echo "  process_limit = $limit"
    if [[ $DOVECOT_LOGIN == performance ]]; then
        if ((DC_V >= 204)); then echo "  restart_request_count = unlimited"; else echo "  service_count = 0"; fi
        echo "  process_min_avail = $(nproc)"
        echo "  client_limit = $((IDLE_CONNECTIONS + 100))"
    fi
    if [[ $DOVECOT_TLS == 1 ]]; then
        echo "  inet_listener imap {"
        echo "    port = 0"
        echo "  }"
        echo "  inet_listener imaps {"
        echo "    address = 127.0.0.1"
        echo "    port = $DC_PORT"
        echo "    ssl = yes"
        echo "  }"
    fi
    echo "}"
} >>"$DC_DIR/dovecot.conf"
if [[ $DOVECOT_TLS == 1 ]]; then
    # Same key type as the gateway's generated certificate (RSA 3072), so handshakes cost alike.
    openssl req -x509 -newkey rsa:3072 -nodes -days 7 -subj /CN=bench.test \
        -keyout "$DC_DIR/tls.key" -out "$DC_DIR/tls.crt" >/dev/null 2>&1 || die "openssl req failed"
    chmod 0600 "$DC_DIR/tls.key"
    {
        echo "ssl = required"
        if ((DC_V >= 204)); then # 2.4 syntax: not run here
            echo "ssl_server_cert_file = $DC_DIR/tls.crt"
            echo "ssl_server_key_file = $DC_DIR/tls.key"
        else
            echo "ssl_cert = <$DC_DIR/tls.crt"
            echo "ssl_key = <$DC_DIR/tls.key"
        fi
    } >>"$DC_DIR/dovecot.conf"
else
    DC_PASS_FLAG=(--plain)
fi
start_dovecot
start_gateway

gw_args=(--port "$GW_PORT" --user "$USER_NAME" --password "$PASSWORD")
dc_args=(--port "$DC_PORT" "${DC_PASS_FLAG[@]}" --user "$USER_NAME" --password "$PASSWORD")

# ---------------------------------------------------------------- load
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average: $LOAD_START (other processes on this machine skew the figures)"
declare -A APPEND_RATE
for name in gateway dovecot; do
    args=("${gw_args[@]}"); [[ $name == dovecot ]] && args=("${dc_args[@]}")
    log "$name: loading $MESSAGES messages of $SIZE bytes (APPEND, LITERAL+, $APPEND_WINDOW in flight)"
    out=$(timeout "$LOAD_TIMEOUT" python3 "$CLIENT" load "${args[@]}" --count "$MESSAGES" --size "$SIZE" \
        --window "$APPEND_WINDOW" 2>&1) || { echo "$out" >&2; die "loading $name failed (124 = timed out)"; }
    log "  $out"
    APPEND_RATE[$name]=$(field rate "$out")
done

# ---------------------------------------------------------------- fetch
declare -A RATES MBS LITERAL CPU
fetch_once() { # NAME WHAT -> the FETCH line
    local name=$1 what=$2 args out
    args=("${gw_args[@]}"); [[ $name == dovecot ]] && args=("${dc_args[@]}")
    local repeat=1; [[ $what == headers ]] && repeat=$HEADER_REPEAT
    out=$(timeout "$FETCH_TIMEOUT" python3 "$CLIENT" fetch "${args[@]}" --what "$what" --expect "$MESSAGES" --repeat "$repeat" \
        --timeout "$FETCH_TIMEOUT" 2>&1) || { echo "$out" >&2; die "FETCH $what against $name failed (124 = timed out)"; }
    grep '^FETCH ' <<<"$out"
}
log "warm-up: $WARMUP_ROUNDS untimed FETCH rounds of each kind per server"
for ((round = 1; round <= WARMUP_ROUNDS; round++)); do
    for name in gateway dovecot; do
        for what in headers bodies; do fetch_once "$name" "$what" >/dev/null; done
    done
done
for ((round = 1; round <= ROUNDS; round++)); do
    order="gateway dovecot"; ((round % 2 == 0)) && order="dovecot gateway"
    for name in $order; do
        for what in headers bodies; do
            line=$(fetch_once "$name" "$what")
            key=$name/$what
            RATES[$key]+="$(field msg_per_s "$line") "
            MBS[$key]+="$(field mb_per_s "$line") "
            LITERAL[$key]=$(field literal_bytes "$line")
            CPU[$key]+="$(field client_cpu "$line") "
            log "round $round/$ROUNDS $name $what: $(field secs "$line") s, $(field msg_per_s "$line") msg/s, $(field mb_per_s "$line") MB/s (client CPU $(field client_cpu "$line"))"
        done
    done
done
for what in headers bodies; do
    [[ ${LITERAL[gateway/$what]} == "${LITERAL[dovecot/$what]}" ]] \
        || warn "FETCH $what returned ${LITERAL[gateway/$what]} literal octets from the gateway, ${LITERAL[dovecot/$what]} from dovecot"
done

mem_of() { # NAME [--pss] -> MEM line
    if [[ $1 == gateway ]]; then
        client mem --pid "$GW_PID" ${2:-}
    else
        client mem --pid "$(tr -dc 0-9 <"$DC_DIR/run/master.pid")" --tree ${2:-}
    fi
}

# ---------------------------------------------------------------- search
# Server-side search over the loaded INBOX: a header key and a body key, the answers compared.
declare -A SEARCH_MS SEARCH_AGAIN_MS SEARCH_ANSWER
SEARCH_KEYS=("SUBJECT invoice" "BODY \"invoice payment\"")
for ((round = 1; round <= ROUNDS; round++)); do
    for name in gateway dovecot; do
        args=("${gw_args[@]}"); [[ $name == dovecot ]] && args=("${dc_args[@]}")
        for key in "${SEARCH_KEYS[@]}"; do
            line=$(timeout "$FETCH_TIMEOUT" python3 "$CLIENT" search "${args[@]}" --key "$key" 2>&1) \
                || { echo "$line" >&2; die "SEARCH $key against $name failed"; }
            line=$(grep '^SEARCH ' <<<"$line")
            SEARCH_MS[$name/$key]+="$(field ms "$line") "
            SEARCH_AGAIN_MS[$name/$key]+="$(field ms_again "$line") "
            SEARCH_ANSWER[$name/$key]="$(field hits "$line") hits, UID sum $(field uid_sum "$line")"
            log "round $round/$ROUNDS $name UID SEARCH $key: $(field ms "$line") ms (again in the session: $(field ms_again "$line") ms), ${SEARCH_ANSWER[$name/$key]}"
        done
    done
done
for key in "${SEARCH_KEYS[@]}"; do
    [[ ${SEARCH_ANSWER[gateway/$key]} == "${SEARCH_ANSWER[dovecot/$key]}" ]] \
        || warn "UID SEARCH $key: gateway ${SEARCH_ANSWER[gateway/$key]}, dovecot ${SEARCH_ANSWER[dovecot/$key]}"
done

# ---------------------------------------------------------------- one large APPEND
# RSS growth of each server while one message of BIG_APPEND bytes is appended (sampled every 0.2 s).
declare -A BIG_RSS_GROWTH
if ((BIG_APPEND > 0)); then
    for name in gateway dovecot; do
        args=("${gw_args[@]}"); [[ $name == dovecot ]] && args=("${dc_args[@]}")
        rss0=$(field rss_kib "$(mem_of "$name")")
        timeout "$LOAD_TIMEOUT" python3 "$CLIENT" load "${args[@]}" --count 1 --size "$BIG_APPEND" --window 1 --mailbox Large >"$WORK/big-$name.out" 2>&1 &
        big_pid=$!
        best=$rss0
        while kill -0 "$big_pid" 2>/dev/null; do
            rss=$(field rss_kib "$(mem_of "$name")"); ((rss > best)) && best=$rss
            sleep 0.2
        done
        wait "$big_pid" || { cat "$WORK/big-$name.out" >&2; die "the large APPEND to $name failed"; }
        BIG_RSS_GROWTH[$name]=$(awk -v a="$rss0" -v b="$best" 'BEGIN {printf "%.1f", (b - a) / 1024}')
        log "$name: one APPEND of $BIG_APPEND bytes: $(cat "$WORK/big-$name.out"); RSS peak growth ${BIG_RSS_GROWTH[$name]} MiB"
    done
fi

# ---------------------------------------------------------------- idle
declare -A IDLE_OPEN IDLE_SETUP RSS0 RSS1 RSS2 PSS0 PSS1 NPROC0 NPROC1 EXISTS_LINE IDLE_ERRS
run_idle() { # NAME
    local name=$1 args out base line rss best=0 pss_line samples i release=$WORK/release-$1 idle_pid deadline
    args=("${gw_args[@]}"); [[ $name == dovecot ]] && args=("${dc_args[@]}")
    # One untimed connection first, so that code paths and the mailbox are loaded before the baseline.
    timeout 120 python3 "$CLIENT" idle "${args[@]}" --count 1 --hold 0 >"$WORK/idle-warm-$name.out" 2>&1 \
        || { cat "$WORK/idle-warm-$name.out" >&2; die "IDLE warm-up connection to $name failed"; }
    sleep 3
    base=$(mem_of "$name" --pss)
    RSS0[$name]=$(field rss_kib "$base"); PSS0[$name]=$(field pss_kib "$base"); NPROC0[$name]=$(field processes "$base")
    log "$name: RSS $(mib "${RSS0[$name]}") MiB, PSS $(mib "${PSS0[$name]}") MiB in ${NPROC0[$name]} process(es); opening $IDLE_CONNECTIONS IDLE connections"
    rm -f "$release"
    timeout $((IDLE_SETUP_TIMEOUT + IDLE_HOLD + EXISTS_WAIT + 300)) python3 "$CLIENT" idle "${args[@]}" \
        --count "$IDLE_CONNECTIONS" --hold "$IDLE_HOLD" --batch "$IDLE_BATCH" --setup-timeout "$IDLE_SETUP_TIMEOUT" \
        --check-exists --exists-wait "$EXISTS_WAIT" --release-file "$release" >"$WORK/idle-$name.out" 2>&1 &
    idle_pid=$!
    PIDS+=("$idle_pid")
    deadline=$((SECONDS + IDLE_SETUP_TIMEOUT + 30))
    until grep -q '^READY' "$WORK/idle-$name.out" 2>/dev/null; do
        kill -0 "$idle_pid" 2>/dev/null || { cat "$WORK/idle-$name.out" >&2; die "IDLE client for $name exited early"; }
        ((SECONDS < deadline)) || die "IDLE client for $name not ready within $((IDLE_SETUP_TIMEOUT + 30)) s"
        sleep 0.5
    done
    line=$(grep '^READY' "$WORK/idle-$name.out")
    log "  $line"
    grep '^ERROR' "$WORK/idle-$name.out" | head -n 5 | sed 's/^/  /' >&2 || true
    IDLE_OPEN[$name]=$(sed -n 's/^READY idling=\([0-9]*\).*/\1/p' <<<"$line")
    IDLE_SETUP[$name]=$(field setup_secs "$line")
    # Sample RSS during the hold, keep the largest; PSS (slow to read for many processes) once at the end.
    samples=$((IDLE_HOLD - 2))
    for ((i = 0; i < samples; i++)); do
        sleep 1
        rss=$(field rss_kib "$(mem_of "$name")")
        ((rss > best)) && best=$rss
    done
    pss_line=$(mem_of "$name" --pss)
    rss=$(field rss_kib "$pss_line"); ((rss > best)) && best=$rss
    RSS1[$name]=$best; PSS1[$name]=$(field pss_kib "$pss_line"); NPROC1[$name]=$(field processes "$pss_line")
    touch "$release"
    wait "$idle_pid" || warn "IDLE client for $name exited with $? (see $WORK/idle-$name.out)"
    EXISTS_LINE[$name]=$(grep '^EXISTS' "$WORK/idle-$name.out" || grep '^ERROR EXISTS' "$WORK/idle-$name.out" || echo "no EXISTS result")
    IDLE_ERRS[$name]=$(field failed "$line")
    log "  ${EXISTS_LINE[$name]}"
    [[ $(field notified "${EXISTS_LINE[$name]}") == "${IDLE_OPEN[$name]}" ]] \
        || warn "$name: not every IDLE connection was told of the new message within $EXISTS_WAIT s"
    log "  $(grep '^DONE' "$WORK/idle-$name.out" || echo 'no DONE line')"
    sleep 2
    RSS2[$name]=$(field rss_kib "$(mem_of "$name")")
    log "$name with ${IDLE_OPEN[$name]} IDLE connections: RSS $(mib "${RSS1[$name]}") MiB, PSS $(mib "${PSS1[$name]}") MiB in ${NPROC1[$name]} process(es); RSS $(mib "${RSS2[$name]}") MiB after they closed"
}
if ((IDLE_CONNECTIONS > 0)); then
    # Fresh processes: the FETCH runs must not leave heap headroom that hides per-connection memory.
    log "restarting both servers for the IDLE test"
    stop_gateway
    stop_dovecot
    start_dovecot
    start_gateway
    GW_THREADS0=$(awk '/^Threads:/ {print $2}' "/proc/$GW_PID/status")
    run_idle gateway
    run_idle dovecot
fi

# ---------------------------------------------------------------- report
GW_ERRORS=$(grep -ciE 'fail|error|exception|crit' "$WORK/gateway.log" || true)
DC_WARN=$(grep -iE 'warning|error|fatal|panic' "$DC_DIR/dovecot.log" | grep -vc 'Killed with signal 15' || true)
kept=" (removed; KEEP_WORK=1 keeps it)"
[[ $KEEP_WORK == 1 || $WARNINGS != 0 ]] && kept=" (kept: $WARNINGS warning(s))"
if [[ $DOVECOT_TLS == 1 ]]; then
    transport="both over implicit TLS (gateway $GW_TLS; dovecot $DC_TLS)"
else
    transport="NOT EQUAL: gateway over implicit TLS ($GW_TLS), dovecot in PLAINTEXT (DOVECOT_TLS=0)"
fi

row() { printf '%-44s %12s %12s %10s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
{
    echo
    echo "== details"
    echo "gateway: $GATEWAY_DLL; $GW_ERRORS error-ish line(s) in its log"
    echo "dovecot: $DC_VERSION, imap-login mode '$DOVECOT_LOGIN'; $DC_WARN warning/error line(s) in its log (its SIGTERM stops not counted)"
    echo "transport: $transport"
    for name in gateway dovecot; do
        for what in headers bodies; do
            echo "FETCH $what $name per round: msg/s ${RATES[$name/$what]}| MB/s ${MBS[$name/$what]}| client CPU ${CPU[$name/$what]}"
        done
    done
    if ((IDLE_CONNECTIONS > 0)); then
        for name in gateway dovecot; do
            echo "IDLE $name: ${IDLE_OPEN[$name]} of $IDLE_CONNECTIONS connections idling (set up in ${IDLE_SETUP[$name]} s, $IDLE_BATCH at a time);" \
                "RSS $(mib "${RSS0[$name]}") -> $(mib "${RSS1[$name]}") MiB, PSS $(mib "${PSS0[$name]}") -> $(mib "${PSS1[$name]}") MiB," \
                "processes ${NPROC0[$name]} -> ${NPROC1[$name]}; RSS $(mib "${RSS2[$name]}") MiB after close; ${IDLE_ERRS[$name]} failed to set up"
        done
        echo "gateway threads: $GW_THREADS0 before the IDLE connections"
    fi
    echo "work directory: $WORK$kept"
    echo
    echo "== summary ($MESSAGES messages of $SIZE bytes; FETCH: median of $ROUNDS rounds, $HEADER_REPEAT FETCH headers commands each; $(nproc) cores; load average $LOAD_START at the start)"
    echo "transport: $transport"
    printf '%-44s %12s %12s %10s\n' "" gateway dovecot "gw/dovecot"
    row "APPEND load (msg/s, 1 run, $APPEND_WINDOW in flight)" "${APPEND_RATE[gateway]}" "${APPEND_RATE[dovecot]}"
    for what in headers bodies; do
        row "FETCH $what msg/s" "$(median ${RATES[gateway/$what]})" "$(median ${RATES[dovecot/$what]})"
        row "FETCH $what MB/s" "$(median ${MBS[gateway/$what]})" "$(median ${MBS[dovecot/$what]})"
    done
    for key in "${SEARCH_KEYS[@]}"; do
        row "UID SEARCH $key (ms)" "$(median ${SEARCH_MS[gateway/$key]})" "$(median ${SEARCH_MS[dovecot/$key]})"
        row "  the same again in the session (ms)" "$(median ${SEARCH_AGAIN_MS[gateway/$key]})" "$(median ${SEARCH_AGAIN_MS[dovecot/$key]})"
    done
    ((BIG_APPEND > 0)) && row "one APPEND of $BIG_APPEND B: RSS growth MiB" "${BIG_RSS_GROWTH[gateway]}" "${BIG_RSS_GROWTH[dovecot]}"
    for key in "${SEARCH_KEYS[@]}"; do echo "UID SEARCH $key answers: gateway ${SEARCH_ANSWER[gateway/$key]}; dovecot ${SEARCH_ANSWER[dovecot/$key]}"; done
    if ((IDLE_CONNECTIONS > 0)); then
        per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {if (n > 0) printf "%.1f", (b - a) / n; else print "n/a"}'; }
        tot() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1024}'; }
        row "IDLE x$IDLE_CONNECTIONS: RSS growth MiB" "$(tot "${RSS0[gateway]}" "${RSS1[gateway]}")" "$(tot "${RSS0[dovecot]}" "${RSS1[dovecot]}")"
        row "IDLE: RSS KiB per connection" "$(per "${RSS0[gateway]}" "${RSS1[gateway]}" "${IDLE_OPEN[gateway]}")" "$(per "${RSS0[dovecot]}" "${RSS1[dovecot]}" "${IDLE_OPEN[dovecot]}")"
        row "IDLE: PSS growth MiB" "$(tot "${PSS0[gateway]}" "${PSS1[gateway]}")" "$(tot "${PSS0[dovecot]}" "${PSS1[dovecot]}")"
        row "IDLE: PSS KiB per connection" "$(per "${PSS0[gateway]}" "${PSS1[gateway]}" "${IDLE_OPEN[gateway]}")" "$(per "${PSS0[dovecot]}" "${PSS1[dovecot]}" "${IDLE_OPEN[dovecot]}")"
        row "IDLE: setup s (TLS+LOGIN+SELECT+IDLE)" "${IDLE_SETUP[gateway]}" "${IDLE_SETUP[dovecot]}"
        for name in gateway dovecot; do
            l=${EXISTS_LINE[$name]}
            if [[ $l == EXISTS* ]]; then
                printf 'IDLE EXISTS after an APPEND, %-8s sample connection notified: %s; %s of %s notified within %s s (first %s ms, last %s ms)\n' \
                    "$name:" "$(field sample_connection_notified "$l")" "$(field notified "$l")" "${IDLE_OPEN[$name]}" \
                    "$EXISTS_WAIT" "$(field first_ms "$l")" "$(field last_ms "$l")"
            else
                echo "IDLE EXISTS after an APPEND, $name: check failed: $l"
            fi
        done
    fi
    echo "(ratio = gateway / dovecot: above 1 is better for the gateway on msg/s and MB/s, worse on memory and setup time)"
}
