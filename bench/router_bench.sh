#!/bin/sh
# router_bench.sh: the router's throughput and latency for an authenticated trivial call
# (IConfig.getVersion with X-OMERO-Session) over keep-alive TLS, measured with wrk at 1, 50 and
# 500 connections, next to the same call made directly to the backend over ZeroMQ at the same
# concurrency (omero-fakegrid bench); the ratio is the router's cost. Prints figures, asserts nothing.
#
#   bench/router_bench.sh                      a fake grid (omero-fakegrid registry + backend) in /tmp
#   OMERODIR=/path OMERO_SESSION=key bench/router_bench.sh
#                                              a running real grid: its router and a Blitz from its registry
# Environment: BUILD (build directory), SECONDS_PER_RUN (default 5), CONNS (default "1 50 500"),
# ROUTER_THREADS (fake grid only: omero.router.threads; default: the router's own default).
set -eu
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
BIN=$BUILD/bin
SECS=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-"1 50 500"}
command -v wrk >/dev/null || { echo "router_bench: wrk is not installed (apt-get install wrk)"; exit 0; }
[ -x "$BIN/omero-fakegrid" ] || { echo "router_bench: build first ($BIN/omero-fakegrid missing)"; exit 0; }

WORK=$(mktemp -d /tmp/router-bench-XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ -n "${OMERODIR:-}" ] && [ -n "${OMERO_SESSION:-}" ]; then
    MODE="grid at $OMERODIR"
    SESSION=$OMERO_SESSION
    CFG="$OMERODIR/etc/grid/config.yaml"
    get() { sed -n "s/^\"\{0,1\}$1\"\{0,1\}: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$CFG" 2>/dev/null | head -1; }
    PREFIX=$(get omero.ports.prefix)
    SSL=$(get omero.ports.ssl); SSL=${PREFIX}${SSL:-4064}
    REG=$(get omero.ports.registry); REG=${PREFIX}${REG:-4061}
    CA=$(get omero.glacier2.IceSSL.DefaultDir); CA=${CA:-$OMERODIR/etc/certs}/ca.pem
    KEYDIR=$OMERODIR/etc/grid/keys
    ENDPOINT=$("$BIN/omero-fakegrid" call --endpoint "tcp://127.0.0.1:$REG" --keydir "$KEYDIR" Registry.lookup \
               '{"service":"IConfig"}' | sed -n 's/.*"endpoint": *"\([^"]*\)".*/\1/p')
else
    MODE="fake grid (omero-fakegrid backend, 4 workers)"
    SESSION=sess-alice
    export OMERODIR=$WORK/omero
    mkdir -p "$OMERODIR/etc/grid"
    SSL=$(free_port); REG=$(free_port)
    printf '"omero.ports.ssl": "%s"\n"omero.ports.registry": "%s"\n"omero.router.host": "127.0.0.1"\n"omero.router.access_log": "off"\n"omero.logging.level": "WARN"\n' \
        "$SSL" "$REG" > "$OMERODIR/etc/grid/config.yaml"
    if [ -n "${ROUTER_THREADS:-}" ]; then
        printf '"omero.router.threads": "%s"\n' "$ROUTER_THREADS" >> "$OMERODIR/etc/grid/config.yaml"
    fi
    export OMERO_KEYDIR=$OMERODIR/etc/grid/keys OMERO_REGISTRY=tcp://127.0.0.1:$REG
    "$BIN/omero-fakegrid" registry --endpoint "$OMERO_REGISTRY" --keydir "$OMERO_KEYDIR" >"$WORK/registry.out" 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.5
    OMERO_SERVER_ID=Blitz-0 FAKEGRID_WORKERS=4 "$BIN/omero-fakegrid" backend >"$WORK/blitz.out" 2>&1 &
    PIDS="$PIDS $!"
    OMERO_SERVER_ID=OMERO.Glacier2 "$BIN/omero-router" >"$WORK/router.out" 2>&1 &
    PIDS="$PIDS $!"
    CA=$OMERODIR/etc/certs/ca.pem
    KEYDIR=$OMERO_KEYDIR
    for i in $(seq 1 100); do
        ENDPOINT=$("$BIN/omero-fakegrid" call --endpoint "$OMERO_REGISTRY" --keydir "$KEYDIR" Registry.lookup \
                   '{"service":"IConfig"}' 2>/dev/null | sed -n 's/.*"endpoint": *"\([^"]*\)".*/\1/p')
        [ -n "$ENDPOINT" ] && [ -f "$CA" ] && break
        sleep 0.1
    done
    sleep 1
fi
[ -n "$ENDPOINT" ] || { echo "router_bench: no IConfig server found in the registry"; exit 0; }
URL=https://127.0.0.1:$SSL/rpc/v1/IConfig/getVersion

cat > "$WORK/call.lua" <<LUA
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-OMERO-Session"] = "$SESSION"
LUA

check=$(curl -s --cacert "$CA" -H "X-OMERO-Session: $SESSION" -d '{}' "https://localhost:$SSL/rpc/v1/IConfig/getVersion" || true)
echo "router_bench: $MODE; router https://localhost:$SSL, backend $ENDPOINT; ${SECS}s per run"
echo "router_bench: probe answer: $check"

# p99 from wrk's latency distribution, in ms.
p99_ms() {
    awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         if (u == "us") v = v / 1000; else if (u == "s") v = v * 1000; else if (u == "m") v = v * 60000;
         printf "%.2f", v }'
}

printf '%-6s %12s %10s %12s %10s %8s %8s\n' conns router_rps p99_ms direct_rps p99_ms ratio errors
for c in $CONNS; do
    t=2; [ "$c" -lt 2 ] && t=1
    out=$(wrk -t"$t" -c"$c" -d"${SECS}s" --timeout 10s --latency -s "$WORK/call.lua" "$URL" 2>&1)
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')
    p99=$(printf '%s\n' "$out" | p99_ms)
    errs=$(printf '%s\n' "$out" | awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }')
    direct=$("$BIN/omero-fakegrid" bench --endpoint "$ENDPOINT" --keydir "$KEYDIR" --op IConfig.getVersion --conns "$c" \
             --seconds "$SECS" --session "$SESSION")
    drps=$(printf '%s' "$direct" | sed -n 's/.*"rps": \([0-9.]*\).*/\1/p')
    dp99=$(printf '%s' "$direct" | sed -n 's/.*"p99_ms": \([0-9.]*\).*/\1/p')
    ratio=$(awk -v a="${rps:-0}" -v b="${drps:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    printf '%-6s %12s %10s %12s %10s %8s %8s\n' "$c" "${rps:-0}" "${p99:-n/a}" "${drps:-0}" "${dp99:-n/a}" "$ratio" "$errs"
done
echo "router_bench: ratio = router req/s / direct ZeroMQ req/s at the same concurrency (1.00 = no overhead);"
echo "router_bench: machine load now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
