"""Format readers (formats/, via the omero-imgdump test tool) against tifffile and PIL.

Every sample in shared/samples (except omero-tables) and files generated here are opened;
metadata is checked and every plane of every image and resolution level is compared byte
for byte with what tifffile reads (PIL, which decodes through the same libtiff/libjpeg, is
the reference only where tifffile needs the imagecodecs package that Debian lacks: LZW and
JPEG-compressed TIFF, PNG, JPEG). Bad inputs must fail with a clear message naming the
file, never with a crash or libtiff chatter on stderr.
"""
import functools
import json
import os
import resource
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest
import tifffile

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build"))
DUMP = os.path.join(BUILD, "bin", "omero-imgdump")
HERE = os.path.dirname(os.path.abspath(__file__))


def _samples_dir():
    for cand in (os.environ.get("OMERO_SAMPLES"),
                 os.path.join(HERE, "..", "..", "..", "shared", "samples"),
                 "/work/shared/samples"):
        if cand and os.path.isdir(cand):
            return os.path.abspath(cand)
    return None


SAMPLES = _samples_dir()
needs_samples = pytest.mark.skipif(SAMPLES is None, reason="shared/samples not present")

DTYPES = {"int8": "i1", "uint8": "u1", "int16": "=i2", "uint16": "=u2", "int32": "=i4",
          "uint32": "=u4", "float": "=f4", "double": "=f8", "bit": "u1"}


def run(*args, check=True):
    p = subprocess.run([DUMP, *args], capture_output=True, timeout=120)
    assert p.returncode >= 0, "omero-imgdump killed by signal %d: %s" % (-p.returncode, p.stderr)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def meta(path):
    return json.loads(run(path).stdout)


def our_planes(path, m=None):
    """{(image, level): array (T, C, Z, Y, X)} from omero-imgdump --planes."""
    m = m or meta(path)
    raw = run("--planes", path).stdout
    out, off = {}, 0
    for i, im in enumerate(m["images"]):
        dt = np.dtype(DTYPES[im["pixel_type"]])
        for l, lv in enumerate(im["levels"]):
            shape = (im["size_t"], im["size_c"], im["size_z"], lv["size_y"], lv["size_x"])
            n = int(np.prod(shape)) * dt.itemsize
            out[(i, l)] = np.frombuffer(raw[off:off + n], dtype=dt).reshape(shape)
            off += n
    assert off == len(raw), "extra bytes in --planes output"
    return out


def to_tczyx(arr, axes):
    """Reorder a tifffile array with axes (e.g. 'TZYX', 'YXS', 'IYX') to (T, C, Z, Y, X);
    samples (S) become channels (inner to C); other page axes (I, Q) count as Z."""
    arr = np.asarray(arr)
    axes = list(axes)
    assert len(axes) == arr.ndim
    merged = []
    for a in axes:
        merged.append({"I": "Z", "Q": "Z"}.get(a, a))
    # fold repeated Z (e.g. I and Z) together
    shape = dict(T=1, C=1, S=1, Z=1)
    order = []
    for a, n in zip(merged, arr.shape):
        if a in shape:
            shape[a] *= n
        if a not in order:
            order.append(a)
    for a in "TCSZ":
        if a not in order:
            arr = arr[..., np.newaxis]
            merged.append(a)
            order.append(a)
    perm = [merged.index(a) for a in "TCSZYX"]
    # repeated letters were merged only when adjacent in practice; reject anything else
    assert len(set(merged)) == len(merged), "unexpected repeated axes %s" % axes
    arr = np.transpose(arr, perm)
    t, c, s, z, y, x = arr.shape
    return arr.reshape(t, c * s, z, y, x)


def series_tczyx(series, level=None):
    s = series if level is None else series.levels[level]
    return to_tczyx(s.asarray().reshape(s.get_shape(False)), s.get_axes(False))


def assert_same(ours, ref, what):
    ref = np.ascontiguousarray(ref)
    if ref.dtype == bool:
        ref = ref.astype(np.uint8)
    assert ours.shape == ref.shape, "%s: shape %s != %s" % (what, ours.shape, ref.shape)
    assert ours.dtype.itemsize == ref.dtype.itemsize, "%s: dtype %s != %s" % (what, ours.dtype, ref.dtype)
    assert ours.tobytes() == ref.astype(ref.dtype.newbyteorder("=")).tobytes(), "%s: pixels differ" % what


def compare_tifffile(path, m=None):
    """Every image and level of path equals tifffile's series (same order)."""
    m = m or meta(path)
    ours = our_planes(path, m)
    with tifffile.TiffFile(path) as tf:
        series = tf.series
        assert len(series) == len(m["images"]), "series count"
        for i, s in enumerate(series):
            assert len(s.levels) == len(m["images"][i]["levels"]), "levels of image %d" % i
            for l in range(len(s.levels)):
                assert_same(ours[(i, l)], series_tczyx(s, l), "%s image %d level %d" % (path, i, l))
    return m


def pil_frames(path):
    Image = pytest.importorskip("PIL.Image")
    ImageSequence = pytest.importorskip("PIL.ImageSequence")
    with Image.open(path) as im:
        return [np.array(f) for f in ImageSequence.Iterator(im)]


def yx_c(arr):
    """PIL array (Y, X) or (Y, X, S) -> (1, C, 1, Y, X)."""
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.transpose(arr, (2, 0, 1))[None, :, None]


# ---------------------------------------------------------------- samples

