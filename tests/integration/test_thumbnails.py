"""ThumbnailStore through a real grid: thumbnails made at import (a Thumbnail row and a file under
Thumbnails/ named as OMERO names it), sizes and aspect ratio, pixels compared with an independent
numpy rendering of the plane (PSNR >= 35 dB), regeneration when the settings change, sets of many
images, pyramids (the smallest adequate level), and bad input.
"""
import base64
import io
import os
import time

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import started_grid
from test_import import Api, SAMPLES, needs_samples, query
from test_rendering_settings import import_file, settings


@pytest.fixture(scope="module")
def g(installation):
    with started_grid(installation, api=Api) as grid:
        yield grid


def thumb_file(g, tid):
    """OMERO's layout (AbstractFileSystemService.getPath): Thumbnails/Dir-NNN/…/<id>."""
    suffix, rem = "", tid
    while rem > 999:
        rem //= 1000
        if rem > 0:
            suffix = "Dir-%03d/" % (rem % 1000) + suffix
    return os.path.join(g.data, "Thumbnails", suffix + str(tid))


def thumb_rows(g, pid):
    return query(g, "select t.id, t.sizeX, t.sizeY, t.mimeType, t.ref from Thumbnail t where t.pixels.id = :id "
                    "order by t.id", id=pid)


def decode(jpeg):
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG"
    return np.asarray(im.convert("RGB"))


def box_weights(n_src, n_dst):
    """Area-average resampling matrix (n_dst x n_src): coverage of each source pixel."""
    w = np.zeros((n_dst, n_src))
    s = n_src / n_dst
    for i in range(n_dst):
        a, b = i * s, (i + 1) * s
        for j in range(int(np.floor(a)), min(n_src, int(np.ceil(b)))):
            w[i, j] = min(b, j + 1) - max(a, j)
        w[i] /= w[i].sum()
    return w


def render_ref(planes, s):
    """Numpy rendering (linear family, default quantum, no noise reduction) of (C, Y, X) planes with
    the rnd settings JSON s: greyscale shows the first active channel, rgb adds the colours."""
    chans = s["channels"]
    out = np.zeros(planes.shape[1:] + (3,), np.int64)
    active = [i for i, c in enumerate(chans) if c["active"]]
    if s["model"] == "greyscale":
        active = active[:1]
    for i in active:
        c = chans[i]
        assert c["family"] == "linear" and not c["noise_reduction"]
        x = planes[i].astype(np.float64)
        ws, we = c["start"], c["end"]
        q = np.where(x < ws, 0, np.where(x >= we, 255, np.floor(255 * (x - ws) / max(we - ws, 1e-300) + 0.5)))
        q = np.clip(q, 0, 255)
        if c["reverse"]:
            q = 255 - q
        if s["model"] == "greyscale":
            return np.repeat(q[..., None], 3, axis=2).astype(np.uint8)
        rgb = [int(c["color"][k:k + 2], 16) for k in (0, 2, 4)]
        for k in range(3):
            out[..., k] += np.floor(rgb[k] / 255.0 * q).astype(np.int64)
    return np.clip(out, 0, 255).astype(np.uint8)


def scale_ref(rgb, w, h):
    wy, wx = box_weights(rgb.shape[0], h), box_weights(rgb.shape[1], w)
    out = np.stack([wy @ rgb[..., k].astype(np.float64) @ wx.T for k in range(3)], axis=2)
    return np.floor(out + 0.5).clip(0, 255).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def get_thumb(api, pid, **size):
    """(JPEG bytes, reply) of getThumbnail / getThumbnailByLongestSide."""
    import json
    method = "getThumbnailByLongestSide" if "size" in size else "getThumbnail"
    r = api.upload("ThumbnailStore", method, b"", pixelsId=pid, **size)
    assert r.status_code == 200, r.text
    return r.content, json.loads(r.headers["X-OMERO-Result"])


def get_set(api, method, **args):
    """(reply JSON, raw body) of a thumbnail set call: the JPEGs travel concatenated as the body."""
    import json
    r = api.upload("ThumbnailStore", method, b"", **args)
    assert r.status_code == 200, r.text
    return json.loads(r.headers["X-OMERO-Result"]), r.content


# ---------------------------------------------------------------- at import

