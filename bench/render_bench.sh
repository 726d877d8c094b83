#!/bin/sh
# Rendering benchmark: a 1024x1024 3-channel uint16 plane rendered to JPEG by the rendering
# engine, against libjpeg-turbo encoding the same composited RGB buffer alone (the floor),
# both measured in the same process by omero-rendertool. Prints figures; asserts nothing.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
tool="$BUILD/bin/omero-rendertool"
if [ ! -x "$tool" ]; then
    echo "render_bench: $tool not built (make build/bin/omero-rendertool)" >&2
    exit 0
fi
"$tool" bench --size 1024 --reps "${RENDER_BENCH_REPS:-20}"
"$tool" bench --size 1024 --reps "${RENDER_BENCH_REPS:-20}" --threads 1