SAMPLE_EXPECT = {
    # file: (format, images [(sizeX, sizeY, Z, C, T, type, levels)], physical size X (µm) or None)
    "cellprofiler-examplehuman/AS_09125_050116030001_D03f00d0.tif":
        ("TIFF", [(512, 512, 1, 1, 1, "uint8", 1)], 25400 / 72),
    "ome-artificial/4D-series.ome.tiff": ("OME-TIFF", [(439, 167, 5, 1, 7, "int8", 1)], None),
    "ome-artificial/multi-channel-time-series.ome.tiff": ("OME-TIFF", [(439, 167, 1, 3, 7, "int8", 1)], None),
    "ome-artificial/multi-channel-z-series.ome.tiff": ("OME-TIFF", [(439, 167, 5, 3, 1, "int8", 1)], None),
    "ome-artificial/multi-channel.ome.tiff": ("OME-TIFF", [(439, 167, 1, 3, 1, "int8", 1)], None),
    "ome-artificial/single-channel.ome.tiff": ("OME-TIFF", [(439, 167, 1, 1, 1, "int8", 1)], None),
    "ome-artificial/time-series.ome.tif": ("OME-TIFF", [(439, 167, 1, 1, 7, "int8", 1)], None),
    "ome-artificial/z-series.ome.tiff": ("OME-TIFF", [(439, 167, 5, 1, 1, "int8", 1)], None),
    "ometiff-jl/170918_tn_neutrophil_migration_wave.ome.tif":
        ("OME-TIFF", [(1024, 1024, 1, 1, 1, "uint16", 1)], 1.0),
    "openslide-fixtures/boxes.tiff": ("TIFF", [(300, 250, 1, 3, 1, "uint8", 4)], 10000 / (14861707 / 524288)),
    "openslide-fixtures/small.svs": ("Aperio SVS", [(16, 16, 1, 3, 1, "uint8", 1), (16, 16, 1, 3, 1, "uint8", 1)], 0.499),
}
for _d in ("multifile-master", "multifile-companion"):
    for _k in range(1, 6):
        SAMPLE_EXPECT["ometiff-jl/%s/multifile-Z%d.ome.tiff" % (_d, _k)] = \
            ("OME-TIFF", [(18, 24, 5, 1, 1, "uint8", 1)], None)
SAMPLE_EXPECT["ometiff-jl/multifile-companion/multifile.companion.ome"] = \
    ("OME-TIFF", [(18, 24, 5, 1, 1, "uint8", 1)], None)


@needs_samples
def test_every_sample_is_listed():
    found = set()
    for root, _, files in os.walk(SAMPLES):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), SAMPLES)
            if rel.startswith("omero-tables") or f == "MANIFEST.md":
                continue
            found.add(rel)
    assert found == set(SAMPLE_EXPECT), "samples changed: %s" % (found ^ set(SAMPLE_EXPECT))


@needs_samples
@pytest.mark.parametrize("rel", sorted(SAMPLE_EXPECT))
def test_sample_metadata(rel):
    fmt, images, psx = SAMPLE_EXPECT[rel]
    m = meta(os.path.join(SAMPLES, rel))
    assert m["format"] == fmt
    assert len(m["images"]) == len(images)
    for im, (sx, sy, sz, sc, st, pt, nl) in zip(m["images"], images):
        assert (im["size_x"], im["size_y"], im["size_z"], im["size_c"], im["size_t"]) == (sx, sy, sz, sc, st)
        assert im["pixel_type"] == pt
        assert len(im["channels"]) == sc
        assert len(im["levels"]) == nl
        assert im["levels"][0]["size_x"] == sx and im["levels"][0]["size_y"] == sy
    p = m["images"][0]["physical_size_x"]
    if psx is None:
        assert p is None
    else:
        assert p["unit"] == "µm" and p["value"] == pytest.approx(psx, rel=1e-6)


@needs_samples
@pytest.mark.parametrize("rel", sorted(r for r in SAMPLE_EXPECT
                                       if r.endswith((".tif", ".tiff")) and "multifile" not in r))
def test_sample_pixels_equal_tifffile(rel):
    compare_tifffile(os.path.join(SAMPLES, rel))


@needs_samples
def test_svs_pixels_equal_libtiff_jpeg_via_pil():
    # tifffile needs imagecodecs for JPEG; PIL decodes through the same libtiff + libjpeg
    path = os.path.join(SAMPLES, "openslide-fixtures/small.svs")
    ours = our_planes(path)
    frames = pil_frames(path)
    assert len(frames) == 2
    for i, f in enumerate(frames):
        assert_same(ours[(i, 0)], yx_c(f), "small.svs image %d" % i)
    m = meta(path)
    assert m["images"][1]["name"].endswith("[thumbnail]")
    assert m["images"][0]["original"]["Compression"] == "7"
    assert m["images"][0]["original"]["Aperio.AppMag"] == "20"
    assert m["images"][0]["acquisition_date"] == "2009-12-29T09:59:15"
    assert m["images"][1]["physical_size_x"] is None


@needs_samples
def test_boxes_pyramid_levels():
    m = meta(os.path.join(SAMPLES, "openslide-fixtures/boxes.tiff"))
    lv = m["images"][0]["levels"]
    assert [(l["size_x"], l["size_y"]) for l in lv] == [(300, 250), (150, 125), (75, 62), (37, 31)]
    assert all((l["tile_w"], l["tile_h"]) == (64, 64) for l in lv)
    assert m["images"][0]["rgb"] and m["images"][0]["interleaved"]


