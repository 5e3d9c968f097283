#!/usr/bin/env bash
# crypto-cost.sh - what the split's cryptography costs per message, through the gateway's own code, against
# `openssl speed` for the same algorithms measured in the same run (ECDSA P-256, ECDH P-256, AES-256-CBC and
# SHA-256 on the message size). Single-threaded figures; the machine has as many of them as it has cores.
#
#   bench/crypto-cost.sh            # 2 s per measurement, 10 KB messages (about half a minute)
#   SECONDS_EACH=5 SIZE=51200 bench/crypto-cost.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${SECONDS_EACH:-2}
SIZE=${SIZE:-10240}
log() { echo "crypto-cost: $*" >&2; }
die() { log "$*"; exit 1; }
command -v openssl >/dev/null || die "openssl is needed"

work=$(mktemp -d /tmp/gateway-crypto.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "building bench/crypto-cost (Release)"
dotnet build "$REPO/bench/crypto-cost/CryptoCost.csproj" -c Release -o "$work/bin" -nologo -v quiet >&2 || die "build failed"
log "measuring the gateway's code ($SECONDS_EACH s each)"
dotnet "$work/bin/CryptoCost.dll" "$SECONDS_EACH" "$SIZE" > "$work/gateway.txt"
log "measuring openssl speed"
openssl speed -seconds "$SECONDS_EACH" ecdsap256 ecdhp256 > "$work/openssl-ec.txt" 2>/dev/null
openssl speed -seconds "$SECONDS_EACH" -bytes "$SIZE" -evp aes-256-cbc > "$work/openssl-aes.txt" 2>/dev/null
openssl speed -seconds "$SECONDS_EACH" -bytes "$SIZE" -evp sha256 > "$work/openssl-sha.txt" 2>/dev/null

g() { awk -v k="$1" '$1 == k { print $2 }' "$work/gateway.txt"; }
# openssl speed's summary lines: "256 bits ecdsa (nistp256)   0.0000s   0.0001s  40000.0  15000.0" (sign/s, verify/s),
# " 256 bits ecdh (nistp256)   0.0001s  12000.0" (op/s), and "aes-256-cbc  ... <k bytes/s for SIZE>".
ossl_sign=$(awk '/ecdsa \(nistp256\)/ { print $(NF-1) }' "$work/openssl-ec.txt" | tail -1)
ossl_verify=$(awk '/ecdsa \(nistp256\)/ { print $NF }' "$work/openssl-ec.txt" | tail -1)
ossl_ecdh=$(awk '/ecdh \(nistp256\)/ { print $NF }' "$work/openssl-ec.txt" | tail -1)
ossl_aes=$(awk -v size="$SIZE" '/^(AES-256-CBC|aes-256-cbc)/ { v=$NF; sub("k","",v); print v * 1000 / size }' "$work/openssl-aes.txt" | tail -1)
ossl_sha=$(awk -v size="$SIZE" '/^(sha256|SHA256)/ { v=$NF; sub("k","",v); print v * 1000 / size }' "$work/openssl-sha.txt" | tail -1)

printf '\n%-34s %14s %14s %8s\n' "operation (one core, ops/s)" "gateway (BC)" "openssl" "ratio"
row() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-34s %14.0f %14.0f %8.2f\n", n, a, b, (b > 0 ? a / b : 0) }'; }
row "ECDSA P-256 sign" "$(g bc_ecdsa_p256_sign)" "$ossl_sign"
row "ECDSA P-256 verify" "$(g bc_ecdsa_p256_verify)" "$ossl_verify"
row "ECDH P-256" "$(g bc_ecdh_p256)" "$ossl_ecdh"
row "AES-256-CBC, $SIZE bytes" "$(g bc_aes256cbc_$SIZE)" "$ossl_aes"
row "SHA-256, $SIZE bytes" "$(g bc_sha256_$SIZE)" "$ossl_sha"

seal=$(g gateway_seal); open=$(g gateway_open); seal_fresh=$(g gateway_seal_fresh); open_fresh=$(g gateway_open_fresh)
# Per message and recipient the split seals 4 parts (the Agent: content part and ARM; the Foreground and the Background:
# one re-wrapped copy each) and opens 4 (the Foreground and the Background each open the Agent's part; the reading
# Agent opens the re-wrapped content and ARM).
# The bound: a sealed part as a standard S/MIME implementation makes it, one ECDSA signature, an ephemeral ECDH
# (key generation and derivation: 2 ECDH) and the symmetric work; an opened one, one ECDH, one signature check and the
# path validation (the certificate and the CRL: 2 more checks), and the symmetric work.
# The gateway, in steady state, reuses an ephemeral key per recipient for a minute and keeps the receiver's shared
# secret (EphemeralKeyReuse), and keeps path validations (ChainValidator): it does less than the bound's operations.
# The "fresh" figures are the first part to a recipient in a minute, where it does them all but the path.
awk -v seal="$seal" -v open="$open" -v seal_fresh="$seal_fresh" -v open_fresh="$open_fresh" -v sign="$ossl_sign" -v verify="$ossl_verify" \
    -v ecdh="$ossl_ecdh" -v aes="$ossl_aes" -v sha="$ossl_sha" -v cores="$(nproc)" 'BEGIN {
  gw_ms = 4 * 1000 / seal + 4 * 1000 / open
  fresh_ms = 4 * 1000 / seal_fresh + 4 * 1000 / open_fresh
  ossl_ms = 4 * (1000 / sign + 2000 / ecdh + 1000 / aes + 1000 / sha) + 4 * (1000 / ecdh + 3000 / verify + 1000 / aes + 1000 / sha)
  # What the gateway does per part in steady state, at openssl speed: sign + symmetric; verify + symmetric.
  done_ms = 4 * (1000 / sign + 1000 / aes + 1000 / sha) + 4 * (1000 / verify + 1000 / aes + 1000 / sha)
  printf "\n%-56s %8.0f ops/s\n", "gateway: seal a part (sign+encrypt)", seal
  printf "%-56s %8.0f ops/s\n", "gateway: open a part (decrypt+verify+path)", open
  printf "%-56s %8.0f ops/s\n", "gateway: seal, first to its recipient this minute", seal_fresh
  printf "%-56s %8.0f ops/s\n", "gateway: open, first from its originator key this minute", open_fresh
  printf "\ncrypto per message and recipient (4 seals + 4 opens): gateway %.2f ms; the standard operations at openssl speed %.2f ms; ratio %.1f\n", gw_ms, ossl_ms, gw_ms / ossl_ms
  printf "  every part the first this minute: gateway %.2f ms; ratio %.1f\n", fresh_ms, fresh_ms / ossl_ms
  printf "  the operations the gateway performs in steady state (no ECDH, paths known) at openssl speed: %.2f ms; gateway over that %.1f\n", done_ms, gw_ms / done_ms
  printf "crypto-bound ceiling on %d core(s): %.0f msg/s with the gateway code (compare bench/split-pipeline.sh, 1 recipient)\n", cores, cores * 1000 / gw_ms
}'
