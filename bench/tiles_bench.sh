#!/bin/sh
# Tile-reading benchmark of the format readers against tifffile (see tiles_bench.py).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
if [ ! -x "$BUILD/bin/omero-imgdump" ]; then
    echo "tiles_bench: $BUILD/bin/omero-imgdump not built" >&2
    exit 0
fi
OMERO_BUILD="$BUILD" /usr/bin/python3 "$(dirname "$0")/tiles_bench.py" "$@"