@needs_samples
def test_thumbnail_made_at_import(g):
    path = os.path.join(SAMPLES, "ome-artificial", "multi-channel.ome.tiff")
    pid = import_file(g, path)["pixels"][0]
    rows = thumb_rows(g, pid)
    assert len(rows) == 1
    tid, sx, sy, mime, ref = rows[0]
    assert (sx, sy, mime) == (96, int(167 * 96 / 439), "image/jpeg")
    rdef = settings(g.api, pid)["rdefId"]
    assert ref == "RenderingDef:%d" % rdef
    f = thumb_file(g, tid)
    assert os.path.isfile(f)
    data = open(f, "rb").read()
    assert decode(data).shape == (sy, sx, 3)
    # asking for it gives the stored file, and no new row
    jpeg, info = get_thumb(g.api, pid, size=96)
    assert jpeg == data and (info["sizeX"], info["sizeY"]) == (96, sy)
    assert g.api.call("ThumbnailStore", "thumbnailExists", pixelsId=pid, sizeX=96, sizeY=96)["value"] is True
    assert g.api.call("ThumbnailStore", "thumbnailExists", pixelsId=pid, sizeX=50, sizeY=50)["value"] is False
    assert len(thumb_rows(g, pid)) == 1


def test_skip_thumbnails_at_import(g, tmp_path):
    f = tmp_path / "skip.tif"
    tifffile.imwrite(str(f), np.arange(40 * 30, dtype=np.uint16).reshape(30, 40))
    pid = import_file(g, str(f), skip=["thumbnails"])["pixels"][0]
    assert thumb_rows(g, pid) == []
    # the rendering settings are made all the same, and the thumbnail on demand
    assert settings(g.api, pid)["rdefId"] is not None
    jpeg, info = get_thumb(g.api, pid, sizeX=20, sizeY=20)
    assert (info["sizeX"], info["sizeY"]) == (20, 15)
    assert len(thumb_rows(g, pid)) == 1 and os.path.isfile(thumb_file(g, thumb_rows(g, pid)[0][0]))


# ---------------------------------------------------------------- pixels and sizes

@needs_samples
@pytest.mark.parametrize("rel", ["ome-artificial/multi-channel.ome.tiff",
                                 "cellprofiler-examplehuman/AS_09125_050116030001_D03f00d0.tif",
                                 "ometiff-jl/170918_tn_neutrophil_migration_wave.ome.tif"])
def test_thumbnail_pixels_match_numpy(g, rel):
    path = os.path.join(SAMPLES, rel)
    pid = import_file(g, path)["pixels"][0]
    arr = tifffile.imread(path)
    planes = arr if arr.ndim == 3 else arr[None]
    s = settings(g.api, pid)["settings"]
    full = render_ref(planes, s)
    h, w = planes.shape[1:]
    for req, want in [({"size": 96}, None), ({"sizeX": 80, "sizeY": 80}, None), ({"sizeX": 200, "sizeY": 40}, None),
                      ({"size": 256}, None)]:
        jpeg, info = get_thumb(g.api, pid, **req)
        if "size" in req:
            L = req["size"]
            tw, th = (L, max(1, int(h * L / w))) if w >= h else (max(1, int(w * L / h)), L)
        else:
            bw, bh = req["sizeX"], req["sizeY"]
            tw, th = (bw, max(1, int(h * bw / w))) if w * bh >= h * bw else (max(1, int(w * bh / h)), bh)
        assert (info["sizeX"], info["sizeY"]) == (tw, th), (req, info)
        got = decode(jpeg)
        assert got.shape == (th, tw, 3)
        ref = scale_ref(full, tw, th)
        assert psnr(got, ref) >= 35, (rel, req, psnr(got, ref))


def pil_jpeg(rgb, quality=90):
    """The reference encoded as the server encodes thumbnails (libjpeg, quality 90, 4:2:0)."""
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=quality)
    return decode(b.getvalue())


@needs_samples
def test_pyramid_uses_the_smallest_adequate_level(g):
    # boxes.tiff: 300x250 RGB in 4 levels with hard-edged saturated boxes. JPEG's chroma
    # subsampling alone costs ~25 dB on such an image, so the thumbnail is compared with the
    # numpy reference encoded the same way; the level the server read must match best.
    path = os.path.join(SAMPLES, "openslide-fixtures", "boxes.tiff")
    pid = import_file(g, path)["pixels"][0]
    with tifffile.TiffFile(path) as tf:
        levels = [lv.asarray() for lv in tf.series[0].levels]
    s = settings(g.api, pid)["settings"]
    assert s["model"] == "rgb"
    for size in (96, 40, 300):
        jpeg, info = get_thumb(g.api, pid, size=size)
        tw, th = info["sizeX"], info["sizeY"]
        got = decode(jpeg)
        fits = [a for a in levels if a.shape[1] >= tw and a.shape[0] >= th]
        scores = [psnr(got, pil_jpeg(scale_ref(render_ref(np.moveaxis(a, 2, 0), s), tw, th))) for a in fits]
        # the last adequate level is the smallest one
        assert scores[-1] >= 45, (size, scores)
        assert all(scores[-1] > x for x in scores[:-1]), (size, scores)


