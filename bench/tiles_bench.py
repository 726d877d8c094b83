#!/usr/bin/python3
"""Random 256x256 tile reads from a pyramidal tiled OME-TIFF (SubIFDs, deflate): the format
readers (omero-imgdump --tiles, one process, timed inside) against tifffile decoding the
same tiles in this process. Prints tiles/s for both and the ratio; asserts nothing about
speed, only that both read the same bytes.
Usage: bench/tiles_bench.py [--tiles N] [--size PX]   (OMERO_BUILD names the build dir)"""
import argparse
import json
import os
import random
import subprocess
import tempfile
import time

import numpy as np
import tifffile

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
DUMP = os.path.join(BUILD, "bin", "omero-imgdump")
TILE = 256


def make_pyramid(path, size):
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(7)
    # a smooth field quantised to 32 levels plus sparse noise: realistic tiles, a small file
    data = (((np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 16 + 40).astype(np.uint16)) * 400
    data[rng.random(data.shape) < 0.01] += 7
    levels = [data, data[::2, ::2], data[::4, ::4]]
    opts = dict(tile=(TILE, TILE), compression="zlib", photometric="minisblack")
    with tifffile.TiffWriter(path, ome=True, bigtiff=True) as tw:
        tw.write(levels[0], subifds=len(levels) - 1, metadata={"axes": "YX"}, **opts)
        for lv in levels[1:]:
            tw.write(lv, subfiletype=1, metadata=None, **opts)
    return [lv.shape for lv in levels]


def tile_list(shapes, n, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        lv = rnd.randrange(len(shapes))
        h, w = shapes[lv]
        ty, tx = rnd.randrange(h // TILE), rnd.randrange(w // TILE)
        out.append((lv, tx * TILE, ty * TILE))
    return out


def ours(path, tiles, tmp):
    total, secs, checksum = 0, 0.0, 0
    for lv in sorted({t[0] for t in tiles}):
        lst = os.path.join(tmp, "tiles%d.txt" % lv)
        with open(lst, "w") as f:
            for l, x, y in tiles:
                if l == lv:
                    f.write("%d %d %d %d\n" % (x, y, TILE, TILE))
        r = json.loads(subprocess.run([DUMP, "--tiles", "0", str(lv), "0", "0", "0", lst, path],
                                      check=True, capture_output=True).stdout)
        total += r["tiles"]
        secs += r["seconds"]
        checksum += r["checksum"]
    return total, secs, checksum


def with_tifffile(path, tiles):
    checksum = 0
    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        pages = [series.levels[l].keyframe for l in range(len(series.levels))]
        fh = tf.filehandle
        t0 = time.perf_counter()
        for lv, x, y in tiles:
            page = pages[lv]
            per_row = (page.imagewidth + TILE - 1) // TILE
            index = (y // TILE) * per_row + x // TILE
            fh.seek(page.dataoffsets[index])
            raw = fh.read(page.databytecounts[index])
            arr = page.decode(raw, index)[0]
            buf = np.ascontiguousarray(arr.reshape(TILE, TILE)).view(np.uint8).ravel()
            checksum += int(buf[::61].astype(np.uint64).sum())
        secs = time.perf_counter() - t0
    return len(tiles), secs, checksum


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pyramid.ome.tif")
        shapes = make_pyramid(path, a.size)
        tiles = tile_list(shapes, a.tiles, 11)
        n1, s1, c1 = ours(path, tiles, tmp)
        n2, s2, c2 = with_tifffile(path, tiles)
        if c1 != c2:
            raise SystemExit("tiles_bench: checksums differ (%d vs %d): the readers disagree" % (c1, c2))
        r1, r2 = n1 / s1, n2 / s2
        print("tiles_bench: %d random %dx%d uint16 deflate tiles over %d levels of a %dx%d pyramid (%.1f MB file)"
              % (n1, TILE, TILE, len(shapes), a.size, a.size, os.path.getsize(path) / 1e6))
        print("tiles_bench: formats (C) %.0f tiles/s, tifffile %.0f tiles/s, ratio %.2fx" % (r1, r2, r1 / r2))


if __name__ == "__main__":
    main()
