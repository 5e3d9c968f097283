#!/usr/bin/env bash
# Runs the whole test suite. First installs, with apt-get, the real SMTP peers the tests talk to
# (swaks, curl, msmtp, openssl, gpgsm, sslscan, Postfix and its smtp-source/smtp-sink), the IMAP clients (mbsync, Python imaplib) and the reference IMAP
# server (Dovecot) and the browser the web pages are tested in (chromium, driven headless by chromedriver), if any is missing.
# Long runs are separate: './test.sh --reliability' runs the reliability suite instead (kill -9 under load, a full
# and a read-only spool; needs root for its tmpfs mounts; RELIABILITY_KILLS sets the number of kills, default 10),
# and the benchmarks are in bench/ (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")"
suite="Category!=Reliability"
if [ "${1:-}" = "--reliability" ]; then suite="Category=Reliability"; fi

need_install=0
for tool in swaks curl msmtp mbsync python3 openssl gpgsm sslscan /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/dovecot /usr/lib/dovecot/imap \
    /usr/bin/chromium /usr/bin/chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  echo "test.sh: installing test peers with apt-get" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # "No configuration": the package must not set up or start a system-wide MTA; tests run private instances.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  # Dovecot's package starts the system-wide server (143/993) when installed, and fails to install if that start
  # fails (no init system, port taken). Tests run private instances only: while installing, a policy-rc.d
  # (the Debian way, as Docker images have one) refuses service starts; it is removed again if we made it.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# test.sh: no service starts while installing test tools\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  install_status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    swaks curl msmtp openssl gpgsm gpg-agent ca-certificates postfix sslscan libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl \
    dovecot-imapd isync python3 chromium chromium-driver >/dev/null || install_status=$?
  if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  [ "$install_status" = 0 ] || exit "$install_status"
fi

dotnet build gateway.sln -c Release -nologo -v quiet
output=$(mktemp)
trap 'rm -f "$output"' EXIT
set +e
if [ "$suite" = "Category=Reliability" ]; then
  export RELIABILITY_REPORT; RELIABILITY_REPORT=$(mktemp)
  trap 'rm -f "$output" "$RELIABILITY_REPORT"' EXIT
fi
dotnet test gateway.sln -c Release --no-build -nologo --filter "$suite" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e
if [ -n "${RELIABILITY_REPORT:-}" ] && [ -s "$RELIABILITY_REPORT" ]; then echo "reliability:"; sed 's/^/  /' "$RELIABILITY_REPORT"; fi
# One plain summary line: "tests: N passed, N failed, N skipped".
summary=$(grep -E "^(Passed|Failed)! +- " "$output" | tail -1 || true)
if [ -n "$summary" ]; then
  passed=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*Failed: *([0-9]+),.*/\1/' <<<"$summary")
  skipped=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
