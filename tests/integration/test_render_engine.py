"""Rendering engine (services/blitz/render) through omero-rendertool, checked against an
independent numpy implementation of OMERO's rendering formulas (README.md of the module).

PNG/TIFF output must match the reference exactly (the requirement is ±1 per sample; only the
thumbnail scaler gets ±1, for floating-point summation order); JPEG must reach PSNR >= 40 dB.
"""
import io
import json
import math
import os
import subprocess

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build"))
TOOL = os.path.join(BUILD, "bin", "omero-rendertool")
SAMPLES = next((p for p in (os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                                    "samples", "ome-artificial"), "/work/shared/samples/ome-artificial")
                if os.path.isdir(p)), "/work/shared/samples/ome-artificial")

DTYPES = {
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "float": np.float32, "double": np.float64,
}
TYPE_RANGE = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
    "int32": (-2 ** 31, 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1), "bit": (0, 1),
    "float": (-np.finfo(np.float32).max, np.finfo(np.float32).max),
    "double": (-np.finfo(np.float64).max, np.finfo(np.float64).max),
}


# ----------------------------------------------------------------------------------------------
# Reference implementation (numpy), written from the formulas, not from the C code.

def family_fn(family, k):
    if family == "exponential":
        return lambda x: np.exp(np.power(x, k))
    if family == "logarithmic":
        return lambda x: np.log(np.where(x <= 0, 1.0, x))
    return lambda x: np.power(x, k)


WIDTH_LIMIT = {"int8": 0x100, "uint8": 0x100, "int16": 0x10000, "uint16": 0x10000,
               "int32": 2 ** 32, "uint32": 2 ** 32}
TABULATED = ("int8", "uint8", "int16", "uint16", "bit")


def interval_ok(ptype, lo, hi):
    return lo <= hi and (hi - lo) < WIDTH_LIMIT.get(ptype, float("inf"))


def ref_quantize(v, ch, gmin, gmax, qdef, ptype):
    """OMERO's quantum map for one channel: raw values -> 0..255."""
    bitres, cds, cde = qdef
    v = np.asarray(v, dtype=np.float64)
    tmin, tmax = TYPE_RANGE[ptype]
    ws, we = float(ch["start"]), float(ch["end"])
    if not interval_ok(ptype, ws, we):          # setWindow: unusable window -> type range
        ws, we = tmin, tmax
    ws, we = max(ws, tmin), min(we, tmax)
    family = ch.get("family", "linear")
    k = 1.0 if family == "linear" else float(ch.get("coefficient", 1.0))
    f = family_fn(family, k)
    tab = ptype in TABULATED
    if tab:                                      # setExtent + int fields of Quantization_8_16_bit
        gmin, gmax = max(gmin, tmin), min(gmax, tmax)
        if not interval_ok(ptype, gmin, gmax):
            gmin, gmax = tmin, tmax
        mn, mx = math.floor(gmin), math.trunc(gmax)
    else:                                        # Quantization_float never sets them
        mn, mx = 0, 0
    with np.errstate(all="ignore"):
        ys, ye = f(np.float64(0)), f(np.float64(255))
        a_norm = bitres / (ye - ys)
        a1 = (cde - cds) / bitres
        q1, q9 = (ws if ws <= mn else mn), (we if we >= mx else mx)
        num, denum, b, e = 255.0, we - ws, ws, 0
        cs, ce = cds, cde
        if ch.get("noise_reduction"):
            dec = (mx - mn) / 10.0
            q1, q9 = q1 + dec, q9 - dec
            denum, e, num, b = q9 - q1, 10, 235.0, q1
            if ws >= q1 and we > q9:
                denum, b = q9 - ws, ws
            elif ws >= q1 and we <= q9:
                denum, b = we - ws, ws
            elif ws < q1 and we <= q9:
                denum = we - q1
            cs, ce = max(cs, 10), min(ce, 245)
        a_dec = num / denum if denum != 0 else np.inf
        b_dec = a_dec * b - e
        x = v
        if not tab:                              # getMiddleRange binning
            step = abs(we - ws) / (cde - cds + 1)
            idx = np.floor((x - ws) / step) if step > 0 else np.zeros_like(x)
            mid = (2 * ws + (2 * idx - 1) * step) / 2
            x = np.where(x < ws, ws, np.where(x > we, we, np.where(x == ws, ws + step / 2, mid)))
        y = np.where(x > q1, np.where(x <= q9, a_dec * x - b_dec, ce), cs)
        transform = not (family in ("linear", "polynomial") and k == 1.0)
        y = a_norm * ((f(y) if transform else y) - ys)
        y = np.floor(y + 0.5)
        y = np.floor(a1 * y + cs + 0.5)
        y = np.where(np.isnan(y), 0, y)
        if tab:
            y = np.where(v < ws, cs, np.where(v >= we, ce, y))
    return np.clip(y, 0, 255).astype(np.int64)


INFER = {np.dtype(v): k for k, v in DTYPES.items()}


