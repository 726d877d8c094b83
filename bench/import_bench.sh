#!/bin/bash
# Import benchmark (figures printed, nothing asserted): `omero import` of a multi-plane OME-TIFF
# (1 GiB by default, IMPORT_BENCH_MB to change) through the router with SHA1-160 checksums on,
# against `cp` of the same file on the same disk (the floor): with statistics and thumbnails
# skipped (upload, checksums, metadata) and the full import (statistics, rendering settings,
# thumbnails). Also prints Blitz's peak RSS.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
. "$top/bench/lib.sh"
mb=${IMPORT_BENCH_MB:-1024}
prefix=${BENCH_PREFIX:-6}
# the port prefix is taken under the test suite's lock so that a test run never collides with us
mkdir -p /tmp/omero-test-locks; exec 9>"/tmp/omero-test-locks/prefix-$prefix.lock"; flock 9
bench_install "$prefix"
$o -q admin start >/dev/null
until $o -q admin status >/dev/null 2>&1; do sleep 0.1; done
pw=$(cat "$OMERODIR/var/master/root_password")
$o -q login -s localhost -p "${prefix}4064" -u root -w "$pw" >/dev/null
src="$root/src/big.ome.tif"; mkdir -p "$root/src"
# 2048x2048 uint16 planes: 8 MiB each
/usr/bin/python3 - "$src" "$mb" <<'EOF'
import sys, numpy as np, tifffile
path, mb = sys.argv[1], int(sys.argv[2])
planes = max(1, mb // 8)
rng = np.random.default_rng(1)
plane = rng.integers(0, 4096, size=(2048, 2048), dtype=np.uint16)
with tifffile.TiffWriter(path, ome=True, bigtiff=True) as tw:
    data = np.empty((planes, 2048, 2048), dtype=np.uint16)
    for i in range(planes):
        data[i] = plane + i
    tw.write(data, metadata={"axes": "ZYX"}, photometric="minisblack")
EOF
size=$(stat -c %s "$src")
sync
mkdir -p "$root/data/cp"
t0=$(ms); cp "$src" "$root/data/cp/copy.tif"; sync; t1=$(ms)
cp_ms=$((t1 - t0)); rm -f "$root/data/cp/copy.tif"
echo "file: $((size / 1048576)) MiB; cp to the data disk (with sync): $cp_ms ms ($(awk "BEGIN{printf \"%.0f\", $size/1048576/($cp_ms/1000)}") MiB/s)"
for mode in "--skip minmax --skip thumbnails" ""; do
    t0=$(ms); $o -q import $mode "$src" >/dev/null; sync; t1=$(ms)
    imp=$((t1 - t0))
    echo "omero import ${mode:-(full: stats, settings, thumbnails)}: $imp ms ($(awk "BEGIN{printf \"%.0f\", $size/1048576/($imp/1000)}") MiB/s); ratio to cp $(awk "BEGIN{printf \"%.2f\", $cp_ms/$imp}") (aim >= 0.7)"
done
pid=$($o admin ice server pid Blitz-0)
echo "Blitz-0 peak RSS: $(awk '/VmHWM/{print $2, $3}' /proc/"$pid"/status)"
