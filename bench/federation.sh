#!/usr/bin/env bash
# federation.sh - mail between couriers, end to end: submitted over SMTPS on one courier until the
# recipient can read it over IMAPS on another, against the same path between two users of one
# courier as the baseline peer; and the extra latency of a first message that is deferred up the
# hierarchy (Q -> P -> Root -> R) before R introduces itself back to Q and mail goes direct.
#
#     bench/federation.sh
#     MESSAGES=40 SEQUENTIAL=10 DEFERRALS=1 bench/federation.sh
#
# The network is built with the gateway's own CLI exactly as the federation tests do
# (Gateway.Tests/Courier/FederationNetworkFixture.cs): every courier is `gateway run --config FILE`
# in its own process with its own GATEWAY_DATA_DIR and loopback ports. The client is
# bench/split_bench.py (Python standard library). All traffic stays on 127.0.0.1; every wait is
# bounded; the gateways started here are stopped on exit.
set -euo pipefail

MESSAGES=${MESSAGES:-100}          # messages per load run (inter-courier and same-courier)
CONCURRENCY=${CONCURRENCY:-4}      # parallel SMTP sessions in a load run
SEQUENTIAL=${SEQUENTIAL:-20}       # messages sent one at a time, per path (0 skips)
SIZE=${SIZE:-10240}                # bytes per message
WARMUP=${WARMUP:-10}               # untimed messages per path before the timed runs
DEFERRALS=${DEFERRALS:-3}          # deferred first messages, each to a fresh Private courier R1..Rn (0 skips)
FOLLOW=${FOLLOW:-5}                # direct messages after each deferred one (their median is reported)
CRL_MAX_AGE=${CRL_MAX_AGE:-3600}   # Courier:PeerCrlMaxAgeSeconds (the test network uses 2)
BASE_PORT=${BASE_PORT:-16200}      # courier i listens on BASE_PORT+4i .. +4i+3
RUN_TIMEOUT=${RUN_TIMEOUT:-600}    # bound for one client run, seconds
DEFER_TIMEOUT=${DEFER_TIMEOUT:-180} # bound for a deferred message to become readable, seconds
KEEP_WORK=${KEEP_WORK:-0}          # 1 keeps the work directory (courier logs, configs, client output)

((MESSAGES > 0 && MESSAGES <= 20000)) || { echo "MESSAGES must be 1..20000" >&2; exit 2; }
((CONCURRENCY > 0 && CONCURRENCY <= 16)) || { echo "CONCURRENCY must be 1..16" >&2; exit 2; }
((SEQUENTIAL >= 0 && SEQUENTIAL <= 10000)) || { echo "SEQUENTIAL must be 0..10000" >&2; exit 2; }
((SIZE >= 1024 && SIZE <= 10485760)) || { echo "SIZE must be 1024..10485760" >&2; exit 2; }
((WARMUP >= 0 && WARMUP <= 1000)) || { echo "WARMUP must be 0..1000" >&2; exit 2; }
((DEFERRALS >= 0 && DEFERRALS <= 10)) || { echo "DEFERRALS must be 0..10" >&2; exit 2; }
((FOLLOW > 0 && FOLLOW <= 100)) || { echo "FOLLOW must be 1..100" >&2; exit 2; }
((BASE_PORT >= 1024 && BASE_PORT <= 65000)) || { echo "BASE_PORT must be 1024..65000" >&2; exit 2; }

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
CLIENT=$HERE/split_bench.py
PASSWORD=bench-password-1
T_START=$SECONDS
log() { echo "[federation-bench +$((SECONDS - T_START))s] $*" >&2; }
die() {
    log "error: $*"
    # The couriers' own account of the failure: their warning and error lines.
    for n in "${NODES[@]}"; do
        [[ -n ${WORK:-} && -f $WORK/$n.log ]] || continue
        local bad
        bad=$(grep -E '^[0-9TZ:.-]+ (warn|fail|crit):' "$WORK/$n.log" | tail -n 8 || true)
        [[ -n $bad ]] && { echo "--- $n: last warning/error lines" >&2; echo "$bad" >&2; }
    done
    exit 1
}
for tool in dotnet python3 timeout awk nice; do command -v "$tool" >/dev/null || die "$tool is missing"; done

NODES=()
source "$HERE/gateway-dll.sh"

