#!/bin/sh
# Builds the example courier network of compose.yaml with the gateway's own CLI, as an operator would:
#   root.test  the Root (self-signed courier CA; invites unknown addresses)
#   p.test     a Public courier under the Root, on three hosts (Agent, Foreground, Background apart)
#   q.test     a Private courier under p.test, serving q.test only, split over two hosts (its Background apart)
# and one user on each (password from USER_PASSWORD). Run once before the couriers start; a second run does
# nothing. Each courier has its own data directory: $DATA/root, $DATA/p (and $DATA/p-fg, $DATA/p-bg), $DATA/q (and
# $DATA/q-bg); requests and signed chains
# pass through $DATA/exchange, as they would by mail or on a USB stick between operators.
#
# In compose.yaml the 'setup' service runs it. Without containers, e.g.:
#   GATEWAY="dotnet Gateway/bin/Release/net10.0/gateway.dll" CONFIG=config/federation DATA=/tmp/fed sh config/federation/setup.sh
set -eu
GATEWAY=${GATEWAY:-"dotnet /app/gateway.dll"}
CONFIG=${CONFIG:-/etc/gateway/federation}
DATA=${DATA:-/data}
USER_PASSWORD=${USER_PASSWORD:-change-me-please}

if [ -f "$DATA/exchange/network-ready" ]; then
    echo "setup: the network was built before ($DATA/exchange/network-ready); nothing to do"
    exit 0
fi
mkdir -p "$DATA/root" "$DATA/p" "$DATA/p-fg" "$DATA/p-bg" "$DATA/q" "$DATA/q-bg" "$DATA/exchange"

# cli COURIER ARGS...: the gateway CLI on one courier's configuration and data directory.
cli() {
    cli_courier=$1; shift
    GATEWAY_DATA_DIR="$DATA/$cli_courier" $GATEWAY "$@" --config "$CONFIG/$cli_courier.test.json"
}

# join COURIER SUPERIOR ROLE [DOMAIN]: certificate request, signature by the superior, installation. The superior's
# elements listen at SUPERIOR_FG and SUPERIOR_BG (default: both at the superior's service).
join() {
    courier=$1 superior=$2 role=$3
    cli "$courier" ca request --out "$DATA/exchange/$courier.req"
    if [ $# -ge 4 ]; then
        cli "$superior" ca sign "$DATA/exchange/$courier.req" --role "$role" --domain "$4" --out "$DATA/exchange/$courier.chain"
    else
        cli "$superior" ca sign "$DATA/exchange/$courier.req" --role "$role" --out "$DATA/exchange/$courier.chain"
    fi
    cli "$courier" ca install "$DATA/exchange/$courier.chain" --superior "${SUPERIOR_FG:-$superior}:2525" \
        --superior-background "${SUPERIOR_BG:-$superior}:2525"
}

cli root ca init --root
join p root public
SUPERIOR_FG=p-fg SUPERIOR_BG=p-bg join q p private q.test
for pair in root:ruth@root.test p:paul@p.test q:alice@q.test; do
    printf '%s\n' "$USER_PASSWORD" | cli "${pair%%:*}" user add "${pair#*:}" --password-stdin
done

# q.test runs split over two hosts: its Background moves to a data directory of its own (service q-bg). The q
# service sets Gateway:Roles and where the Background is in its environment (compose.yaml); the set-up above ran
# with all roles, as an operator sets a courier up before splitting it.
cli q roles export background --out "$DATA/q-bg"
# p.test runs on three hosts: the Background moves out first, then the Foreground; the Agent stays in $DATA/p.
cli p roles export background --out "$DATA/p-bg"
cli p roles export foreground --out "$DATA/p-fg"

# The gateway image runs as an unprivileged user; this script may run as root to create the volumes' contents.
if [ "$(id -u)" = 0 ] && [ -n "${APP_UID:-}" ]; then chown -R "$APP_UID" "$DATA/root" "$DATA/p" "$DATA/p-fg" "$DATA/p-bg" "$DATA/q" "$DATA/q-bg"; fi
touch "$DATA/exchange/network-ready"
echo "setup: network built: root.test (Root), p.test (Public under root.test; on three hosts: $DATA/p, $DATA/p-fg, $DATA/p-bg), q.test (Private under p.test; its Background in $DATA/q-bg)"
