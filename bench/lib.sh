# lib.sh: shell functions the bash benchmarks share (sourced, not run: `make bench` runs only the
# executable bench/*.sh). The sourcing script sets top (the repository) and BUILD first.

# bench_install PREFIX: `make install` into a new temporary directory $root (the grid stopped and
# the directory removed when the script exits), OMERODIR exported, o set to its omero command, and
# the port prefix, data directory ($root/data) and router host (127.0.0.1) configured.
bench_install() {
    root=$(mktemp -d /tmp/omero-bench-XXXXXX); chmod 755 "$root"
    trap '"$root/dist/bin/omero" admin stop >/dev/null 2>&1 || true; rm -rf "$root"' EXIT
    make -s -C "$top" install PREFIX="$root/dist" BUILD="$BUILD" >/dev/null
    export OMERODIR=$root/dist
    o=$OMERODIR/bin/omero
    $o config set omero.ports.prefix "$1"
    $o config set omero.data.dir "$root/data"
    $o config set omero.router.host 127.0.0.1
}

# ms: the time in milliseconds.
ms() { date +%s%N | cut -b1-13; }