WORK=$(mktemp -d /tmp/federation-bench.XXXXXX)
declare -A PID=()
cleanup() {
    local rc=$?
    set +e
    local n
    for n in "${!PID[@]}"; do kill "${PID[$n]}" 2>/dev/null; done
    sleep 1
    for n in "${!PID[@]}"; do kill -9 "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; done
    if [[ $KEEP_WORK == 1 || $rc != 0 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The network: A is the Root; B a Public courier under A; Q a Private courier under B; R1..Rn
# Private couriers under A (one fresh recipient courier per deferral, since an Introduction is
# remembered). A -> B is the introduced pair (B introduces itself to A when it starts).
NODES=(a.test b.test)
((DEFERRALS > 0)) && NODES+=(q.test)
for i in $(seq 1 "$DEFERRALS"); do NODES+=("r$i.test"); done
declare -A PORT=()
idx=0
for n in "${NODES[@]}"; do PORT[$n]=$((BASE_PORT + 4 * idx)); idx=$((idx + 1)); done
delivery() { echo "${PORT[$1]}"; }
submission() { echo $((PORT[$1] + 1)); }
imaps() { echo $((PORT[$1] + 2)); }
web() { echo $((PORT[$1] + 3)); }

for n in "${NODES[@]}"; do
    for p in $(seq "${PORT[$n]}" $((PORT[$n] + 3))); do
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && die "127.0.0.1:$p is already in use (set BASE_PORT)"
    done
done

# Configuration as CourierNode.Configure writes it, except PeerCrlMaxAgeSeconds (CRL_MAX_AGE).
configure() { # configure NODE
    local n=$1 routes="" o
    for o in "${NODES[@]}"; do
        [[ $o == "$n" ]] && continue
        routes+="${routes:+,
      }{ \"Domain\": \"$o\", \"Host\": \"127.0.0.1\", \"Port\": $(delivery "$o") }"
    done
    cat >"$WORK/$n.json" <<EOF
{
  "Gateway": {
    "Hostname": "$n",
    "Domains": [ "$n" ],
    "Listeners": [
      { "Name": "delivery", "Endpoint": "127.0.0.1:$(delivery "$n")", "Role": "Delivery", "Tls": "StartTls" },
      { "Name": "submissions", "Endpoint": "127.0.0.1:$(submission "$n")", "Role": "Submission", "Tls": "Implicit" },
      { "Name": "imaps", "Endpoint": "127.0.0.1:$(imaps "$n")", "Role": "Imap", "Tls": "Implicit" }
    ],
    "Web": { "Endpoint": "127.0.0.1:$(web "$n")", "PublicUrl": "https://127.0.0.1:$(web "$n")" },
    "Delivery": { "FirstRetrySeconds": 1, "MaxRetrySeconds": 2, "Tls": "Opportunistic", "DnsServers": [ "127.0.0.1:9" ] },
    "Limits": { "AuthFailureDelayMilliseconds": 0 },
    "Courier": { "CreateRootOnFirstStart": false, "PendingCheckSeconds": 1, "PeerCrlMaxAgeSeconds": $CRL_MAX_AGE, "PeerFirstRetrySeconds": 1,
                 "Endpoint": "127.0.0.1:$(delivery "$n")" },
    "Routes": [ $routes ]
  }
}
EOF
    mkdir -p "$WORK/$n"
}

cli() { # cli NODE ARGS... (stdin passed through)
    local n=$1; shift
    env GATEWAY_DATA_DIR="$WORK/$n" DOTNET_NOLOGO=1 nice timeout 120 dotnet "$GATEWAY_DLL" "$@" --config "$WORK/$n.json" \
        >>"$WORK/cli.log" 2>&1 || { tail -n 5 "$WORK/cli.log" >&2; die "$n: gateway $* failed"; }
}
join() { # join NODE SUPERIOR ROLE [DOMAIN]
    local n=$1 sup=$2 role=$3 domain=${4:-}
    cli "$n" ca request --out "$WORK/$n.req"
    cli "$sup" ca sign "$WORK/$n.req" --role "$role" ${domain:+--domain "$domain"} --out "$WORK/$n.chain"
    cli "$n" ca install "$WORK/$n.chain" --superior "127.0.0.1:$(delivery "$sup")"
}
add_user() { echo "$PASSWORD" | cli "${1#*@}" user add "$1" --password-stdin; }

start() { # start NODE
    local n=$1
    env GATEWAY_DATA_DIR="$WORK/$n" DOTNET_NOLOGO=1 Logging__LogLevel__Default=Information \
        nice dotnet "$GATEWAY_DLL" run --config "$WORK/$n.json" >"$WORK/$n.log" 2>&1 &
    PID[$n]=$!
}
wait_listening() { # wait_listening NODE
    local n=$1 p
    for p in $(delivery "$n") $(submission "$n") $(imaps "$n") $(web "$n"); do
        for _ in $(seq 600); do
            kill -0 "${PID[$n]}" 2>/dev/null || { tail -n 20 "$WORK/$n.log" >&2; die "$n exited during start-up"; }
            timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && continue 2
            sleep 0.1
        done
        die "$n does not listen on $p after 60 s"
    done
}
log_count() { # log_count NODE PART... -> lines of NODE's log containing every PART
    local n=$1 c; shift
    c=$(grep -F -- "$1" "$WORK/$n.log" || true); shift
    local p; for p in "$@"; do c=$(grep -F -- "$p" <<<"$c" || true); done
    [[ -z $c ]] && echo 0 || wc -l <<<"$c"
}
wait_log() { # wait_log NODE TIMEOUT PART...
    local n=$1 t=$2; shift 2
    local end=$((SECONDS + t))
    while ((SECONDS < end)); do
        (($(log_count "$n" "$@") > 0)) && return 0
        kill -0 "${PID[$n]}" 2>/dev/null || die "$n exited"
        sleep 0.2
    done
    die "$n: no log line with '$*' within $t s"
}
retry_lines() { # retry_lines R -> Inter-Courier deliveries put off so far on the deferral path
    echo $(($(log_count q.test "Inter-Courier" "deferred for") + $(log_count b.test "Inter-Courier" "deferred for") +
        $(log_count a.test "Inter-Courier" "deferred for") + $(log_count "$1" "Inter-Courier" "deferred for")))
}
stamp() { # stamp NODE PART... -> ms since midnight UTC of NODE's first log line containing every PART (empty if none)
    local n=$1 c p; shift
    c=$(grep -F -- "$1" "$WORK/$n.log" || true); shift
    for p; do c=$(grep -F -- "$p" <<<"$c" || true); done
    [[ -z $c ]] && return 0
    head -n 1 <<<"$c" | awk '{split(substr($1, 12, 12), a, ":"); printf "%d\n", (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 + 0.5}'
}
expect_lines() { # expect_lines NODE COUNT PART... : NODE's log gets exactly COUNT such lines (console logging lags a little)
    local n=$1 want=$2 got; shift 2
    local end=$((SECONDS + 10))
    while got=$(log_count "$n" "$@"); ((got < want && SECONDS < end)); do sleep 0.2; done
    ((got == want)) || die "$n logged $got lines with '$*', expected $want"
}
wire() { # wire NODE SENDER -> median size of the messages NODE accepted from SENDER
    grep -F "from <$2> for " "$WORK/$1.log" | sed -n 's/.*recipient(s), \([0-9]*\) octets.*/\1/p' | median
}
bad_lines() { grep -cE '^[0-9TZ:.-]+ (warn|fail|crit):' "$WORK/$1.log" || true; }

client() { # client SMTP_NODE IMAP_NODE SENDER RECIPIENT MESSAGES [--sequential|--concurrency C] [extra...]
    local s=$1 r=$2 from=$3 to=$4 count=$5; shift 5
    nice timeout "$RUN_TIMEOUT" python3 "$CLIENT" --smtp-port "$(submission "$s")" --imap-port "$(imaps "$r")" --sender "$from" \
        --recipients "$to" --password "$PASSWORD" --messages "$count" --size "$SIZE" "$@" 2>>"${CLIENT_ERR:-$WORK/client.err}"
}
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<"$2" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0 || a == "n/a") print "n/a"; else printf "%.2f", a / b}'; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "gateway $GATEWAY_DLL; couriers ${NODES[*]}; $(nproc) cores, load average $LOAD_AT_START"
log "building the network with the CLI"
for n in "${NODES[@]}"; do configure "$n"; done
cli a.test ca init --root
join b.test a.test public
add_user a1@a.test; add_user a2@a.test; add_user b1@b.test
if ((DEFERRALS > 0)); then
    join q.test b.test private q.test
    add_user alice@q.test; add_user carol@q.test
    for i in $(seq 1 "$DEFERRALS"); do
        join "r$i.test" a.test private "r$i.test"
        add_user "bob@r$i.test"; add_user "rita@r$i.test"
    done
fi

# Superiors first (the tests start all at once; then a courier's first CRL fetch from its superior can miss, and
# the Introductions from below are refused with 451 until it is at hand, which only adds noise to the logs).
log "starting ${#NODES[@]} couriers"
start a.test; wait_listening a.test
for n in "${NODES[@]}"; do [[ $n == b.test || $n == r*.test ]] && start "$n"; done
for n in "${NODES[@]}"; do [[ $n == b.test || $n == r*.test ]] && wait_listening "$n"; done
if ((DEFERRALS > 0)); then start q.test; wait_listening q.test; fi
# Couriers below introduce themselves to their superior when they start (each element on its own).
for element in Foreground Background; do
    wait_log a.test 60 "$element recorded peer b.test"
    if ((DEFERRALS > 0)); then
        wait_log b.test 60 "$element recorded peer q.test"
        for i in $(seq 1 "$DEFERRALS"); do wait_log a.test 60 "$element recorded peer r$i.test"; done
    fi
done
log "network up (set-up $((SECONDS - T_START)) s)"

# --- 1 and 2: inter-courier a1@a.test -> b1@b.test against same-courier a1@a.test -> a2@a.test
declare -A LOAD=() SINGLE=()
for path in inter same; do
    if [[ $path == inter ]]; then rn=b.test; rcpt=b1@b.test; else rn=a.test; rcpt=a2@a.test; fi
    if ((WARMUP > 0)); then
        log "$path: warm-up, $WARMUP messages a1@a.test -> $rcpt"
        client a.test "$rn" a1@a.test "$rcpt" "$WARMUP" --concurrency "$CONCURRENCY" >/dev/null || die "$path warm-up failed"
    fi
done
for path in inter same; do
    if [[ $path == inter ]]; then rn=b.test; rcpt=b1@b.test; else rn=a.test; rcpt=a2@a.test; fi
    log "$path: load, $MESSAGES messages from $CONCURRENCY sessions a1@a.test -> $rcpt"
    LOAD[$path]=$(client a.test "$rn" a1@a.test "$rcpt" "$MESSAGES" --concurrency "$CONCURRENCY" --timeout "$RUN_TIMEOUT") \
        || die "$path load run failed: ${LOAD[$path]:-no result}"
    log "$path: ${LOAD[$path]}"
done
for path in inter same; do
    if [[ $path == inter ]]; then rn=b.test; rcpt=b1@b.test; else rn=a.test; rcpt=a2@a.test; fi
    if ((SEQUENTIAL > 0)); then
        log "$path: $SEQUENTIAL messages one at a time a1@a.test -> $rcpt"
        SINGLE[$path]=$(client a.test "$rn" a1@a.test "$rcpt" "$SEQUENTIAL" --sequential --timeout "$RUN_TIMEOUT") \
            || die "$path sequential run failed: ${SINGLE[$path]:-no result}"
        log "$path: ${SINGLE[$path]}"
    else
        SINGLE[$path]="RESULT p50_ms=n/a p99_ms=n/a"
    fi
done
# Every inter-courier message went directly, one hop, each part on its own path (as the couriers log it).
inter_total=$((WARMUP + MESSAGES + SEQUENTIAL))
expect_lines a.test "$inter_total" "Foreground relays ContentPart" "to b.test" "(hop 1)"
expect_lines a.test "$inter_total" "Background relays Arm" "to b.test" "(hop 1)"
expect_lines b.test "$inter_total" "Foreground stored content part" "(from a.test, hop 1)"
expect_lines b.test "$inter_total" "Background stored" "(from a.test, hop 1)"

# --- 3: the deferred first message, then direct ones, each repetition to a fresh R
DEFER_ROWS=()
TIMELINES=()
for i in $(seq 1 "$DEFERRALS"); do
    r=r$i.test
    if ((i == 1)); then
        log "deferral: warm-up on q.test (alice -> carol, same courier)"
        client q.test q.test alice@q.test carol@q.test 3 --sequential >/dev/null || die "warm-up on q.test failed"
    fi
    log "deferral $i: warm-up on $r (rita -> bob, same courier)"
    client "$r" "$r" "rita@$r" "bob@$r" 3 --sequential >/dev/null || die "warm-up on $r failed"
    retries_before=$(retry_lines "$r")
    log "deferral $i: first message alice@q.test -> bob@$r (Q -> P -> Root -> R)"
    first=$(client q.test "$r" alice@q.test "bob@$r" 1 --sequential --timeout "$DEFER_TIMEOUT") \
        || die "the deferred first message to bob@$r was not readable within $DEFER_TIMEOUT s: ${first:-no result}"
    first_ms=$(field p50_ms "$first")
    retries=$(($(retry_lines "$r") - retries_before))
    # Q deferred both parts to P, P to the Root, and the Root relayed them to R (hop 3). (R's own "stored" lines are
    # not required: when a part's handling fails after the store, its retry does not log one; see the warnings.)
    expect_lines q.test 1 "Foreground defers ContentPart" "bob@$r" "to b.test" "(hop 1)"
    expect_lines q.test 1 "Background defers Arm" "bob@$r" "to b.test" "(hop 1)"
    expect_lines b.test 1 "Foreground defers ContentPart" "bob@$r" "to a.test" "(hop 2)"
    expect_lines b.test 1 "Background defers Arm" "bob@$r" "to a.test" "(hop 2)"
    expect_lines a.test 1 "Foreground relays ContentPart" "bob@$r" "to $r" "(hop 3)"
    expect_lines a.test 1 "Background relays Arm" "bob@$r" "to $r" "(hop 3)"
    # The queue id of the first message (from b.test's deferral line), for its timeline.
    first_id=$(grep -F "Foreground defers ContentPart" "$WORK/b.test.log" | grep -F "bob@$r" | sed -n 's/.*defers ContentPart \([^ ]*\) for.*/\1/p' | head -n 1)
    log "deferral $i: first message readable after $first_ms ms (queue id $first_id); waiting for $r to introduce itself to q.test"
    wait_log q.test 30 "Foreground recorded peer $r" "from Introduction"
    wait_log q.test 30 "Background recorded peer $r" "from Introduction"
    follow=$(CLIENT_ERR=$WORK/follow-$i.txt client q.test "$r" alice@q.test "bob@$r" "$FOLLOW" --sequential --dump --timeout "$RUN_TIMEOUT") \
        || die "the direct messages to bob@$r failed: ${follow:-no result}"
    cat "$WORK/follow-$i.txt" >>"$WORK/client.err"
    direct_ms=$(awk '{print $2}' "$WORK/follow-$i.txt" | median)
    # The following messages went directly Q -> R, and never through P.
    expect_lines q.test "$FOLLOW" "Foreground relays ContentPart" "bob@$r" "to $r" "(hop 1)"
    expect_lines q.test "$FOLLOW" "Background relays Arm" "bob@$r" "to $r" "(hop 1)"
    expect_lines b.test 2 "bob@$r" "defers"
    log "deferral $i: direct messages $(awk '{printf "%s ", $2}' "$WORK/follow-$i.txt")ms (median $direct_ms); Inter-Courier retries during the first: $retries"
    # Where the first message's time went, from the couriers' own log lines (UTC timestamps, ms after Q accepted it).
    t0=$(stamp q.test "Accepted message $first_id")
    since() { local t; t=$(stamp "$@"); [[ -n $t && -n $t0 ]] && echo "+$((t - t0))" || echo "?"; }
    TIMELINES+=("$r: content part sent by Q $(since q.test "Foreground sent Inter-Courier ContentPart $first_id"), by P $(since b.test "Foreground sent Inter-Courier ContentPart $first_id"), by Root $(since a.test "Foreground sent Inter-Courier ContentPart $first_id"), handled by R $(since "$r" "Foreground stored content part $first_id");"
        "    ARM sent by Q $(since q.test "Background sent Inter-Courier Arm $first_id"), by P $(since b.test "Background sent Inter-Courier Arm $first_id"), by Root $(since a.test "Background sent Inter-Courier Arm $first_id"), handled by R $(since "$r" "Background stored ARM $first_id");"
        "    R's Introduction recorded on Q by its Foreground $(since q.test "Foreground recorded peer $r" "from Introduction"), Background $(since q.test "Background recorded peer $r" "from Introduction")")
    grep -hF "$first_id" "$WORK/q.test.log" "$WORK/b.test.log" "$WORK/a.test.log" "$WORK/$r.log" | sort >"$WORK/timeline-$i.txt" || true
    DEFER_ROWS+=("$i $first_ms $direct_ms $retries")
done

# --- summary
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at the start $LOAD_AT_START, at the end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "$MESSAGES messages of $SIZE bytes"
printf '\n%-30s %9s %11s %11s %13s %13s\n' "path" "msg/s" "load p50 ms" "load p99 ms" "single p50 ms" "single p99 ms"
for path in inter same; do
    name="inter-courier a.test -> b.test"; [[ $path == same ]] && name="same-courier a.test -> a.test"
    printf '%-30s %9s %11s %11s %13s %13s\n' "$name" "$(field rate "${LOAD[$path]}")" "$(field p50_ms "${LOAD[$path]}")" \
        "$(field p99_ms "${LOAD[$path]}")" "$(field p50_ms "${SINGLE[$path]}")" "$(field p99_ms "${SINGLE[$path]}")"
done
printf '%-30s %9s %11s %11s %13s %13s\n' "ratio inter/same" \
    "$(ratio "$(field rate "${LOAD[inter]}")" "$(field rate "${LOAD[same]}")")" \
    "$(ratio "$(field p50_ms "${LOAD[inter]}")" "$(field p50_ms "${LOAD[same]}")")" \
    "$(ratio "$(field p99_ms "${LOAD[inter]}")" "$(field p99_ms "${LOAD[same]}")")" \
    "$(ratio "$(field p50_ms "${SINGLE[inter]}")" "$(field p50_ms "${SINGLE[same]}")")" \
    "$(ratio "$(field p99_ms "${SINGLE[inter]}")" "$(field p99_ms "${SINGLE[same]}")")"
echo
echo "msg/s: $MESSAGES messages from $CONCURRENCY SMTP sessions, divided by the time from the first submission until all were readable."
echo "latency: SMTP transaction start until the recipient's full-body FETCH returned the original text (not the notice);"
echo "  load = during the $MESSAGES-message run (includes queueing), single = $SEQUENTIAL messages one at a time."
echo "sizes (median octets as the receiving courier's SMTP logged them): submitted $(wire a.test a1@a.test)," \
    "Inter-Courier a.test -> b.test content part $(wire b.test foreground@a.test), ARM $(wire b.test background@a.test)"
if ((DEFERRALS > 0)); then
    echo
    printf '%-36s %9s %16s %9s %8s\n' "deferral alice@q.test -> bob@rN.test" "first ms" "direct median ms" "extra ms" "retries"
    for row in "${DEFER_ROWS[@]}"; do
        read -r i f d t <<<"$row"
        printf '%-36s %9s %16s %9s %8s\n' "r$i.test (fresh)" "$f" "$d" "$(awk -v f="$f" -v d="$d" 'BEGIN {print (d ~ /^[0-9]+$/ ? f - d : "n/a")}')" "$t"
    done
    if ((DEFERRALS > 1)); then
        mf=$(for row in "${DEFER_ROWS[@]}"; do echo "$row" | awk '{print $2}'; done | median)
        md=$(for row in "${DEFER_ROWS[@]}"; do echo "$row" | awk '{print $3}'; done | median)
        me=$(for row in "${DEFER_ROWS[@]}"; do echo "$row" | awk '{print $2 - $3}'; done | median)
        printf '%-36s %9s %16s %9s\n' "median of $DEFERRALS" "$mf" "$md" "$me"
    fi
    echo
    echo "first = the deferred message (Q -> P -> Root -> R, both parts, 3 hops each), submit to readable;"
    echo "direct = median of the $FOLLOW following messages, one at a time, after R introduced itself to Q (1 hop);"
    echo "retries = Inter-Courier deliveries the couriers put off (\"deferred for\") while the first message travelled."
    echo
    echo "first message, ms after Q accepted it (the couriers' log timestamps; \"sent\" is logged when the next courier's 250 was"
    echo "read; R's Foreground logs once the content part is in the INBOX, R's Background only after it also recorded Q and queued"
    echo "its Introduction to Q; ? = no such log line):"
    printf '  %s\n' "${TIMELINES[@]}"
fi
echo
printf 'courier warning/error log lines:'; for n in "${NODES[@]}"; do printf ' %s %s' "$n" "$(bad_lines "$n")"; done; echo
for n in "${NODES[@]}"; do
    (($(bad_lines "$n") > 0)) || continue
    echo "  $n (first 5, shortened):"
    grep -E '^[0-9TZ:.-]+ (warn|fail|crit):' "$WORK/$n.log" | head -n 5 |
        sed -E 's/^[^ ]+ //; s/ => ConnectionId:[^ ]+ => session=[^ ]+ listener=[^ ]+ client=[^ ]+//' | cut -c1-300 | sed 's/^/    /'
done
