#!/bin/sh
# OMERO.tables benchmark for `make bench`: bench/tables_bench.py (C engine vs PyTables, same file).
OMERO_BUILD=${BUILD:-$(pwd)/build} exec /usr/bin/python3 "$(dirname "$0")/tables_bench.py" "$@"