@needs_samples
@pytest.mark.parametrize("setname", ["multifile-master", "multifile-companion"])
def test_multifile_any_member_resolves_whole_set(setname):
    d = os.path.join(SAMPLES, "ometiff-jl", setname)
    tiffs = [os.path.join(d, "multifile-Z%d.ome.tiff" % k) for k in range(1, 6)]
    # the reference: file Zk holds plane z=k-1 (TiffData FirstZ=k-1, IFD 0)
    ref = np.stack([tifffile.TiffFile(f).pages[0].asarray() for f in tiffs])[None, None]
    members = tiffs + ([os.path.join(d, "multifile.companion.ome")] if setname.endswith("companion") else [])
    for member in members:
        m = meta(member)
        used = sorted(os.path.basename(f) for f in m["files"])
        expect = sorted(os.path.basename(f) for f in members)
        assert used == expect, member
        assert m["images"][0]["files"] == list(range(len(members)))
        assert m["images"][0]["dimension_order"] == "XYCTZ"
        assert m["images"][0]["acquisition_date"] == "2010-03-02T15:08:59"
        assert m["images"][0]["channels"][0]["color"] == -2147483648
        assert_same(our_planes(member, m)[(0, 0)], ref, member)
    if setname == "multifile-master":
        with tifffile.TiffFile(tiffs[0]) as tf:
            assert_same(our_planes(tiffs[2])[(0, 0)], series_tczyx(tf.series[0]), "tifffile multifile series")


@needs_samples
def test_ome_metadata_units_planes_instrument():
    m = meta(os.path.join(SAMPLES, "ometiff-jl/170918_tn_neutrophil_migration_wave.ome.tif"))
    im = m["images"][0]
    assert im["name"] == "170918_Hem1_mNEON_4_5perc_agarose_TIFR_4_MMStack_Pos0".replace("TIFR", "TIRF")
    assert im["dimension_order"] == "XYCZT"
    assert im["physical_size_z"] == {"value": 1.0, "unit": "µm"}
    assert im["time_increment"] == {"value": 0.0, "unit": "s"}
    assert im["significant_bits"] == 16
    assert im["channels"][0]["name"] == "488 TIRF left"
    # only the plane inside SizeZ/C/T is kept
    assert len(im["planes"]) == 1
    p = im["planes"][0]
    assert p["delta_t"] == {"value": 387.0, "unit": "ms"}
    assert p["exposure_time"] == {"value": 100.0, "unit": "ms"}
    assert p["position_x"] == {"value": 54555.58, "unit": "µm"}
    assert m["ome_xml"].startswith("<?xml")
    assert len(m["instruments"]) == 1 and im["instrument"] == 0
    assert len(m["instruments"][0]["detectors"]) == 1
    assert im["original"]["ImageWidth"] == "1024"
    assert "ImageDescription" not in im["original"]


# ---------------------------------------------------------------- generated files

RNG = np.random.default_rng(12345)