def ref_render(planes, settings, stats=None, luts=None, ptype=None):
    """planes: (C, H, W) raw values of pixel type ptype (default: from the dtype);
    settings: the tool's JSON form. Returns (H, W, 3) uint8."""
    ptype = ptype or INFER[np.asarray(planes).dtype]
    planes = np.asarray(planes, dtype=np.float64)
    qd = settings.get("quantization", {})
    qdef = (qd.get("bit_resolution", 255), qd.get("cd_start", 0), qd.get("cd_end", 255))
    chans = settings["channels"]
    active = [i for i, c in enumerate(chans) if c.get("active")]
    h, w = planes.shape[1:]
    acc = np.zeros((h, w, 3), dtype=np.int64)
    grey = settings.get("model") == "greyscale"
    alphaless = all(int(chans[i].get("color", "FFFFFFFF")[6:8] or "FF", 16) == 255 for i in active)
    for i in (active[:1] if grey else active):
        c = chans[i]
        gmin, gmax = stats[i] if stats else (c["start"], c["end"])
        q = ref_quantize(planes[i], c, gmin, gmax, qdef, ptype)
        if c.get("reverse"):
            q = np.maximum(qdef[2] - q, 0)
        if grey:
            add = np.stack([q, q, q], axis=-1)
        elif c.get("lut"):
            lut = luts[c["lut"]]
            add = np.stack([lut[0][q], lut[1][q], lut[2][q]], axis=-1).astype(np.int64)
        else:
            col = c.get("color", "FFFFFFFF")
            rgba = [int(col[j:j + 2], 16) for j in (0, 2, 4)] + [int(col[6:8], 16) if len(col) == 8 else 255]
            add = np.stack([np.floor(rgba[j] / 255.0 * q) for j in range(3)], axis=-1).astype(np.int64)
            if not alphaless:
                alpha = np.float32(rgba[3]) / np.float32(255)
                add = np.floor((add.astype(np.float32) * alpha)).astype(np.int64)
        acc = np.minimum(acc + add, 255)
    return acc.astype(np.uint8)


def ref_area_scale(img, dw, dh):
    """Box filter: every destination pixel is the area-weighted mean of what it covers."""
    def weights(sn, dn):
        m = np.zeros((dn, sn))
        s = sn / dn
        for d in range(dn):
            a, b = d * s, (d + 1) * s
            for i in range(int(math.floor(a)), min(sn, int(math.ceil(b)))):
                m[d, i] = (min(b, i + 1) - max(a, i)) / s
        return m
    wy, wx = weights(img.shape[0], dh), weights(img.shape[1], dw)
    out = np.einsum("yi,ijc,xj->yxc", wy, img.astype(np.float64), wx)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Helpers driving the tool.

def write_pixels(tmp_path, arr, ptype, channels=None, byte_order="little", name="img"):
    """arr has shape (T, C, Z, Y, X)."""
    t, c, z, y, x = arr.shape
    raw = tmp_path / (name + ".raw")
    if ptype == "bit":
        data = b"".join(np.packbits(arr[ti, ci, zi].astype(np.uint8).ravel()).tobytes()
                        for ti in range(t) for ci in range(c) for zi in range(z))
        raw.write_bytes(data)
    else:
        dt = np.dtype(DTYPES[ptype]).newbyteorder("<" if byte_order == "little" else ">")
        raw.write_bytes(np.ascontiguousarray(arr.astype(dt)).tobytes())
    desc = {"type": ptype, "size_x": x, "size_y": y, "size_z": z, "size_c": c, "size_t": t,
            "byte_order": byte_order, "data": raw.name}
    if channels is not None:
        desc["channels"] = channels
    path = tmp_path / (name + ".json")
    path.write_text(json.dumps(desc))
    return str(path)


def run(*args, check=True):
    p = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("rendertool %s failed (%d): %s" % (args, p.returncode, p.stderr))
    return p


def render(tmp_path, pixels, settings=None, fmt="png", extra=(), name="out"):
    out = tmp_path / ("%s.%s" % (name, fmt))
    args = ["render", "--pixels", pixels, "-o", out, "--format", fmt, *extra]
    if settings is not None:
        sp = tmp_path / (name + "-settings.json")
        sp.write_text(json.dumps(settings))
        args += ["--settings", sp]
    run(*args)
    if fmt == "tif":
        import tifffile
        return tifffile.imread(str(out))
    return np.asarray(PIL.open(str(out)).convert("RGB"))


def assert_close(got, want, tol=0):
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= tol, "max difference %d at %s" % (diff.max(), np.unravel_index(diff.argmax(), diff.shape))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def rng_plane(ptype, shape, seed):
    """Values spread over a window-relevant range for each type, including out-of-window ones."""
    r = np.random.default_rng(seed)
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-3000, 3000), "uint16": (0, 5000),
              "int32": (-100000, 100000), "uint32": (0, 3000000), "float": (-2.5, 7.5),
              "double": (-1000.0, 1000.0), "bit": (0, 1)}[ptype]
    if ptype in ("float", "double"):
        return r.uniform(lo, hi, size=shape).astype(DTYPES[ptype])
    v = r.integers(lo, hi, size=shape, endpoint=True)
    return v if ptype == "bit" else v.astype(DTYPES[ptype])