def test_large_image_without_pyramid_is_averaged_in_bands(g, tmp_path):
    # above 4096 x 4096 pixels the server renders and averages row bands instead of the whole
    # plane; the result must still be the area average of the rendered plane
    y, x = np.mgrid[0:4300, 0:4150]
    arr = ((np.sin(x / 300.0) + np.cos(y / 170.0) + 2) * 60).astype(np.uint8)
    arr[::97, :] = 255          # thin lines: the averaging must weigh them by their coverage
    f = tmp_path / "large.tif"
    tifffile.imwrite(str(f), arr, compression="zlib", tile=(512, 512))
    assert f.stat().st_size < 4 << 20
    pid = import_file(g, str(f))["pixels"][0]
    s = settings(g.api, pid)["settings"]
    full = render_ref(arr[None], s)
    for size in (96, 333):
        jpeg, info = get_thumb(g.api, pid, size=size)
        tw, th = info["sizeX"], info["sizeY"]
        assert (tw, th) == (int(4150 * size / 4300), size)
        got = decode(jpeg)
        assert psnr(got, scale_ref(full, tw, th)) >= 35, (size, psnr(got, scale_ref(full, tw, th)))


# ---------------------------------------------------------------- regeneration

@needs_samples
def test_regenerated_after_settings_change(g):
    path = os.path.join(SAMPLES, "ome-artificial", "multi-channel.ome.tiff")
    pid = import_file(g, path)["pixels"][0]
    before, _ = get_thumb(g.api, pid, size=96)
    (tid, *_), = thumb_rows(g, pid)
    v0 = query(g, "select t.version from Thumbnail t where t.id = :id", id=tid)[0][0]
    g.api.call("RenderingEngine", "saveSettings", pixelsId=pid, settings={
        "model": "greyscale", "channels": [{"start": -50, "end": 50}, {}, {}]})
    after, info = get_thumb(g.api, pid, size=96)
    assert after != before
    # the same row and file, with the settings' new version
    assert [r[0] for r in thumb_rows(g, pid)] == [tid]
    assert query(g, "select t.version from Thumbnail t where t.id = :id", id=tid)[0][0] == v0 + 1
    assert open(thumb_file(g, tid), "rb").read() == after
    arr = tifffile.imread(path)
    ref = scale_ref(render_ref(arr, settings(g.api, pid)["settings"]), info["sizeX"], info["sizeY"])
    assert psnr(decode(after), ref) >= 35
    # unchanged settings: the cached file comes back byte for byte
    again, _ = get_thumb(g.api, pid, size=96)
    assert again == after


# ---------------------------------------------------------------- sets