def rand(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == bool:
        return RNG.integers(0, 2, size=shape).astype(bool)
    if dtype.kind == "f":
        return (RNG.standard_normal(size=shape) * 1000).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("dtype,name", [("int8", "int8"), ("uint8", "uint8"), ("int16", "int16"),
                                        ("uint16", "uint16"), ("int32", "int32"), ("uint32", "uint32"),
                                        ("float32", "float"), ("float64", "double"), ("bool", "bit")])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_pixel_types(tmp_path, dtype, name, byteorder):
    path = str(tmp_path / "t.tif")
    data = rand((37, 53), dtype)
    tifffile.imwrite(path, data, byteorder=byteorder)
    m = compare_tifffile(path)
    assert m["images"][0]["pixel_type"] == name


def test_ome_5d_metadata_and_pixels(tmp_path):
    path = str(tmp_path / "five.ome.tif")
    data = rand((2, 3, 4, 20, 30), "uint16")
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TCZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0,
        "PhysicalSizeZUnit": "nm", "TimeIncrement": 1.5, "TimeIncrementUnit": "ms",
        "Channel": {"Name": ["DAPI", "GFP", "RFP"]}})
    m = compare_tifffile(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"], im["size_t"]) == (4, 3, 2)
    assert im["physical_size_x"] == {"value": 0.25, "unit": "µm"}
    assert im["physical_size_y"] == {"value": 0.5, "unit": "µm"}
    assert im["physical_size_z"] == {"value": 2.0, "unit": "nm"}
    assert im["time_increment"] == {"value": 1.5, "unit": "ms"}
    assert [c["name"] for c in im["channels"]] == ["DAPI", "GFP", "RFP"]
    assert m["format"] == "OME-TIFF"


def test_ome_multi_series(tmp_path):
    path = str(tmp_path / "two.ome.tif")
    a, b = rand((3, 16, 24), "uint8"), rand((2, 10, 12), "float32")
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(a, metadata={"axes": "ZYX", "Name": "first"})
        tw.write(b, metadata={"axes": "TYX", "Name": "second"})
    m = compare_tifffile(path)
    assert [i["name"] for i in m["images"]] == ["first", "second"]
    assert [i["pixel_type"] for i in m["images"]] == ["uint8", "float"]


def test_tiled_partial_tiles(tmp_path):
    path = str(tmp_path / "tiled.tif")
    tifffile.imwrite(path, rand((3, 70, 65), "uint16"), tile=(16, 32), photometric="minisblack")
    m = compare_tifffile(path)
    assert m["images"][0]["levels"][0]["tile_w"] == 32 and m["images"][0]["levels"][0]["tile_h"] == 16
    # regions that cut tiles
    full = our_planes(path)[(0, 0)]
    raw = run("--region", "0", "0", "2", "0", "0", "13", "7", "40", "50", path).stdout
    reg = np.frombuffer(raw, dtype="=u2").reshape(50, 40)
    assert reg.tobytes() == full[0, 0, 2, 7:57, 13:53].tobytes()


def test_bigtiff(tmp_path):
    path = str(tmp_path / "big.tif")
    tifffile.imwrite(path, rand((4, 33, 31), "int16"), bigtiff=True, photometric="minisblack")
    with open(path, "rb") as f:
        assert f.read(4) == b"II+\x00"
    compare_tifffile(path)


@pytest.mark.parametrize("compression", ["zlib", "lzma"])
def test_compressed_tifffile(tmp_path, compression):
    path = str(tmp_path / "c.tif")
    tifffile.imwrite(path, rand((2, 40, 50), "uint16"), compression=compression, predictor=True, tile=(16, 16))
    compare_tifffile(path)


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits", "tiff_adobe_deflate", "jpeg"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_compressed_written_by_libtiff(tmp_path, compression, mode):
    Image = pytest.importorskip("PIL.Image")  # Debian python3-pil
    path = str(tmp_path / "p.tif")
    shape = (45, 61) if mode == "L" else (45, 61, 3)
    # smooth data so JPEG is not all noise
    yy, xx = np.mgrid[0:45, 0:61]
    base = ((yy * 3 + xx * 2) % 256).astype(np.uint8)
    data = base if mode == "L" else np.stack([base, 255 - base, (base // 2)], axis=-1)
    assert data.shape == shape
    Image.fromarray(data, mode).save(path, compression=compression)
    ours = our_planes(path)[(0, 0)]
    ref = pil_frames(path)[0]
    assert_same(ours, yx_c(ref), compression)
    if compression in ("tiff_lzw", "packbits", "tiff_adobe_deflate"):
        assert_same(ours, yx_c(data), compression + " vs source")
        if compression != "tiff_lzw":
            compare_tifffile(path)


def test_pyramid_subifds(tmp_path):
    path = str(tmp_path / "pyr.ome.tif")
    data = rand((2, 256, 192), "uint16")
    with tifffile.TiffWriter(path, ome=True) as tw:
        opts = dict(tile=(64, 64), compression="zlib", photometric="minisblack")
        tw.write(data, subifds=2, metadata={"axes": "CYX"}, **opts)
        tw.write(data[:, ::2, ::2], subfiletype=1, metadata=None, **opts)
        tw.write(data[:, ::4, ::4], subfiletype=1, metadata=None, **opts)
    m = compare_tifffile(path)
    lv = m["images"][0]["levels"]
    assert [(l["size_x"], l["size_y"]) for l in lv] == [(192, 256), (96, 128), (48, 64)]
    # a tile-sized region at level 1
    raw = run("--region", "0", "1", "0", "1", "0", "32", "64", "64", "64", path).stdout
    assert np.frombuffer(raw, "=u2").reshape(64, 64).tobytes() == data[1, ::2, ::2][64:128, 32:96].tobytes()


def test_imagej_hyperstack(tmp_path):
    path = str(tmp_path / "ij.tif")
    data = rand((3, 2, 4, 16, 18), "uint16")   # TZCYX
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
                     metadata={"axes": "TZCYX", "unit": "um", "spacing": 2.5, "finterval": 0.75})
    m = meta(path)
    im = m["images"][0]
    assert m["format"] == "ImageJ TIFF"
    assert (im["size_z"], im["size_c"], im["size_t"]) == (2, 4, 3)
    assert im["physical_size_x"]["unit"] == "µm" and im["physical_size_x"]["value"] == pytest.approx(0.5)
    assert im["physical_size_z"] == {"value": 2.5, "unit": "µm"}
    assert im["time_increment"] == {"value": 0.75, "unit": "s"}
    assert im["original"]["ImageJ.channels"] == "4"
    assert_same(our_planes(path, m)[(0, 0)], np.transpose(data, (0, 2, 1, 3, 4)), "imagej")
    compare_tifffile(path, m)


@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_rgb_as_channels(tmp_path, planar):
    path = str(tmp_path / "rgb.tif")
    data = rand((4, 32, 40, 3), "uint8") if planar == "contig" else rand((4, 3, 32, 40), "uint8")
    tifffile.imwrite(path, data, photometric="rgb", planarconfig=planar)
    m = compare_tifffile(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"]) == (4, 3)
    assert im["rgb"] and im["interleaved"] == (planar == "contig")


def test_pages_as_time_when_description_says(tmp_path):
    path = str(tmp_path / "t.tif")
    data = rand((5, 12, 14), "uint8")
    tifffile.imwrite(path, data, metadata={"axes": "TYX"})
    m = compare_tifffile(path)
    assert (m["images"][0]["size_z"], m["images"][0]["size_t"]) == (1, 5)


def test_minmax(tmp_path):
    path = str(tmp_path / "mm.tif")
    data = rand((2, 300, 200), "int16")
    tifffile.imwrite(path, data, tile=(64, 64))
    for z in range(2):
        lo, hi = map(float, run("--minmax", "0", str(z), "0", "0", path).stdout.split())
        assert (lo, hi) == (data[z].min(), data[z].max())


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def write_png(path, arr):
    """A minimal PNG writer (numpy + zlib): grey/grey+alpha/RGB/RGBA, 8 or 16 bits."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    depth = 16 if arr.dtype == np.uint16 else 8
    raw = b"".join(b"\x00" + arr[y].astype(">u2" if depth == 16 else "u1").tobytes() for y in range(h))
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    data += _png_chunk(b"tEXt", b"Comment\x00made by test_formats")
    data += _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("shape,dtype", [((30, 41), "uint8"), ((30, 41), "uint16"), ((30, 41, 3), "uint8"),
                                         ((30, 41, 4), "uint16"), ((30, 41, 2), "uint8")])
def test_png(tmp_path, shape, dtype):
    path = str(tmp_path / "x.dat")      # content decides, not the name
    data = rand(shape, dtype)
    write_png(path, data)
    m = meta(path)
    im = m["images"][0]
    assert m["format"] == "PNG" and im["pixel_type"] == dtype
    assert im["size_c"] == (shape[2] if len(shape) == 3 else 1)
    assert im["original"]["Comment"] == "made by test_formats"
    assert_same(our_planes(path, m)[(0, 0)], yx_c(data), "png")
    # region from the middle
    raw = run("--region", "0", "0", "0", str(im["size_c"] - 1), "0", "5", "7", "20", "11", path).stdout
    ref = (data if data.ndim == 2 else data[..., -1])[7:18, 5:25]
    assert np.frombuffer(raw, np.dtype(dtype).newbyteorder("=")).reshape(11, 20).tobytes() == \
        ref.astype(np.dtype(dtype).newbyteorder("=")).tobytes()
    lo, hi = map(float, run("--minmax", "0", "0", str(im["size_c"] - 1), "0", path).stdout.split())
    last = data if data.ndim == 2 else data[..., -1]
    assert (lo, hi) == (last.min(), last.max())


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg(tmp_path, mode):
    Image = pytest.importorskip("PIL.Image")  # Debian python3-pil
    path = str(tmp_path / "x.bin")
    yy, xx = np.mgrid[0:50, 0:70]
    base = ((yy * 5 + xx * 3) % 256).astype(np.uint8)
    data = base if mode == "L" else np.stack([base, 255 - base, base // 3], axis=-1)
    Image.fromarray(data, mode).save(path, format="JPEG", quality=90)
    m = meta(path)
    assert m["format"] == "JPEG" and m["images"][0]["size_c"] == (1 if mode == "L" else 3)
    with Image.open(path) as im:
        ref = np.array(im)
    assert_same(our_planes(path, m)[(0, 0)], yx_c(ref), "jpeg")


# ---------------------------------------------------------------- bad input

def expect_error(path, *words):
    p = run(path, check=False)
    assert p.returncode == 1, "accepted bad input %s" % path
    err = p.stderr.decode()
    assert err.count("\n") == 1, "more than our one message on stderr: %r" % err
    for w in words:
        assert w in err, "%r not in %r" % (w, err)
    return err


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")
    expect_error(str(path), "empty.tif", "empty")


def test_unreadable_paths(tmp_path):
    expect_error(str(tmp_path / "nope.tif"), "nope.tif", "No such file")
    expect_error(str(tmp_path), "directory")


def test_unsupported_format(tmp_path):
    path = tmp_path / "x.tif"
    path.write_bytes(b"GIF89a" + b"\0" * 100)
    expect_error(str(path), "x.tif", "unsupported format")
    path.write_text("<html><body>not an image</body></html>")
    expect_error(str(path), "unsupported format")


def test_corrupt_tiff_header(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 0xFFFFFF00) + b"\0" * 64)
    expect_error(str(path), "bad.tif")


def test_truncated_tiff(tmp_path):
    src = tmp_path / "full.tif"
    tifffile.imwrite(str(src), rand((4, 64, 64), "uint16"), compression="zlib", photometric="minisblack")
    data = src.read_bytes()
    for cut in (8, 200, len(data) // 2, len(data) - 10):
        path = tmp_path / ("cut%d.tif" % cut)
        path.write_bytes(data[:cut])
        p = run(str(path), check=False)
        if p.returncode == 0:
            # the IFDs survived: reading the pixels must fail cleanly
            q = run("--planes", str(path), check=False)
            assert q.returncode == 1 and ("cut%d.tif" % cut) in q.stderr.decode()
            assert q.stderr.decode().count("\n") == 1
        else:
            assert p.returncode == 1 and ("cut%d.tif" % cut) in p.stderr.decode()


def test_corrupt_compressed_data(tmp_path):
    path = tmp_path / "garbled.tif"
    tifffile.imwrite(str(path), rand((64, 64), "uint16"), compression="zlib")
    with tifffile.TiffFile(str(path)) as tf:
        off = tf.pages[0].dataoffsets[0]
    b = bytearray(path.read_bytes())
    for i in range(off, off + 40):
        b[i] ^= 0x5A
    path.write_bytes(bytes(b))
    q = run("--planes", str(path), check=False)
    assert q.returncode == 1
    assert "garbled.tif" in q.stderr.decode() and "decode" in q.stderr.decode()


@functools.lru_cache(maxsize=None)
def _sanitized():
    with open(DUMP, "rb") as f:
        return b"__asan_init" in f.read()


def _limit_memory():
    # 1 GiB of address space: allocating what the header claims (2 TB) would fail loudly.
    # ASan builds reserve terabytes of shadow memory; there ASan itself reports big allocations.
    if not _sanitized():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_huge_dimensions_are_not_allocated(tmp_path):
    # a hand-made TIFF claiming 1,000,000 x 1,000,000 uint16 in one uncompressed strip
    path = tmp_path / "huge.tif"
    w = h = 1000000
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 200), (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, w * h * 2 & 0xFFFFFFFF)]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, cnt, val in entries:
        ifd += struct.pack("<HHII", tag, typ, cnt, val) if typ == 4 else struct.pack("<HHIHH", tag, typ, cnt, val, 0)
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 300)
    _sanitized()
    p = subprocess.run([DUMP, str(path)], capture_output=True, preexec_fn=_limit_memory, timeout=60)
    assert p.returncode in (0, 1), p.stderr
    if p.returncode == 0:
        assert json.loads(p.stdout)["images"][0]["size_x"] == w
        for args in (["--region", "0", "0", "0", "0", "0", "0", "0", "16", "16"],
                     ["--region", "0", "0", "0", "0", "0", "999000", "999000", "16", "16"]):
            q = subprocess.run([DUMP, *args, str(path)], capture_output=True, preexec_fn=_limit_memory, timeout=60)
            assert q.returncode in (0, 1), q.stderr
            if q.returncode == 1:
                assert b"huge.tif" in q.stderr
    else:
        assert b"huge.tif" in p.stderr


def test_huge_ome_sizes_rejected(tmp_path):
    path = str(tmp_path / "lie.ome.tif")
    tifffile.imwrite(path, rand((8, 8), "uint8"), ome=True)
    with tifffile.TiffFile(path) as tf:
        xml = tf.pages[0].description
    xml2 = xml.replace('SizeZ="1"', 'SizeZ="100000000"').replace('SizeT="1"', 'SizeT="100000"')
    assert xml2 != xml
    tifffile.tiffcomment(path, xml2.encode())
    expect_error(path, "lie.ome.tif", "planes")


@needs_samples
def test_ome_xml_naming_missing_file(tmp_path):
    shutil.copy(os.path.join(SAMPLES, "ometiff-jl/multifile-master/multifile-Z1.ome.tiff"), tmp_path)
    expect_error(str(tmp_path / "multifile-Z1.ome.tiff"), "multifile-Z2.ome.tiff", "missing")
    shutil.copy(os.path.join(SAMPLES, "ometiff-jl/multifile-companion/multifile-Z3.ome.tiff"), tmp_path / "c3.ome.tiff")
    expect_error(str(tmp_path / "c3.ome.tiff"), "multifile.companion.ome")


def test_invalid_ome_xml_companion(tmp_path):
    path = tmp_path / "x.companion.ome"
    path.write_text('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image')
    expect_error(str(path), "x.companion.ome", "invalid OME-XML")


def test_truncated_png_and_jpeg(tmp_path):
    Image = pytest.importorskip("PIL.Image")  # Debian python3-pil
    yy, xx = np.mgrid[0:60, 0:80]
    data = ((yy * 3 + xx) % 256).astype(np.uint8)
    for name, kw in (("t.jpg", dict(format="JPEG")), ("t.png", dict(format="PNG"))):
        full = tmp_path / ("full_" + name)
        Image.fromarray(data).save(str(full), **kw)
        cut = tmp_path / name
        cut.write_bytes(full.read_bytes()[:len(full.read_bytes()) * 2 // 3])
        p = run(str(cut), check=False)
        if p.returncode == 0:
            p = run("--planes", str(cut), check=False)
        assert p.returncode == 1 and name.encode() in p.stderr and p.stderr.count(b"\n") == 1


def test_interlaced_png_equals_pil(tmp_path):
    Image = pytest.importorskip("PIL.Image")  # Debian python3-pil
    path = str(tmp_path / "i.png")
    data = rand((33, 47, 3), "uint8")
    Image.fromarray(data).save(path, interlace=1)
    assert_same(our_planes(path)[(0, 0)], yx_c(data), "interlaced png")


def test_ome_rgb_channel_samples(tmp_path):
    path = str(tmp_path / "rgb.ome.tif")
    data = rand((2, 24, 30, 3), "uint8")
    tifffile.imwrite(path, data, ome=True, photometric="rgb", metadata={"axes": "ZYXS"})
    m = compare_tifffile(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"]) == (2, 3)
    assert im["rgb"] and all(c["samples_per_pixel"] == 3 for c in im["channels"])


def test_tiff_tags_date_and_description(tmp_path):
    path = str(tmp_path / "tags.tif")
    tifffile.imwrite(path, rand((20, 20), "uint8"), description="a plain description",
                     datetime="2021:05:06 07:08:09", software="unit", resolution=(2.0, 4.0, "CENTIMETER"),
                     metadata=None)
    m = meta(path)
    im = m["images"][0]
    assert im["acquisition_date"] == "2021-05-06T07:08:09"
    assert im["description"] == "a plain description"
    assert im["original"]["Software"] == "unit"
    assert im["original"]["ImageDescription"] == "a plain description"
    assert im["physical_size_x"] == {"value": 5000.0, "unit": "µm"}
    assert im["physical_size_y"] == {"value": 2500.0, "unit": "µm"}


def test_companion_with_many_files(tmp_path):
    # more files than the reader keeps open at once: handles are recycled, pixels still right
    n = 70
    data = rand((n, 6, 5), "uint8")
    tds = []
    for t in range(n):
        name = "f%03d.ome.tif" % t
        tifffile.imwrite(str(tmp_path / name), data[t], photometric="minisblack", metadata=None)
        tds.append('<TiffData FirstT="%d" IFD="0" PlaneCount="1"><UUID FileName="%s">urn:uuid:%d</UUID></TiffData>'
                   % (t, name, t))
    xml = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           '<Image ID="Image:0" Name="many"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" '
           'SizeX="5" SizeY="6" SizeZ="1" SizeC="1" SizeT="%d"><Channel ID="Channel:0"/>%s</Pixels></Image></OME>'
           % (n, "".join(tds)))
    comp = tmp_path / "many.companion.ome"
    comp.write_text(xml)
    m = meta(str(comp))
    assert len(m["files"]) == n + 1
    assert_same(our_planes(str(comp), m)[(0, 0)], data[:, None, None], "many files")


def test_svs_layout_thumbnail_between_levels(tmp_path):
    # Aperio layout: full (tiled), thumbnail (stripped), reduced levels (tiled), label, macro
    path = str(tmp_path / "slide.svs")
    full = rand((512, 768, 3), "uint8")
    desc = "Aperio Image Library v12.0.15 \n768x512 (256x256) RGB|AppMag = 20|MPP = 0.499"
    with tifffile.TiffWriter(path) as tw:
        opts = dict(photometric="rgb", compression="zlib", metadata=None)
        tw.write(full, tile=(256, 256), description=desc, **opts)
        tw.write(full[::8, ::8], description="Aperio Image Library v12.0.15 \n768x512 -> 96x64 - |", **opts)
        tw.write(full[::2, ::2], tile=(256, 256), description=desc, **opts)
        tw.write(full[::4, ::4], tile=(256, 256), description=desc, **opts)
        tw.write(full[:40, :50], subfiletype=1, description="Aperio Image Library v12.0.15\nlabel 50x40", **opts)
        tw.write(full[:30, :60], subfiletype=9, description="Aperio Image Library v12.0.15\nmacro 60x30", **opts)
    m = meta(path)
    assert m["format"] == "Aperio SVS"
    names = [i["name"] for i in m["images"]]
    assert names == ["slide.svs", "slide.svs [thumbnail]", "slide.svs [label]", "slide.svs [macro]"]
    lv = m["images"][0]["levels"]
    assert [(l["size_x"], l["size_y"]) for l in lv] == [(768, 512), (384, 256), (192, 128)]
    ours = our_planes(path, m)
    refs = [[full, full[::2, ::2], full[::4, ::4]], [full[::8, ::8]], [full[:40, :50]], [full[:30, :60]]]
    for i, levels in enumerate(refs):
        for l, ref in enumerate(levels):
            assert_same(ours[(i, l)], yx_c(ref), "svs image %d level %d" % (i, l))
    with tifffile.TiffFile(path) as tf:
        assert [s.name for s in tf.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
        assert len(tf.series[0].levels) == 3
        assert_same(ours[(0, 2)], series_tczyx(tf.series[0], 2), "svs vs tifffile")


def test_rgba_and_palette(tmp_path):
    path = str(tmp_path / "rgba.tif")
    tifffile.imwrite(path, rand((20, 30, 4), "uint8"), photometric="rgb", extrasamples=["unassalpha"])
    assert meta(path)["images"][0]["size_c"] == 4
    compare_tifffile(path)
    path = str(tmp_path / "pal.tif")
    cmap = np.arange(3 * 256, dtype=np.uint16).reshape(3, 256)
    tifffile.imwrite(path, rand((20, 30), "uint8"), photometric="palette", colormap=cmap)
    assert meta(path)["images"][0]["size_c"] == 1
    compare_tifffile(path)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_imagej_more_images_than_ifds(tmp_path, byteorder):
    # ImageJ's layout for big stacks: one IFD, then all planes back to back
    path = str(tmp_path / "ij1.tif")
    data = rand((2, 3, 12, 10), "uint16")        # ZCYX
    tifffile.imwrite(path, data, imagej=True, byteorder=byteorder, metadata={"axes": "ZCYX"})
    with open(path, "r+b") as f:
        head = f.read(8)
        fmt = byteorder + "I"
        ifd0 = struct.unpack(fmt, head[4:8])[0]
        f.seek(ifd0)
        count = struct.unpack(byteorder + "H", f.read(2))[0]
        f.seek(ifd0 + 2 + 12 * count)
        f.write(struct.pack(fmt, 0))          # cut the IFD chain after page 0
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) == 1
    m = meta(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"]) == (2, 3)
    assert_same(our_planes(path, m)[(0, 0)], np.transpose(data, (1, 0, 2, 3))[None], "imagej contiguous")
    compare_tifffile(path, m)
    raw = run("--region", "0", "0", "1", "2", "0", "3", "4", "5", "6", path).stdout
    assert np.frombuffer(raw, "=u2").reshape(6, 5).tobytes() == data[1, 2, 4:10, 3:8].astype("=u2").tobytes()
    # and cut inside the last plane: it fails cleanly
    with tifffile.TiffFile(path) as tf:
        end = tf.pages[0].dataoffsets[0] + data.nbytes
    with open(path, "r+b") as f:
        f.truncate(end - 50)
    q = run("--planes", path, check=False)
    assert q.returncode == 1 and b"ij1.tif" in q.stderr


@pytest.mark.parametrize("order", ["XYZCT", "XYCZT", "XYTCZ"])
def test_ome_tiffdata_defaults_and_dimension_orders(tmp_path, order):
    # <TiffData/> without attributes: every plane, IFD after IFD, in DimensionOrder
    path = str(tmp_path / "d.ome.tif")
    sizes = dict(Z=2, C=3, T=2)
    pages = rand((12, 9, 11), "int16")
    tifffile.imwrite(path, pages, photometric="minisblack", metadata=None,
                     description="placeholder")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:x">'
           '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="%s" Type="int16" SizeX="11" SizeY="9" '
           'SizeZ="2" SizeC="3" SizeT="2" BigEndian="false"><Channel ID="Channel:0"/><Channel ID="Channel:1"/>'
           '<Channel ID="Channel:2"/><TiffData/></Pixels></Image></OME>' % order)
    tifffile.tiffcomment(path, xml.encode())
    m = meta(path)
    im = m["images"][0]
    assert m["format"] == "OME-TIFF" and im["dimension_order"] == order
    assert im["name"].startswith("d.ome.tif")
    ours = our_planes(path, m)[(0, 0)]
    # page index for (z, c, t) in this order: first letter after XY varies fastest
    letters = order[2:]
    for z in range(2):
        for c in range(3):
            for t in range(2):
                idx = dict(Z=z, C=c, T=t)
                p = idx[letters[0]] + sizes[letters[0]] * (idx[letters[1]] + sizes[letters[1]] * idx[letters[2]])
                assert ours[t, c, z].tobytes() == pages[p].astype("=i2").tobytes(), (z, c, t)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ome
        assert_same(ours, series_tczyx(tf.series[0]), "tifffile " + order)


def test_ome_rgb_without_samples_per_pixel(tmp_path):
    path = str(tmp_path / "rgbx.ome.tif")
    data = rand((2, 10, 12, 3), "uint8")
    tifffile.imwrite(path, data, photometric="rgb", metadata=None, description="x")
    xml = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           '<Image ID="Image:0" Name="rgb"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="12" '
           'SizeY="10" SizeZ="2" SizeC="3" SizeT="1" Interleaved="true"><Channel ID="Channel:0"/>'
           '<TiffData/></Pixels></Image></OME>')
    tifffile.tiffcomment(path, xml.encode())
    m = meta(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"], im["rgb"], im["interleaved"]) == (2, 3, True, True)
    assert_same(our_planes(path, m)[(0, 0)], np.transpose(data, (3, 0, 1, 2))[None], "rgb ome")


@pytest.mark.parametrize("ome", [True, False])
def test_pyramid_subifds_on_every_plane(tmp_path, ome):
    path = str(tmp_path / ("zp.ome.tif" if ome else "zp.tif"))
    data = rand((3, 128, 96), "uint16")
    with tifffile.TiffWriter(path, ome=ome) as tw:
        opts = dict(tile=(32, 32), photometric="minisblack")
        tw.write(data, subifds=2, metadata={"axes": "ZYX"} if ome else {}, **opts)
        tw.write(data[:, ::2, ::2], subfiletype=1, metadata=None, **opts)
        tw.write(data[:, ::4, ::4], subfiletype=1, metadata=None, **opts)
    m = compare_tifffile(path)
    im = m["images"][0]
    assert im["size_z"] == 3 and len(im["levels"]) == 3
    assert m["format"] == ("OME-TIFF" if ome else "TIFF")


def test_imagej_rgb_stack(tmp_path):
    path = str(tmp_path / "ijrgb.tif")
    data = rand((2, 3, 14, 16, 3), "uint8")     # TZYXS
    tifffile.imwrite(path, data, imagej=True, photometric="rgb", metadata={"axes": "TZYXS"})
    m = compare_tifffile(path)
    im = m["images"][0]
    assert (im["size_z"], im["size_c"], im["size_t"], im["rgb"]) == (3, 3, 2, True)


def test_region_reads_only_the_tiles_it_needs(tmp_path):
    # garble the last tile: regions elsewhere still read (they never touch it), the full plane fails
    path = tmp_path / "onlyneeded.tif"
    data = rand((128, 128), "uint16")
    tifffile.imwrite(str(path), data, tile=(32, 32), compression="zlib")
    with tifffile.TiffFile(str(path)) as tf:
        off, n = tf.pages[0].dataoffsets[-1], tf.pages[0].databytecounts[-1]
    b = bytearray(path.read_bytes())
    b[off:off + n] = bytes(n)
    path.write_bytes(bytes(b))
    raw = run("--region", "0", "0", "0", "0", "0", "0", "0", "96", "96", str(path)).stdout
    assert np.frombuffer(raw, "=u2").reshape(96, 96).tobytes() == data[:96, :96].astype("=u2").tobytes()
    q = run("--region", "0", "0", "0", "0", "0", "90", "90", "10", "10", str(path), check=False)
    assert q.returncode == 1 and b"tile at 96,96" in q.stderr


def test_companion_tiffdata_without_ifd_or_planecount(tmp_path):
    # OME: without IFD and PlaneCount a TiffData covers every IFD of its file
    data = rand((2, 3, 7, 6), "uint16")          # 2 files x 3 Z pages
    tds = []
    for k in range(2):
        name = "part%d.ome.tif" % k
        tifffile.imwrite(str(tmp_path / name), data[k], photometric="minisblack", metadata=None)
        tds.append('<TiffData FirstT="%d"><UUID FileName="%s">urn:uuid:p%d</UUID></TiffData>' % (k, name, k))
    xml = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZTC" Type="uint16" SizeX="6" SizeY="7" '
           'SizeZ="3" SizeC="1" SizeT="2"><Channel ID="Channel:0"/>%s</Pixels></Image></OME>' % "".join(tds))
    comp = tmp_path / "parts.companion.ome"
    comp.write_text(xml)
    m = meta(str(comp))
    assert len(m["files"]) == 3
    assert_same(our_planes(str(comp), m)[(0, 0)], data[:, None], "tiffdata defaults")


def test_imagej_lying_description(tmp_path):
    # counts that do not fit the file: never trusted beyond the pages that exist
    path = str(tmp_path / "ijlie.tif")
    data = rand((4, 8, 9), "uint8")
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tf:
        desc = tf.pages[0].description
    for fake in ("images=99999999999999999999\nchannels=3\nslices=4000000000000\nframes=-5\n",
                 "images=3000000\nchannels=1000\nslices=3000\nframes=1\n",
                 "images=12\nchannels=3\nslices=4\nframes=1\n"):
        body = "\n".join(l for l in desc.splitlines() if l.split("=")[0] not in ("images", "channels", "slices", "frames"))
        tifffile.tiffcomment(path, (body.replace("ImageJ=1.11a", "ImageJ=1.11a\n" + fake.strip())).encode())
        p = run(path, check=False)
        assert p.returncode in (0, 1), p.stderr
        if p.returncode == 0:
            m = json.loads(p.stdout)
            im = m["images"][0]
            q = run("--planes", path, check=False)
            if im["size_z"] * im["size_c"] * im["size_t"] > 4:
                # more planes than the file holds: those fail, never read as garbage
                assert q.returncode == 1 and b"ijlie.tif" in q.stderr
            else:
                assert q.returncode == 0
        else:
            assert b"ijlie.tif" in p.stderr