WINDOWS = {"int8": (-50, 90), "uint8": (20, 200), "int16": (-1000, 2000), "uint16": (500, 4000),
           "int32": (-50000, 80000), "uint32": (100000, 2500000), "float": (-1.0, 5.5),
           "double": (-600.5, 700.25), "bit": (0, 1)}


@pytest.fixture(scope="module", autouse=True)
def tool_exists():
    if not os.path.exists(TOOL):
        pytest.fail("%s not built (make build/bin/omero-rendertool)" % TOOL)


# ----------------------------------------------------------------------------------------------
# Quantization: every pixel type, greyscale and colour.

@pytest.mark.parametrize("ptype", list(WINDOWS))
def test_every_pixel_type_greyscale(tmp_path, ptype):
    plane = rng_plane(ptype, (37, 53), seed=len(ptype))
    arr = plane.reshape(1, 1, 1, 37, 53)
    pix = write_pixels(tmp_path, arr, ptype)
    ws, we = WINDOWS[ptype]
    settings = {"model": "greyscale", "channels": [{"active": True, "start": ws, "end": we}]}
    got = render(tmp_path, pix, settings)
    want = ref_render(plane[None], settings, ptype=ptype)
    assert_close(got, want)
    # The output really spans the range (the test would catch a constant image).
    assert got.min() == 0 and got.max() == 255


@pytest.mark.parametrize("ptype", list(WINDOWS))
def test_every_pixel_type_colour(tmp_path, ptype):
    planes = np.stack([rng_plane(ptype, (29, 41), seed=s) for s in (1, 2, 3)])
    arr = planes.reshape(1, 3, 1, 29, 41)
    pix = write_pixels(tmp_path, arr, ptype)
    ws, we = WINDOWS[ptype]
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": ws, "end": we, "color": "FF0000FF"},
        {"active": True, "start": ws, "end": (ws + we) / 2, "color": "00FF00FF"},
        {"active": True, "start": (ws + we) / 2, "end": we, "color": "0000FFFF"}]}
    got = render(tmp_path, pix, settings)
    assert_close(got, ref_render(planes, settings, ptype=ptype))


@pytest.mark.parametrize("family,k", [("linear", 1.0), ("polynomial", 0.5), ("polynomial", 2.0),
                                      ("exponential", 1.0), ("exponential", 0.8), ("logarithmic", 1.0)])
@pytest.mark.parametrize("ptype", ["uint16", "float"])
def test_families(tmp_path, family, k, ptype):
    plane = rng_plane(ptype, (31, 47), seed=7)
    pix = write_pixels(tmp_path, plane.reshape(1, 1, 1, 31, 47), ptype)
    ws, we = WINDOWS[ptype]
    settings = {"model": "greyscale", "channels": [
        {"active": True, "start": ws, "end": we, "family": family, "coefficient": k}]}
    got = render(tmp_path, pix, settings)
    want = ref_render(plane[None], settings, ptype=ptype)
    assert_close(got, want)
    if family != "exponential":   # exponential with these k maps almost everything to 0
        assert len(np.unique(got)) > 50


@pytest.mark.parametrize("ptype,window,same_as", [
    ("uint8", (-100, 400), (0, 255)),            # clamped to the type range
    ("int16", (-40000, 40000), (-32768, 32767)),  # wider than 16 bits can span: type range
    ("int8", (-200, 50), (-128, 50)),
])
def test_window_corrections(tmp_path, ptype, window, same_as):
    plane = rng_plane(ptype, (23, 29), seed=17)
    pix = write_pixels(tmp_path, plane.reshape(1, 1, 1, 23, 29), ptype)
    a = render(tmp_path, pix, None, extra=["--c", "1|%d:%d" % window, "--m", "g"], name="a")
    b = render(tmp_path, pix, None, extra=["--c", "1|%d:%d" % same_as, "--m", "g"], name="b")
    assert (a == b).all()
    settings = {"model": "greyscale", "channels": [{"active": True, "start": window[0], "end": window[1]}]}
    assert_close(a, ref_render(plane[None], settings))


def test_family_changes_output(tmp_path):
    plane = rng_plane("uint16", (20, 20), seed=3)
    pix = write_pixels(tmp_path, plane.reshape(1, 1, 1, 20, 20), "uint16")
    base = {"model": "greyscale", "channels": [{"active": True, "start": 500, "end": 4000}]}
    lin = render(tmp_path, pix, base, name="lin")
    base["channels"][0].update(family="polynomial", coefficient=2.0)
    poly = render(tmp_path, pix, base, name="poly")
    assert (poly.astype(int) <= lin.astype(int)).all() and (poly != lin).any()


def test_noise_reduction_and_stats(tmp_path):
    plane = rng_plane("uint16", (40, 40), seed=11)
    stats = [{"min": 0, "max": 5000}]
    pix = write_pixels(tmp_path, plane.reshape(1, 1, 1, 40, 40), "uint16", channels=stats)
    for window in ((500, 4000), (0, 5000), (100, 4800), (900, 1200)):
        settings = {"model": "greyscale", "channels": [
            {"active": True, "start": window[0], "end": window[1], "noise_reduction": True}]}
        got = render(tmp_path, pix, settings, name="nr%d" % window[0])
        want = ref_render(plane[None], settings, stats=[(0, 5000)])
        assert_close(got, want)
        # OMERO clamps the codomain to [10, 245] and then adds the clamped cdStart again.
        assert got.min() >= 10 and len(np.unique(got)) > 20