def test_thumbnail_sets(g, tmp_path):
    rng = np.random.default_rng(3)
    pids = []
    for i in range(6):
        f = tmp_path / ("set%d.tif" % i)
        tifffile.imwrite(str(f), rng.integers(0, 255, (30 + i, 50), dtype=np.uint8))
        pids.append(import_file(g, str(f))["pixels"][0])
    res, body = get_set(g.api, "getThumbnailByLongestSideSet", pixelsIds=pids + [987654321], size=32)
    assert sorted(res["thumbnails"]) == sorted(str(p) for p in pids)
    assert list(res["errors"]) == ["987654321"]
    singles = {}
    for p in pids:
        e = res["thumbnails"][str(p)]
        jpeg = body[e["offset"]:e["offset"] + e["length"]]
        one, info = get_thumb(g.api, p, size=32)
        assert jpeg == one and (e["sizeX"], e["sizeY"]) == (info["sizeX"], info["sizeY"]) == (32, info["sizeY"])
        singles[p] = one
    b64 = g.api.call("ThumbnailStore", "getThumbnailSet", pixelsIds=pids, sizeX=32, sizeY=32, encoding="base64")
    for p in pids:
        assert base64.b64decode(b64["thumbnails"][str(p)]["data"]) == singles[p]
    made = g.api.call("ThumbnailStore", "createThumbnails", pixelsIds=pids)
    assert sorted(made["value"]) == sorted(pids)
    for p in pids:
        assert {(r[1], r[2]) for r in thumb_rows(g, p)} >= {(32, 32 * (30 + pids.index(p)) // 50), (96, 96 * (30 + pids.index(p)) // 50)}


def test_fifty_cached_thumbnails_benchmark(g, tmp_path):
    pids = []
    rng = np.random.default_rng(9)
    for i in range(50):
        f = tmp_path / ("b%d.tif" % i)
        tifffile.imwrite(str(f), rng.integers(0, 60000, (48, 64), dtype=np.uint16))
        pids.append(import_file(g, str(f))["pixels"][0])
    res, _ = get_set(g.api, "getThumbnailByLongestSideSet", pixelsIds=pids, size=96)
    assert len(res["thumbnails"]) == 50
    times, floor = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        res, body = get_set(g.api, "getThumbnailByLongestSideSet", pixelsIds=pids, size=96)
        times.append(time.perf_counter() - t0)
        assert len(res["thumbnails"]) == 50
        t0 = time.perf_counter()
        g.api.call("ThumbnailStore", "thumbnailExists", pixelsId=pids[0], sizeX=96, sizeY=96)
        floor.append(time.perf_counter() - t0)
    print("\nBENCH 50 cached thumbnails in one getThumbnailByLongestSideSet over HTTPS: median %.1f ms "
          "(%d bytes; one thumbnailExists call: %.1f ms)" % (1000 * sorted(times)[3], len(body), 1000 * sorted(floor)[3]))


# ---------------------------------------------------------------- bad input

def test_bad_input(g, tmp_path):
    f = tmp_path / "badthumb.tif"
    tifffile.imwrite(str(f), np.arange(30 * 20, dtype=np.uint8).reshape(20, 30))
    pid = import_file(g, str(f))["pixels"][0]
    rows = thumb_rows(g, pid)
    files = sorted(os.listdir(os.path.join(g.data, "Thumbnails")))
    for args in [{"sizeX": 0, "sizeY": 10}, {"sizeX": -5, "sizeY": 10}, {"sizeX": 10, "sizeY": 1025},
                 {"sizeX": "big", "sizeY": 10}, {"sizeX": 1.5, "sizeY": 10}]:
        r = g.api.call("ThumbnailStore", "getThumbnail", status=400, pixelsId=pid, **args)
        assert "size" in r["error"]["message"], args
    for size in (0, -1, 4096):
        g.api.call("ThumbnailStore", "getThumbnailByLongestSide", status=400, pixelsId=pid, size=size)
        g.api.call("ThumbnailStore", "getThumbnailByLongestSideSet", status=400, pixelsIds=[pid], size=size)
    r = g.api.call("ThumbnailStore", "getThumbnail", status=404, pixelsId=987654321, sizeX=10, sizeY=10)
    assert "987654321" in r["error"]["message"]
    g.api.call("ThumbnailStore", "getThumbnail", status=400, sizeX=10, sizeY=10)
    g.api.call("ThumbnailStore", "getThumbnailSet", status=400, pixelsIds=pid, sizeX=10, sizeY=10)
    g.api.call("ThumbnailStore", "getThumbnailSet", status=400, pixelsIds=["a"], sizeX=10, sizeY=10)
    g.api.call("ThumbnailStore", "getThumbnailSet", status=400, pixelsIds=list(range(1001)), sizeX=10, sizeY=10)
    g.api.call("ThumbnailStore", "getThumbnailSet", status=400, pixelsIds=[pid], sizeX=10, sizeY=10,
               encoding="hex")
    g.api.call("ThumbnailStore", "createThumbnails", status=400, pixelsIds={"a": 1})
    assert thumb_rows(g, pid) == rows
    assert sorted(os.listdir(os.path.join(g.data, "Thumbnails"))) == files
    # another user outside the group cannot see the pixels at all
    g.omero("group", "add", "thumbpriv")
    g.omero("user", "add", "carol", "Carol", "Tester", "--group-name", "thumbpriv", "-P", "carolpw")
    carol = Api(g, "carol", "carolpw")
    carol.call("ThumbnailStore", "getThumbnail", status=404, pixelsId=pid, sizeX=10, sizeY=10)
    res, body = get_set(carol, "getThumbnailSet", pixelsIds=[pid], sizeX=10, sizeY=10)
    assert res["errors"] == {str(pid): "no readable Pixels:%d" % pid} and res["thumbnails"] == {} and body == b""
