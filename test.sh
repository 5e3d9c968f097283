#!/usr/bin/env bash
# Runs the whole test suite. First installs, with apt-get, the real SMTP peers the tests talk to
# (swaks, curl, msmtp, openssl, gpgsm, Postfix and its smtp-source/smtp-sink), if any is missing.
# Long runs (benchmarks) are separate: see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")"

need_install=0
for tool in swaks curl msmtp openssl gpgsm /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
  command -v "$tool" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  echo "test.sh: installing test peers with apt-get" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # "No configuration": the package must not set up or start a system-wide MTA; tests run private instances.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    swaks curl msmtp openssl gpgsm gpg-agent ca-certificates postfix libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl >/dev/null
fi

dotnet build gateway.sln -c Release -nologo -v quiet
output=$(mktemp)
trap 'rm -f "$output"' EXIT
set +e
dotnet test gateway.sln -c Release --no-build -nologo 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e
# One plain summary line: "tests: N passed, N failed, N skipped".
summary=$(grep -E "^(Passed|Failed)! +- " "$output" | tail -1 || true)
if [ -n "$summary" ]; then
  passed=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*Failed: *([0-9]+),.*/\1/' <<<"$summary")
  skipped=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
