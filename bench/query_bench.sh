#!/bin/sh
# IQuery benchmark for `make bench`: findAllByQuery of 10,000 images through the router vs the
# same SQL in psql, and the HQL translation rate (tests/integration/bench_query_update.py).
cd "$(dirname "$0")/.." && OMERO_BUILD=${BUILD:-$(pwd)/build} exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
    tests/integration/bench_query_update.py "$@"