def test_bit_resolution_and_codomain(tmp_path):
    plane = rng_plane("uint8", (16, 64), seed=5)
    pix = write_pixels(tmp_path, plane.reshape(1, 1, 1, 16, 64), "uint8")
    settings = {"model": "greyscale", "quantization": {"bit_resolution": 7, "cd_start": 20, "cd_end": 200},
                "channels": [{"active": True, "start": 10, "end": 240}]}
    got = render(tmp_path, pix, settings)
    want = ref_render(plane[None], settings)
    assert_close(got, want)
    assert len(np.unique(got)) <= 8


# ----------------------------------------------------------------------------------------------
# Colour model: additive blending, alpha, reverse intensity, lookup tables, greyscale model.

def test_additive_blending_clamps(tmp_path):
    planes = np.stack([rng_plane("uint8", (24, 24), seed=s) for s in (4, 5, 6, 7)])
    pix = write_pixels(tmp_path, planes.reshape(1, 4, 1, 24, 24), "uint8")
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": 0, "end": 255, "color": "FFFF00"},
        {"active": True, "start": 0, "end": 255, "color": "FF8000"},
        {"active": False, "start": 0, "end": 255, "color": "00FF00"},
        {"active": True, "start": 0, "end": 255, "color": "3366CC"}]}
    got = render(tmp_path, pix, settings)
    assert_close(got, ref_render(planes, settings))
    assert (got[..., 0] == 255).mean() > 0.3   # red saturates where channels overlap


def test_alpha_blending(tmp_path):
    planes = np.stack([rng_plane("uint16", (20, 30), seed=s) for s in (8, 9)])
    pix = write_pixels(tmp_path, planes.reshape(1, 2, 1, 20, 30), "uint16")
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": 500, "end": 4000, "color": "FF000080"},
        {"active": True, "start": 500, "end": 4000, "color": "00FF00FF"}]}
    got = render(tmp_path, pix, settings)
    assert_close(got, ref_render(planes, settings))
    assert got[..., 0].max() <= 128


def test_greyscale_shows_first_active_channel(tmp_path):
    planes = np.stack([rng_plane("uint16", (20, 20), seed=s) for s in (1, 2, 3)])
    pix = write_pixels(tmp_path, planes.reshape(1, 3, 1, 20, 20), "uint16")
    got = render(tmp_path, pix, None, extra=["--c", "-1|0:5000,2|1000:3000$FF0000,3", "--m", "g"])
    settings = {"model": "greyscale", "channels": [
        {"active": False, "start": 0, "end": 5000}, {"active": True, "start": 1000, "end": 3000},
        {"active": True, "start": 0, "end": 5000}]}
    assert_close(got, ref_render(planes, settings))
    assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()


@pytest.mark.parametrize("ptype", ["uint8", "int16", "float"])
def test_reverse_intensity_maps(tmp_path, ptype):
    planes = np.stack([rng_plane(ptype, (18, 22), seed=s) for s in (12, 13)])
    pix = write_pixels(tmp_path, planes.reshape(1, 2, 1, 18, 22), ptype)
    ws, we = WINDOWS[ptype]
    c = "1|%r:%r$FF0000,2|%r:%r$00FF00" % (ws, we, ws, we)
    for key in ("reverse", "inverted"):
        maps = json.dumps([{key: {"enabled": True}}, {key: {"enabled": False}}])
        got = render(tmp_path, pix, None, extra=["--c", c, "--m", "c", "--maps", maps], name=key)
        settings = {"model": "rgb", "channels": [
            {"active": True, "start": ws, "end": we, "color": "FF0000", "reverse": True},
            {"active": True, "start": ws, "end": we, "color": "00FF00"}]}
        assert_close(got, ref_render(planes, settings, ptype=ptype))
    plain = render(tmp_path, pix, None, extra=["--c", c, "--m", "c"], name="plain")
    assert_close(got[..., 0].astype(int), 255 - plain[..., 0].astype(int), tol=0)


