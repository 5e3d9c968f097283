#!/usr/bin/env bash
# Coverage-guided fuzzing of one target with SharpFuzz and AFL++ (on demand; the default tests run a short,
# unguided mutation pass over the same targets). Installs afl++ with apt-get and the sharpfuzz tool when missing.
#
#   fuzz/run.sh smtp|imap|mime|courier [SECONDS]      (default 600)
#
# The gateway's own assembly and MimeKit are instrumented. Crashes and hangs AFL finds are copied to
# fuzz/findings/TARGET/; once fixed, move them to fuzz/regressions/TARGET/, which the test suite replays on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh smtp|imap|mime|courier [seconds]}
seconds=${2:-600}
[ -d "fuzz/corpus/$target" ] || { echo "fuzz/run.sh: no corpus for '$target'" >&2; exit 2; }

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing afl++ with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends afl++ >/dev/null
fi
tools="$PWD/fuzz/.tools"
[ -x "$tools/sharpfuzz" ] || dotnet tool install --tool-path "$tools" SharpFuzz.CommandLine --version 2.3.0 >/dev/null

work=$(mktemp -d /tmp/gateway-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
dotnet publish fuzz/Gateway.Fuzz.csproj -c Release -o "$work/bin" -nologo -v quiet
for assembly in gateway.dll MimeKit.dll; do "$tools/sharpfuzz" "$work/bin/$assembly" >/dev/null; done

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
echo "fuzz/run.sh: fuzzing '$target' for $seconds s" >&2
afl-fuzz -i "fuzz/corpus/$target" -o "$work/findings" -t 10000 -m none -V "$seconds" -- dotnet "$work/bin/Gateway.Fuzz.dll" "$target" >"$work/afl.log" 2>&1 || {
  echo "fuzz/run.sh: afl-fuzz stopped with an error:" >&2; tail -20 "$work/afl.log" >&2; exit 1; }

stats="$work/findings/default/fuzzer_stats"
value() { sed -n "s/^$1 *: *//p" "$stats"; }
crashes=$(find "$work/findings/default/crashes" -name 'id*' 2>/dev/null | wc -l)
hangs=$(find "$work/findings/default/hangs" -name 'id*' 2>/dev/null | wc -l)
if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
  mkdir -p "fuzz/findings/$target"
  find "$work/findings/default/crashes" "$work/findings/default/hangs" -name 'id*' -exec cp {} "fuzz/findings/$target/" \;
fi
echo "fuzz $target: $(value execs_done) executions in $(value run_time) s ($(value execs_per_sec)/s), $(value corpus_count) paths in the corpus, coverage $(value bitmap_cvg); $crashes crash(es), $hangs hang(s)$([ "$crashes$hangs" = 00 ] || echo " (copied to fuzz/findings/$target)")"
[ "$crashes" = 0 ] && [ "$hangs" = 0 ]
