#!/bin/bash
# simpair.sh: run two builds of the end-to-end benchmark (engine/host) AT THE SAME TIME, each with
# its own load child, N times, and print each one's CPU per event and the ratio B/A. The VM's speed
# drifts by a third within minutes, so runs one after the other cannot show a 5% change; two runs
# at the same time see the same drift (A against itself: 0.985-1.002). docs/BENCHMARKS.md, "Wake-ups,
# and comparing two binaries at once (session 8)".
#
# usage: testdata/bench/simpair.sh N PATTERN A.test B.test
#   go test -c -o /tmp/A.test ./engine/host   # at the commit before
#   go test -c -o /tmp/B.test ./engine/host   # at the change
#   testdata/bench/simpair.sh 4 'EndToEnd/web/engine' /tmp/A.test /tmp/B.test
# env: R events/s (1000), D measured time (10s), P the benchmark process's Ps (1; 0: the default),
#      PATB B's pattern (PATTERN), ARGS more flags for both
set -u
N=$1 PAT=$2 A=$3 B=$4
cd "$(dirname "$0")/../../engine/host" || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpu() { grep '^Bench' "$1" | grep -o '[0-9.]* cpu-µs/event' | cut -d' ' -f1 | tr '\n' ' '; }
for _ in $(seq "$N"); do
  for side in A B; do
    bin=$A pat=$PAT
    [ $side = B ] && bin=$B pat=${PATB:-$PAT}
    "$bin" -test.run '^$' -test.bench "$pat" -test.benchtime 1x -e2e.rate "${R:-1000}" -e2e.clients 32 \
      -e2e.duration "${D:-10s}" -e2e.warmup 2s -e2e.gomaxprocs "${P:-1}" ${ARGS:-} > "$out/$side" 2>&1 &
  done
  wait
  a=$(cpu "$out/A") b=$(cpu "$out/B")
  echo "A $a B $b ratio $(echo "$a $b" | awk '{ if ($1 > 0) printf "%.3f", $2 / $1 }')"
done