def make_luts(tmp_path):
    """Three .lut files in the three formats OMERO reads; returns the directory and tables."""
    d = tmp_path / "luts"
    d.mkdir()
    i = np.arange(256)
    cool = (i.astype(np.uint8), (255 - i).astype(np.uint8), np.full(256, 255, np.uint8))
    (d / "cool.lut").write_bytes(b"".join(c.tobytes() for c in cool))           # raw 768 bytes
    fire_small = [np.linspace(0, 255, 64).astype(np.uint8), (np.arange(64) * 3).astype(np.uint8),
                  (255 - np.arange(64) * 4).astype(np.uint8)]
    header = b"ICOL" + (1).to_bytes(2, "big") + (64).to_bytes(2, "big") + bytes(24)
    nih = header + b"".join(c.tobytes() for c in fire_small)
    # NIH, 64 colours; OMERO only tries the NIH reader on files longer than 768 bytes.
    (d / "Fire.LUT").write_bytes(nih + bytes(800 - len(nih)))
    text = ["Index\tRed\tGreen\tBlue"] + ["%d\t%d\t%d\t%d" % (j, (j * 7) % 256, j // 2, 255 - j) for j in range(256)]
    (d / "text.lut").write_text("\n".join(text) + "\n")
    (d / "broken.lut").write_text("not a table")
    # NIH interpolation as ImageJ/OMERO do it: 64 colours stretched to 256.
    scale = 64 / 256.0
    fire = []
    for c in fire_small:
        out = np.zeros(256, np.int64)
        for j in range(256):
            i1 = int(j * scale)
            i2 = min(i1 + 1, 63)
            fr = j * scale - i1
            out[j] = int((1.0 - fr) * c[i1] + fr * c[i2])
        fire.append(out)
    tables = {"cool.lut": [c.astype(np.int64) for c in cool], "Fire.LUT": fire,
              "text.lut": [np.array([(j * 7) % 256 for j in i]), i // 2, 255 - i]}
    return str(d), tables


def test_lookup_tables(tmp_path):
    lut_dir, tables = make_luts(tmp_path)
    listed = run("luts", "--lut-dir", lut_dir).stdout.split()
    assert listed == ["cool.lut", "Fire.LUT", "text.lut"]
    planes = np.stack([rng_plane("uint16", (20, 25), seed=s) for s in (21, 22)])
    pix = write_pixels(tmp_path, planes.reshape(1, 2, 1, 20, 25), "uint16")
    for lut in ("cool.lut", "fire.lut", "text.lut"):
        got = render(tmp_path, pix, None, extra=["--lut-dir", lut_dir, "--c", "1|500:4000$%s" % lut, "--m", "c"],
                     name=lut)
        key = {"fire.lut": "Fire.LUT"}.get(lut, lut)
        settings = {"model": "rgb", "channels": [{"active": True, "start": 500, "end": 4000, "lut": key},
                                                 {"active": False, "start": 0, "end": 1}]}
        assert_close(got, ref_render(planes, settings, luts=tables))
    # A LUT blended with a coloured channel, and the LUT reversed.
    got = render(tmp_path, pix, None, name="mix", extra=[
        "--lut-dir", lut_dir, "--c", "1|500:4000$cool.lut,2|0:5000$FF0000", "--m", "c",
        "--maps", '[{"reverse":{"enabled":true}},null]'])
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": 500, "end": 4000, "lut": "cool.lut", "reverse": True},
        {"active": True, "start": 0, "end": 5000, "color": "FF0000"}]}
    assert_close(got, ref_render(planes, settings, luts=tables))
    p = run("render", "--pixels", pix, "-o", tmp_path / "x.png", "--lut-dir", lut_dir,
            "--c", "1$nosuch.lut", check=False)
    assert p.returncode == 2 and "nosuch.lut" in p.stderr


# ----------------------------------------------------------------------------------------------
# Projections.

@pytest.mark.parametrize("ptype", ["uint8", "int16", "uint16", "float"])
@pytest.mark.parametrize("proj", ["intmax", "intmean", "intsum"])
def test_projections(tmp_path, ptype, proj):
    z = 6
    stack = np.stack([rng_plane(ptype, (15, 19), seed=100 + i) for i in range(z)])
    arr = stack.reshape(1, 1, z, 15, 19)
    pix = write_pixels(tmp_path, arr, ptype)
    lo, hi = TYPE_RANGE[ptype]
    for rng in (None, (1, 4)):
        s, e = rng if rng else (0, z - 1)
        sub = stack[s:e + 1].astype(np.float64)
        if proj == "intmax":
            plane = sub.max(axis=0)
        elif proj == "intmean":
            plane = sub.mean(axis=0)
        else:
            plane = sub.sum(axis=0)
        if ptype != "float":
            plane = np.clip(np.trunc(plane), lo, hi)   # same pixel type: truncate, saturate
        else:
            plane = plane.astype(np.float32).astype(np.float64)
        ws, we = (float(plane.min()), float(plane.max()) + (0 if ptype == "float" else 1))
        p = proj + ("|%d:%d" % rng if rng else "")
        c = "1|%r:%r" % (ws, we)
        got = render(tmp_path, pix, None, extra=["--p", p, "--c", c, "--m", "g"], name="p%s" % (rng,))
        settings = {"model": "greyscale", "channels": [{"active": True, "start": ws, "end": we}]}
        assert_close(got, ref_render(plane[None], settings, ptype=ptype))


def test_sum_projection_saturates(tmp_path):
    stack = np.full((4, 8, 8), 200, np.uint8)
    pix = write_pixels(tmp_path, stack.reshape(1, 1, 4, 8, 8), "uint8")
    got = render(tmp_path, pix, None, extra=["--p", "intsum", "--c", "1|0:255", "--m", "g"])
    assert (got == 255).all()
    got = render(tmp_path, pix, None, extra=["--p", "intmean|0:1", "--c", "1|0:255", "--m", "g"], name="mean")
    assert (got == 200).all()


# ----------------------------------------------------------------------------------------------
# Output formats, regions, tiles, thumbnails, threads, byte order.

def smooth_planes(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(2000 + 1500 * np.sin(x / (9.0 + 3 * k)) * np.cos(y / (13.0 + k))).astype(np.uint16)
                     for k in range(c)])


def test_jpeg_psnr_and_quality(tmp_path):
    planes = smooth_planes(96, 128, 3)
    pix = write_pixels(tmp_path, planes.reshape(1, 3, 1, 96, 128), "uint16")
    c = "1|500:3500$FF0000,2|600:3400$00FF00,3|700:3300$0000FF"
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": 500, "end": 3500, "color": "FF0000"},
        {"active": True, "start": 600, "end": 3400, "color": "00FF00"},
        {"active": True, "start": 700, "end": 3300, "color": "0000FF"}]}
    want = ref_render(planes, settings)
    got = render(tmp_path, pix, None, fmt="jpeg", extra=["--c", c, "--m", "c"])
    assert psnr(got, want) >= 40.0
    sizes = {}
    for q in ("0.2", "0.9"):
        render(tmp_path, pix, None, fmt="jpeg", extra=["--c", c, "--m", "c", "--q", q], name="q" + q)
        sizes[q] = os.path.getsize(tmp_path / ("q%s.jpeg" % q))
    assert sizes["0.2"] < sizes["0.9"]
    tif = render(tmp_path, pix, None, fmt="tif", extra=["--c", c, "--m", "c"])
    assert_close(tif, want, tol=0)


