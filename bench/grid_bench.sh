#!/bin/bash
# Grid benchmarks (figures printed, nothing asserted):
#  - warm start: `omero admin start` (database already initialised) until `status` = 0;
#  - replacement: SIGKILL of Blitz-0 until a new Blitz-0 answers IConfig.getVersion;
#  - registry lookups per second over one connection, against a plain echo round trip
#    to a server in the same run (the reference: ZeroMQ request/reply with no directory work).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
. "$top/bench/lib.sh"
bench_install "${BENCH_PREFIX:-6}"
$o -q admin start >/dev/null
$o -q admin stop >/dev/null
t0=$(ms); $o -q admin start >/dev/null; until $o -q admin status >/dev/null 2>&1; do sleep 0.02; done; t1=$(ms)
echo "grid warm start to status 0: $((t1 - t0)) ms (aim <= 3000 ms)"
pid=$($o admin ice server pid Blitz-0)
t0=$(ms); kill -9 "$pid"
until out=$("$BUILD/bin/omero-gridcall" --timeout 200 service IConfig IConfig.getVersion 2>/dev/null) \
      && [ "$($o admin ice server pid Blitz-0 2>/dev/null)" != "$pid" ]; do sleep 0.005; done
t1=$(ms)
echo "Blitz-0 SIGKILL to replacement answering: $((t1 - t0)) ms (aim <= 1000 ms; reply $out)"
n=${BENCH_LOOKUPS:-20000}
lk=$("$BUILD/bin/omero-gridcall" --inflight 64 --count "$n" registry Registry.lookup '{"service":"IConfig"}' 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) calls\/s/\1/p')
ep=$("$BUILD/bin/omero-gridcall" registry Registry.lookup '{"service":"IConfig"}' | sed -n 's/.*"endpoint":"\([^"]*\)".*/\1/p')
ref=$("$BUILD/bin/omero-gridcall" --inflight 64 --count "$n" endpoint "$ep" IConfig.getVersion 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) calls\/s/\1/p')
echo "registry lookups: $lk/s with 64 in flight on one connection (aim >= 20000/s); reference: IConfig.getVersion on Blitz the same way: $ref/s; ratio $(awk "BEGIN{printf \"%.2f\", $lk/$ref}")"