@pytest.mark.parametrize("ptype", list(WINDOWS))
@pytest.mark.parametrize("model", ["greyscale", "rgb"])
def test_jpeg_every_type(tmp_path, ptype, model):
    """JPEG of smooth data of every pixel type, greyscale and colour: PSNR >= 40 dB."""
    if ptype == "bit" and model == "rgb":
        pytest.skip("a two-colour bit pattern has hard colour edges, which 4:2:0 JPEG (as OMERO's) blurs; "
                    "colour bit rendering is checked exactly as PNG in test_every_pixel_type_colour")
    ws, we = WINDOWS[ptype]
    h, w = 64, 80
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(2):
        u = 0.5 + 0.45 * np.sin(x / (7.0 + 2 * k)) * np.cos(y / (11.0 + k))
        if ptype == "bit":
            planes.append((x // 16 + y // 16 + k) % 2)
        else:
            v = ws + u * (we - ws)
            planes.append(v.astype(DTYPES[ptype]) if ptype in ("float", "double") else np.round(v).astype(DTYPES[ptype]))
    planes = np.stack(planes)
    pix = write_pixels(tmp_path, planes.reshape(1, 2, 1, h, w), ptype)
    settings = {"model": model, "channels": [
        {"active": True, "start": ws, "end": we, "color": "FF8000"},
        {"active": True, "start": ws, "end": we, "color": "0080FF"}]}
    got = render(tmp_path, pix, settings, fmt="jpeg")
    want = ref_render(planes, settings, ptype=ptype)
    assert want.std() > 20
    assert psnr(got, want) >= 40.0, psnr(got, want)


def test_region_and_tile(tmp_path):
    planes = smooth_planes(300, 520, 2)
    pix = write_pixels(tmp_path, planes.reshape(1, 2, 1, 300, 520), "uint16")
    c = "1|500:3500$FF0000,2|600:3400$00FFFF"
    settings = {"model": "rgb", "channels": [
        {"active": True, "start": 500, "end": 3500, "color": "FF0000"},
        {"active": True, "start": 600, "end": 3400, "color": "00FFFF"}]}
    full = ref_render(planes, settings)
    got = render(tmp_path, pix, None, extra=["--c", c, "--region", "10,20,100,50"], name="r1")
    assert_close(got, full[20:70, 10:110])
    got = render(tmp_path, pix, None, extra=["--c", c, "--region", "500,290,100,100"], name="r2")  # clipped
    assert_close(got, full[290:300, 500:520])
    got = render(tmp_path, pix, None, extra=["--c", c, "--tile", "0,1,1"], name="t1")
    assert_close(got, full[256:300, 256:512])
    got = render(tmp_path, pix, None, extra=["--c", c, "--tile", "0,2,0,200,100"], name="t2")
    assert_close(got, full[0:100, 400:520])


@pytest.mark.parametrize("model", ["c", "g"])
def test_split_channels(tmp_path, model):
    planes = np.stack([rng_plane("uint16", (20, 30), seed=s) for s in (31, 32, 33, 34)])
    pix = write_pixels(tmp_path, planes.reshape(1, 4, 1, 20, 30), "uint16")
    c = "1|0:5000$FF0000,2|500:4000$00FF00,-3|0:5000$FFFFFF,4|1000:3000$0000FF"
    got = render(tmp_path, pix, None, extra=["--c", c, "--m", model, "--split", "2"])
    chans = [{"active": True, "start": 0, "end": 5000, "color": "FF0000"},
             {"active": True, "start": 500, "end": 4000, "color": "00FF00"},
             {"active": False, "start": 0, "end": 5000, "color": "FFFFFF"},
             {"active": True, "start": 1000, "end": 3000, "color": "0000FF"}]
    grey = model == "g"
    gx, gy = (2, 2) if grey else (3, 2)       # splitChannelSizes for 4 (+1 merged) panels
    want = np.full((20 * gy + 2 * (gy + 1), 30 * gx + 2 * (gx + 1), 3), 255, np.uint8)
    slots = [(2 + (i % gx) * 32, 2 + (i // gx) * 22) for i in range(5)]
    for i, ch in enumerate(chans):
        if not ch["active"]:
            continue
        one = [dict(cc, active=(j == i)) for j, cc in enumerate(chans)]
        x, y = slots[i]
        want[y:y + 20, x:x + 30] = ref_render(planes, {"model": "greyscale" if grey else "rgb", "channels": one})
    if not grey:
        x, y = slots[4]
        want[y:y + 20, x:x + 30] = ref_render(planes, {"model": "rgb", "channels": chans})
    assert_close(got, want)


def test_thumbnail_longest_side(tmp_path):
    planes = smooth_planes(90, 200, 1)
    pix = write_pixels(tmp_path, planes.reshape(1, 1, 1, 90, 200), "uint16")
    settings = {"model": "greyscale", "channels": [{"active": True, "start": 500, "end": 3500}]}
    full = ref_render(planes, settings)
    got = render(tmp_path, pix, settings, extra=["--thumbnail", "96"])
    assert got.shape == (43, 96, 3)   # (int)(90 * 96/200.0f) = 43
    assert_close(got, ref_area_scale(full, 96, 43), tol=1)
    got = render(tmp_path, pix, settings, extra=["--scale", "64x64"], name="sq")
    assert_close(got, ref_area_scale(full, 64, 64), tol=1)


def test_threads_deterministic_and_big_endian(tmp_path):
    planes = np.stack([rng_plane("int16", (101, 67), seed=s) for s in (1, 2, 3)])
    little = write_pixels(tmp_path, planes.reshape(1, 3, 1, 101, 67), "int16", name="le")
    big = write_pixels(tmp_path, planes.reshape(1, 3, 1, 101, 67), "int16", byte_order="big", name="be")
    c = ["--c", "1|-1000:2000$FF0000,2|-500:1500$00FF00,3|0:3000$0000FF"]
    outs = [render(tmp_path, little, None, extra=c + ["--threads", str(n)], name="th%d" % n) for n in (1, 2, 7)]
    outs.append(render(tmp_path, big, None, extra=c, name="big"))
    for o in outs[1:]:
        assert (o == outs[0]).all()


# ----------------------------------------------------------------------------------------------
# Defaults as OMERO creates them at import.

def defaults(tmp_path, ptype, c, z=1, channels=None):
    arr = np.zeros((1, c, z, 4, 4), DTYPES.get(ptype, np.uint8))
    pix = write_pixels(tmp_path, arr, ptype, channels=channels, name="d%d" % c)
    return json.loads(run("defaults", "--pixels", pix).stdout)


def test_defaults(tmp_path):
    d = defaults(tmp_path, "uint16", 1, z=5, channels=[{"min": 10, "max": 900}])
    assert d["model"] == "greyscale" and d["default_z"] == 2 and d["default_t"] == 0
    assert d["quantization"] == {"bit_resolution": 255, "cd_start": 0, "cd_end": 255}
    ch = d["channels"][0]
    assert (ch["start"], ch["end"], ch["family"], ch["coefficient"], ch["active"]) == (10, 900, "linear", 1, True)
    d = defaults(tmp_path, "uint8", 3)
    assert d["model"] == "rgb"
    assert [c["color"] for c in d["channels"]] == ["FF0000FF", "00FF00FF", "0000FFFF"]
    assert [(c["start"], c["end"]) for c in d["channels"]] == [(0, 255)] * 3   # no stats: type range
    d = defaults(tmp_path, "int16", 5, channels=[{"min": 3, "max": 3}] * 5)
    assert [c["active"] for c in d["channels"]] == [True, True, True, False, False]
    assert [c["color"] for c in d["channels"]][3:] == ["FF0000FF", "00FF00FF"]
    assert d["channels"][0]["start"] == -32768 and d["channels"][0]["end"] == 32767   # min == max
    d = defaults(tmp_path, "uint16", 4, channels=[
        {"emission": 461}, {"emission": 520}, {"emission": 610}, {"color": "FF00FF80"}])
    assert [c["color"] for c in d["channels"]] == ["0000FFFF", "00FF00FF", "FF0000FF", "FF00FF80"]
    d = defaults(tmp_path, "uint16", 3, channels=[{"emission": 520}, {}, {"excitation": 405}])
    assert [c["color"] for c in d["channels"]] == ["00FF00FF", "FFFFFFFF", "FFFFFFFF"]
    d = defaults(tmp_path, "uint8", 8)
    assert d["model"] == "greyscale"


# ----------------------------------------------------------------------------------------------
# Real data: an OME-TIFF from the samples (int8, 3 channels), default settings from its stats.

def test_real_ome_tiff_sample(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = os.path.join(SAMPLES, "multi-channel-z-series.ome.tiff")
    if not os.path.exists(path):
        pytest.skip("sample missing")
    data = tifffile.imread(path)              # (C, Z, Y, X) int8
    c, z, h, w = data.shape
    stats = [{"min": float(data[i].min()), "max": float(data[i].max())} for i in range(c)]
    pix = write_pixels(tmp_path, data.reshape(1, c, z, h, w), "int8", channels=stats)
    d = json.loads(run("defaults", "--pixels", pix).stdout)
    got = render(tmp_path, pix, None)
    planes = data[:, z // 2].astype(np.float64)
    want = ref_render(planes, d, stats=[(s["min"], s["max"]) for s in stats], ptype="int8")
    assert_close(got, want)
    assert got.std() > 5
    got = render(tmp_path, pix, None, extra=["--p", "intmax"], name="max")
    want = ref_render(data.max(axis=1).astype(np.float64), d, stats=[(s["min"], s["max"]) for s in stats], ptype="int8")
    assert_close(got, want)


# ----------------------------------------------------------------------------------------------
# Query parameter errors (HTTP 400 class): exit status 2 and a message naming the problem.

BAD_QUERIES = [
    (["--c", "0"], "non-zero"),
    (["--c", "4"], "out of range"),
    (["--c", "-5|0:10"], "out of range"),
    (["--c", "1|600:100"], "greater than window end"),
    (["--c", "1|abc:100"], "two finite numbers"),
    (["--c", "1|10"], "start:end"),
    (["--c", "1$GG0000"], "invalid colour"),
    (["--c", "1$FF000"], "invalid colour"),
    (["--c", "1,1"], "given twice"),
    (["--c", "1,,2"], "empty channel"),
    (["--c", "x"], "non-zero integer"),
    (["--m", "x"], "rendering model"),
    (["--p", "intmin"], "unknown projection"),
    (["--p", "intmax|0:9"], "out of bounds"),
    (["--p", "intmax|3:1"], "greater than end"),
    (["--p", "intmax|a:b"], "non-negative integers"),
    (["--q", "1.5"], "between 0 and 1"),
    (["--q", "abc"], "between 0 and 1"),
    (["--maps", "[{"], "invalid JSON"),
    (["--maps", "{}"], "JSON array"),
    (["--maps", '[{"reverse":{"enabled":1}}]'], "enabled"),
    (["--maps", "[1]"], "object or null"),
    (["--maps", "[null,null,null,null]"], "entries"),
    (["--maps", '[{"quantization":{"family":"cubic"}}]'], "unknown family"),
    (["--format", "gif"], "not supported"),
    (["--region", "1,2,3"], "malformed region"),
    (["--region", "0,0,100000000,10"], "larger than"),
    (["--region", "60,0,5,5"], "outside"),
    (["--region", "-1,0,5,5"], "outside"),
    (["--region", "0,0,0,5"], "at least 1x1"),
    (["--tile", "0,-1,0"], "negative"),
    (["--tile", "-1,0,0"], "< 0"),
    (["--tile", "1,0,0"], "non pyramid"),
    (["--tile", "0,5,0"], "outside"),
    (["--tile", "0,0,0,2000,2000"], "max_tile_length"),
    (["--tile", "0,0"], "malformed tile"),
    (["--z", "7"], "outside the image"),
    (["--region", "0,0,5,5", "--tile", "0,0,0"], "either region or tile"),
]


@pytest.mark.parametrize("args,msg", BAD_QUERIES)
def test_bad_queries(tmp_path, args, msg):
    planes = np.zeros((1, 3, 4, 40, 50), np.uint16)
    pix = write_pixels(tmp_path, planes, "uint16")
    out = tmp_path / "bad.png"
    p = run("render", "--pixels", pix, "-o", out, *args, check=False)
    assert p.returncode == 2, p.stderr
    assert "ValidationException" in p.stderr and msg in p.stderr, p.stderr
    assert not out.exists()


def test_bad_settings_and_pixels(tmp_path):
    planes = np.zeros((1, 1, 1, 8, 8), np.uint16)
    pix = write_pixels(tmp_path, planes, "uint16")
    for settings, msg in [({"channels": [{"start": 5, "end": 1}]}, "greater than"),
                          ({"channels": [{"coefficient": 0}]}, "coefficient"),
                          ({"quantization": {"bit_resolution": 100}}, "bit resolution"),
                          ({"channels": [{"family": "cubic"}]}, "unknown family"),
                          ({"channels": [{}, {}]}, "2 channels given")]:
        sp = tmp_path / "s.json"
        sp.write_text(json.dumps(settings))
        p = run("render", "--pixels", pix, "--settings", sp, "-o", tmp_path / "o.png", check=False)
        assert p.returncode == 2 and msg in p.stderr, (settings, p.stderr)
    (tmp_path / "img.raw").write_bytes(b"\0" * 10)
    p = run("render", "--pixels", pix, "-o", tmp_path / "o.png", check=False)
    assert p.returncode == 2 and "expected 128" in p.stderr
