"""OMERO.web's webgateway URLs through an installed grid over HTTPS: the browser logs in through
the JSON API (/api/v0/token/ + POST /api/v0/login/, session cookie), then renders planes,
regions, tiles of a pyramid, split views, histograms and imgData. Rendered PNGs are compared
with the independent numpy reference of test_render_engine (±1 per sample), JPEGs by PSNR;
raw pixels come from RawPixelsStore. Also ETag/304 and bad parameters (400/404, no crash).
"""
import io
import json
import os

import numpy as np
import pytest
import requests
import tifffile

from conftest import Grid, take_prefix
from test_import import SAMPLES, Api, import_ok
from test_render_engine import DTYPES, PIL, WINDOWS, assert_close, psnr, ref_render, rng_plane

BE = {"int8": ">i1", "uint8": ">u1", "int16": ">i2", "uint16": ">u2", "int32": ">i4", "uint32": ">u4",
      "float": ">f4", "double": ">f8"}


class Browser:
    """A requests session holding OMERO.web's cookies, as a browser does."""

    def __init__(self, g, user, password):
        self.base = "https://localhost:%d" % g.port("ssl")
        self.s = requests.Session()
        self.ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
        r = self.s.get(self.base + "/api/v0/token/", timeout=30, verify=self.ca)
        assert r.status_code == 200, r.text
        self.token = r.json()["data"]
        r = self.s.post(self.base + "/api/v0/login/", data={"username": user, "password": password, "server": 1},
                        headers={"X-CSRFToken": self.token}, timeout=30, verify=self.ca)
        assert r.status_code == 200, r.text
        assert self.s.cookies.get("sessionid")

    def get(self, path, status=200, **kw):
        r = self.s.get(self.base + "/webgateway/" + path, timeout=60, verify=self.ca, **kw)
        assert r.status_code == status, "%s: %d %s" % (path, r.status_code, r.text[:300])
        return r

    def image(self, path, status=200):
        r = self.get(path, status)
        return np.asarray(PIL.open(io.BytesIO(r.content)).convert("RGB")), r


@pytest.fixture(scope="module")
def g(installation):
    prefix, lock = take_prefix()
    grid = Grid(installation, prefix, lock)
    try:
        grid.omero("admin", "start", timeout=300)
        grid.root_pw = open(os.path.join(grid.dir, "var", "master", "root_password")).read().strip()
        grid.omero("login", "-s", "localhost", "-p", str(grid.port("ssl")), "-u", "root", "-w", grid.root_pw)
        grid.api = Api(grid, "root", grid.root_pw)
        grid.web = Browser(grid, "root", grid.root_pw)
        yield grid
    finally:
        grid.cleanup()


def pixels_info(g, image_id):
    return g.api.call("RawPixelsStore", "getPixels", imageId=image_id)


def plane(g, info, z, c, t, level=0):
    lv = info["levels"][level]
    b = g.api.raw("RawPixelsStore", "getPlane", pixelsId=info["pixelsId"], z=z, c=c, t=t, level=level)
    return np.frombuffer(b, BE[info["pixelsType"]]).reshape(lv["sizeY"], lv["sizeX"]).astype(
        np.dtype(BE[info["pixelsType"]]).newbyteorder("="))


def settings_of(spec, model="rgb"):
    """Settings JSON (test_render_engine's form) from [(active, start, end, 'RRGGBB'), …]."""
    return {"model": model, "channels": [{"active": a, "start": s, "end": e, "color": col + "FF"}
                                         for a, s, e, col in spec]}


def c_param(spec):
    return ",".join("%s%d|%s:%s$%s" % ("" if a else "-", i + 1, s, e, col) for i, (a, s, e, col) in enumerate(spec))


@pytest.fixture(scope="module")
def imgs(g, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wg")
    out = {}
    ids, _ = import_ok(g, os.path.join(SAMPLES, "ome-artificial", "multi-channel-z-series.ome.tiff"))
    out["czs"] = ids[0]
    ids, _ = import_ok(g, os.path.join(SAMPLES, "ometiff-jl", "170918_tn_neutrophil_migration_wave.ome.tif"))
    out["u16"] = ids[0]
    ids, _ = import_ok(g, os.path.join(SAMPLES, "openslide-fixtures", "boxes.tiff"))
    out["boxes"] = ids[0]
    # a 3-channel uint16 pyramid (SubIFDs, 256x256 tiles, 3 levels)
    yy, xx = np.mgrid[0:1024, 0:768]
    data = np.stack([((np.sin(xx / (17.0 + 9 * k)) + np.cos(yy / (13.0 + 5 * k))) * 900 + 2000 + 300 * k)
                     .astype(np.uint16) for k in range(3)])
    levels = [data, data[:, ::2, ::2], data[:, ::4, ::4]]
    p = str(tmp / "pyramid.ome.tiff")
    opts = dict(tile=(256, 256), compression="zlib", photometric="minisblack")
    with tifffile.TiffWriter(p, ome=True, bigtiff=True) as tw:
        tw.write(levels[0], subifds=2, metadata={"axes": "CYX"}, **opts)
        for lv in levels[1:]:
            tw.write(lv, subfiletype=1, metadata=None, **opts)
    ids, _ = import_ok(g, p)
    out["pyr"] = ids[0]
    out["pyr_levels"] = [np.ascontiguousarray(lv) for lv in levels]
    return out


# ---------------------------------------------------------------- rendering against numpy

def test_render_image_png_colour_and_grey(g, imgs):
    info = pixels_info(g, imgs["czs"])
    assert info["pixelsType"] == "int8" and info["sizeC"] == 3
    planes = np.stack([plane(g, info, 2, c, 0) for c in range(3)])
    spec = [(True, -50, 90, "FF0000"), (True, -100, 100, "00FF00"), (False, 0, 50, "0000FF")]
    got, r = g.web.image("render_image/%d/2/0/?c=%s&m=c&format=png" % (imgs["czs"], c_param(spec)))
    assert r.headers["Content-Type"] == "image/png"
    assert_close(got, ref_render(planes, settings_of(spec)), 1)
    spec = [(False, -50, 90, "FF0000"), (True, -20, 60, "00FF00"), (True, 0, 50, "0000FF")]
    got, _ = g.web.image("render_image/%d/2/0/?c=%s&m=g&format=png" % (imgs["czs"], c_param(spec)))
    assert_close(got, ref_render(planes, settings_of(spec, "greyscale")), 1)
    r = g.web.get("render_image/%d/2/0/?c=%s&m=g&format=tif" % (imgs["czs"], c_param(spec)))
    assert r.headers["Content-Type"] == "image/tiff"
    assert_close(tifffile.imread(io.BytesIO(r.content)), got, 0)
    # reverse intensity through maps=
    maps = json.dumps([None, {"reverse": {"enabled": True}}, None])
    got, _ = g.web.image("render_image/%d/2/0/?c=%s&m=c&format=png&maps=%s" % (imgs["czs"], c_param(spec), maps))
    want = settings_of(spec)
    want["channels"][1]["reverse"] = True
    assert_close(got, ref_render(planes, want), 1)


@pytest.mark.parametrize("proj", ["intmax", "intmean", "intsum"])
def test_projections(g, imgs, proj):
    info = pixels_info(g, imgs["czs"])
    stack = np.stack([np.stack([plane(g, info, z, c, 0) for z in range(info["sizeZ"])]) for c in range(3)])
    sub = stack[:, 1:4].astype(np.float64)
    if proj == "intmax":
        pr = sub.max(axis=1)
    elif proj == "intmean":
        pr = np.trunc(sub.mean(axis=1))
    else:
        pr = np.clip(np.trunc(sub.sum(axis=1)), -128, 127)
    spec = [(True, -128, 127, "FF0000"), (True, -60, 120, "00FF00"), (True, 0, 127, "0000FF")]
    got, _ = g.web.image("render_image/%d/0/0/?c=%s&p=%s|1:3&format=png" % (imgs["czs"], c_param(spec), proj))
    assert_close(got, ref_render(pr.astype(np.int8), settings_of(spec)), 1)


def test_uint16_jpeg_psnr_and_quality(g, imgs):
    info = pixels_info(g, imgs["u16"])
    p = plane(g, info, 0, 0, 0)
    lo, hi = int(np.percentile(p, 1)), int(np.percentile(p, 99))
    spec = [(True, lo, hi, "FFFFFF")]
    want = ref_render(p[None], settings_of(spec))
    got, r = g.web.image("render_image/%d/0/0/?c=%s&q=0.95" % (imgs["u16"], c_param(spec)))
    assert r.headers["Content-Type"] == "image/jpeg"
    assert psnr(got, want) >= 40
    small = g.web.get("render_image/%d/0/0/?c=%s&q=0.1" % (imgs["u16"], c_param(spec))).content
    assert len(small) < len(r.content)
    # no parameters: the import defaults, whole plane at default z/t
    got, _ = g.web.image("render_image/%d/" % imgs["u16"])
    assert got.shape == (1024, 1024, 3)


def test_region_and_tiles_of_pyramid(g, imgs):
    iid, levels = imgs["pyr"], imgs["pyr_levels"]
    spec = [(True, 1000, 3500, "FF0000"), (True, 1500, 4000, "00FF00"), (True, 1200, 3900, "0000FF")]
    c = c_param(spec)
    got, _ = g.web.image("render_image_region/%d/0/0/?region=100,200,300,150&c=%s&format=png" % (iid, c))
    assert_close(got, ref_render(levels[0][:, 200:350, 100:400], settings_of(spec)), 1)
    # overhanging region is clipped at the edge
    got, _ = g.web.image("render_image_region/%d/0/0/?region=700,1000,200,100&c=%s&format=png" % (iid, c))
    assert got.shape == (24, 68, 3)
    assert_close(got, ref_render(levels[0][:, 1000:, 700:], settings_of(spec)), 1)
    for lv, (tx, ty) in ((0, (2, 3)), (1, (1, 1)), (2, (0, 0)), (1, (1, 1))):
        a = levels[lv]
        got, r = g.web.image("render_image_region/%d/0/0/?tile=%d,%d,%d,256,256&c=%s&format=png" % (iid, lv, tx, ty, c))
        want = ref_render(a[:, ty * 256:(ty + 1) * 256, tx * 256:(tx + 1) * 256], settings_of(spec))
        assert_close(got, want, 1)
    # the default tile size is 256; the tile at level 2 is the whole 192x256 level
    got, _ = g.web.image("render_image_region/%d/0/0/?tile=2,0,0&c=%s&format=png" % (iid, c))
    assert got.shape == (256, 192, 3)
    # RGB pyramid with separate IFDs (openslide's boxes.tiff), tiles of every level match getPlane
    info = pixels_info(g, imgs["boxes"])
    assert len(info["levels"]) == 4
    for lv in range(4):
        planes = np.stack([plane(g, info, 0, k, 0, lv) for k in range(3)])
        spec3 = [(True, 0, 255, "FF0000"), (True, 0, 255, "00FF00"), (True, 0, 255, "0000FF")]
        got, _ = g.web.image("render_image_region/%d/0/0/?tile=%d,0,0,64,64&c=%s&format=png"
                             % (imgs["boxes"], lv, c_param(spec3)))
        assert_close(got, ref_render(planes[:, :64, :64], settings_of(spec3)), 1)


def test_split_channel(g, imgs):
    info = pixels_info(g, imgs["czs"])
    planes = np.stack([plane(g, info, 0, c, 0) for c in range(3)])
    spec = [(True, -50, 90, "FF0000"), (True, -100, 100, "00FF00"), (True, 0, 50, "0000FF")]
    got, _ = g.web.image("render_split_channel/%d/0/0/?c=%s&m=g&format=png" % (imgs["czs"], c_param(spec)))
    h, w = info["sizeY"], info["sizeX"]
    d = g.web.get("imgData/%d/" % imgs["czs"]).json()
    lay = d["split_channel"]["g"]
    assert got.shape == (lay["height"], lay["width"], 3)
    # panel 0: channel 1 alone in grey
    one = settings_of([spec[0], (False,) + spec[1][1:], (False,) + spec[2][1:]], "greyscale")
    assert_close(got[2:2 + h, 2:2 + w], ref_render(planes, one), 1)


def test_imgdata(g, imgs):
    d = g.web.get("imgData/%d/" % imgs["czs"]).json()
    assert d["id"] == imgs["czs"]
    assert d["size"] == {"width": 439, "height": 167, "z": 5, "t": 1, "c": 3}
    assert d["pixel_range"] == [-128, 127]
    assert d["tiles"] is False
    assert d["meta"]["imageId"] == imgs["czs"] and d["meta"]["pixelsType"] == "int8"
    assert d["meta"]["imageName"]
    assert len(d["channels"]) == 3
    for ch in d["channels"]:
        assert set(ch["window"]) == {"min", "max", "start", "end"}
        assert ch["window"]["min"] <= ch["window"]["start"] <= ch["window"]["end"] <= ch["window"]["max"]
        assert len(ch["color"]) == 6 and ch["family"] == "linear" and ch["coefficient"] == 1
        assert ch["reverseIntensity"] is False and isinstance(ch["active"], bool)
    assert d["rdefs"]["model"] == "color" and d["rdefs"]["defaultZ"] == 2 and d["rdefs"]["projection"] == "normal"
    # statistics of channel 0 are the true min/max of its planes
    info = pixels_info(g, imgs["czs"])
    stack = np.stack([plane(g, info, z, 0, 0) for z in range(5)])
    assert (d["channels"][0]["window"]["min"], d["channels"][0]["window"]["max"]) == (stack.min(), stack.max())
    assert d["split_channel"]["c"]["gridx"] == 2 and d["split_channel"]["c"]["gridy"] == 2
    p = g.web.get("imgData/%d/" % imgs["pyr"]).json()
    assert p["tiles"] is True and p["levels"] == 3
    assert p["tile_size"] == {"width": 256, "height": 256}
    assert p["zoomLevelScaling"] == {"0": 1.0, "1": 0.5, "2": 0.25}
    assert p["meta"]["pixelsType"] == "uint16" and p["size"]["c"] == 3
    assert g.web.get("imgData/%d/size/" % imgs["pyr"]).json()["width"] == 768


def test_histogram(g, imgs):
    info = pixels_info(g, imgs["czs"])
    d = g.web.get("imgData/%d/" % imgs["czs"]).json()
    lo, hi = d["channels"][1]["window"]["min"], d["channels"][1]["window"]["max"]
    p = plane(g, info, 3, 1, 0).astype(np.float64)
    h = g.web.get("histogram_json/%d/channel/1/?theZ=3&bins=20" % imgs["czs"]).json()["data"]
    idx = np.minimum(((p - lo) / (hi - lo) * 20).astype(int), 19)
    assert h == np.bincount(idx.ravel(), minlength=20).tolist()
    assert len(g.web.get("histogram_json/%d/channel/0/" % imgs["czs"]).json()["data"]) == 256


TYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "double"]


@pytest.fixture(scope="module")
def typed(g, tmp_path_factory):
    """One 2-channel 40x32 image per pixel type, imported from OME-TIFFs written here."""
    tmp = tmp_path_factory.mktemp("types")
    out = {}
    for i, ptype in enumerate(TYPES):
        data = np.stack([rng_plane(ptype, (32, 40), 10 * i + c) for c in range(2)])
        p = str(tmp / ("%s.ome.tiff" % ptype))
        tifffile.imwrite(p, data, ome=True, metadata={"axes": "CYX"})
        out[ptype] = (import_ok(g, p)[0][0], data)
    return out


@pytest.mark.parametrize("ptype", TYPES)
def test_every_pixel_type(g, typed, ptype):
    iid, data = typed[ptype]
    assert pixels_info(g, iid)["pixelsType"] == ptype
    lo, hi = WINDOWS[ptype]
    spec = [(True, lo, hi, "FF0000"), (True, lo, (lo + hi) / 2, "00FFFF")]
    got, _ = g.web.image("render_image/%d/0/0/?c=%s&format=png" % (iid, c_param(spec)))
    assert_close(got, ref_render(data, settings_of(spec), ptype=ptype), 1)
    got, _ = g.web.image("render_image/%d/0/0/?c=%s&m=g&format=png" % (iid, c_param(spec)))
    assert_close(got, ref_render(data, settings_of(spec, "greyscale"), ptype=ptype), 1)


@pytest.mark.parametrize("family,k", [("logarithmic", 1), ("exponential", 0.5), ("polynomial", 2)])
def test_families_through_maps(g, typed, family, k):
    iid, data = typed["uint16"]
    lo, hi = WINDOWS["uint16"]
    spec = [(True, lo, hi, "FFFFFF"), (False, lo, hi, "00FF00")]
    maps = json.dumps([{"quantization": {"family": family, "coefficient": k}}])
    got, _ = g.web.image("render_image/%d/0/0/?c=%s&maps=%s&format=png" % (iid, c_param(spec), maps))
    want = settings_of(spec)
    want["channels"][0].update(family=family, coefficient=k)
    assert_close(got, ref_render(data, want, ptype="uint16"), 1)


# ---------------------------------------------------------------- caching, sessions, errors

def test_etag_and_304(g, imgs):
    path = "render_image_region/%d/0/0/?tile=1,0,0" % imgs["pyr"]
    r = g.web.get(path)
    etag = r.headers["ETag"]
    assert etag.startswith('"') and r.headers.get("Last-Modified")
    r2 = g.web.get(path, 304, headers={"If-None-Match": etag})
    assert r2.content == b"" and r2.headers["ETag"] == etag
    # a 304 has no body, so no Content-Type (RFC 9110 §15.4.5)
    assert "Content-Type" not in r2.headers, r2.headers
    g.web.get(path, 304, headers={"If-None-Match": 'W/"x", W/%s' % etag})
    assert g.web.get(path + "&q=0.5").headers["ETag"] != etag
    g.web.get(path, 200, headers={"If-None-Match": '"0000000000000000"'})
    # another user's tag differs even for the same URL
    d = g.web.get("imgData/%d/" % imgs["pyr"])
    g.web.get("imgData/%d/" % imgs["pyr"], 304, headers={"If-None-Match": d.headers["ETag"]})


def test_session_needed(g, imgs):
    base = g.web.base + "/webgateway/render_image/%d/" % imgs["czs"]
    r = requests.get(base, verify=g.web.ca, timeout=30)
    assert r.status_code == 403
    r = requests.get(base, verify=g.web.ca, timeout=30, headers={"X-OMERO-Session": g.api.session})
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"


BAD = [
    ("render_image/{czs}/0/0/?c=4", 400, "channel"),
    ("render_image/{czs}/0/0/?c=1|90:-50", 400, ""),
    ("render_image/{czs}/0/0/?c=1|a:b", 400, ""),
    ("render_image/{czs}/9/0/", 400, "z=9"),
    ("render_image/{czs}/0/1/", 400, "t=1"),
    ("render_image/{czs}/0/0/?p=intmax|0:9", 400, ""),
    ("render_image/{czs}/0/0/?p=intfoo", 400, ""),
    ("render_image/{czs}/0/0/?m=x", 400, ""),
    ("render_image/{czs}/0/0/?q=7", 400, ""),
    ("render_image/{czs}/0/0/?format=gif", 400, ""),
    ("render_image/{czs}/0/0/?maps=[[", 400, ""),
    ("render_image_region/{czs}/0/0/", 400, "tile or region argument required"),
    ("render_image_region/{czs}/0/0/?region=0,0,100000,100000", 400, ""),
    ("render_image_region/{czs}/0/0/?region=500,0,10,10", 400, ""),
    ("render_image_region/{czs}/0/0/?region=-1,0,10,10", 400, ""),
    ("render_image_region/{pyr}/0/0/?tile=-1,0,0", 400, "Invalid resolution level"),
    ("render_image_region/{pyr}/0/0/?tile=0,-1,0", 400, ""),
    ("render_image_region/{pyr}/0/0/?tile=3,0,0", 400, ""),
    ("render_image_region/{pyr}/0/0/?tile=0,9,0", 400, ""),
    ("render_image_region/{pyr}/0/0/?tile=0,0,0,4096,4096", 400, ""),
    ("render_image_region/{pyr}/0/0/?tile=0,0,0&region=0,0,1,1", 400, ""),
    ("render_image_region/{czs}/0/0/?tile=1,0,0", 400, "non pyramid"),
    ("histogram_json/{czs}/channel/3/", 400, ""),
    ("histogram_json/{czs}/channel/0/?bins=0", 400, ""),
    ("render_image/999999/0/0/", 404, ""),
    ("imgData/999999/", 404, ""),
    ("render_image/abc/0/0/", 404, ""),
    ("no_such_view/1/", 404, ""),
]


@pytest.mark.parametrize("path,status,msg", BAD)
def test_bad_parameters(g, imgs, path, status, msg):
    r = g.web.get(path.format(**imgs), status)
    assert r.text and msg in r.text
    # the server is still there
    g.web.get("imgData/%d/" % imgs["czs"])


# ---------------------------------------------------------------- thumbnails

def jpeg(r):
    assert r.headers["Content-Type"] == "image/jpeg"
    return np.asarray(PIL.open(io.BytesIO(r.content)).convert("RGB"))


def test_thumbnails(g, imgs):
    iid = imgs["czs"]        # 439 x 167
    assert jpeg(g.web.get("render_thumbnail/%d/" % iid)).shape == (36, 96, 3)
    assert jpeg(g.web.get("render_thumbnail/%d/200/" % iid)).shape == (76, 200, 3)
    assert jpeg(g.web.get("render_thumbnail/size/64/%d/" % iid)).shape == (24, 64, 3)
    t = jpeg(g.web.get("render_thumbnail/%d/100/100/" % iid))
    assert max(t.shape[:2]) == 100
    assert jpeg(g.web.get("render_birds_eye_view/%d/" % iid)).shape == (36, 96, 3)
    assert jpeg(g.web.get("render_birds_eye_view/%d/150/" % iid)).shape[1] == 150
    # the thumbnail is the rendered default plane, scaled
    from test_render_engine import ref_area_scale
    full, _ = g.web.image("render_image/%d/?format=png" % iid)
    small = jpeg(g.web.get("render_thumbnail/%d/200/" % iid))
    assert psnr(small, ref_area_scale(full, 200, 76)) >= 30
    # an RGB pyramid: from a reduced level
    b = jpeg(g.web.get("render_thumbnail/%d/" % imgs["boxes"]))
    assert b.shape == (80, 96, 3)
    # ETag / 304
    r = g.web.get("render_thumbnail/%d/" % iid)
    g.web.get("render_thumbnail/%d/" % iid, 304, headers={"If-None-Match": r.headers["ETag"]})
    for bad, status in (("render_thumbnail/%d/0/" % iid, 400), ("render_thumbnail/%d/5000/" % iid, 400),
                        ("render_thumbnail/999999/", 404), ("render_birds_eye_view/999999/", 404)):
        g.web.get(bad, status)


def test_get_thumbnails(g, imgs):
    import base64
    ids = [imgs["czs"], imgs["u16"], imgs["pyr"]]
    q = "&".join("id=%d" % i for i in ids + [999999])
    d = g.web.get("get_thumbnails/?" + q).json()
    assert set(d) == {str(i) for i in ids + [999999]}
    assert d["999999"] is None
    for i in ids:
        assert d[str(i)].startswith("data:image/jpeg;base64,")
        img = PIL.open(io.BytesIO(base64.b64decode(d[str(i)].split(",", 1)[1])))
        assert max(img.size) == 96
    d = g.web.get("get_thumbnails/48/?id=%d" % ids[0]).json()
    assert max(PIL.open(io.BytesIO(base64.b64decode(d[str(ids[0])].split(",", 1)[1]))).size) == 48
    assert g.web.get("get_thumbnails/").json() == {}
    assert list(g.web.get("get_thumbnails/?id=0%d&id=%d" % (ids[0], ids[0])).json()) == [str(ids[0])]
    g.web.get("get_thumbnails/?id=abc", 400)


# ---------------------------------------------------------------- settings per user

def test_save_rdef_per_user(g, tmp_path):
    g.omero("group", "add", "wg-ra", "--type=read-annotate")
    g.omero("group", "add", "wg-private")
    g.omero("user", "add", "wgann", "Ann", "A", "wg-ra", "-P", "ann-Secret-1")
    g.omero("user", "add", "wgbob", "Bob", "B", "wg-ra", "-P", "bob-Secret-1")
    g.omero("user", "add", "wgcat", "Cat", "C", "wg-private", "-P", "cat-Secret-1")
    try:
        g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "wgann", "-w", "ann-Secret-1")
        ids, _ = import_ok(g, os.path.join(SAMPLES, "ome-artificial", "single-channel.ome.tiff"))
    finally:
        g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", g.root_pw)
    iid = ids[0]
    ann, bob, cat = (Browser(g, u, p) for u, p in (("wgann", "ann-Secret-1"), ("wgbob", "bob-Secret-1"),
                                                   ("wgcat", "cat-Secret-1")))
    # visibility: a member of the read-annotate group sees it, someone of another group does not
    cat.get("render_image/%d/" % iid, 404)
    cat.get("imgData/%d/" % iid, 404)
    cat.get("render_thumbnail/%d/" % iid, 404)
    # a worker holding the image (after ann's views) still checks it as the caller: interleaved
    # with ann's requests, cat never sees it (and ann always does)
    for _ in range(6):
        ann.get("render_image_region/%d/0/0/?region=0,0,16,16" % iid)
        cat.get("render_image_region/%d/0/0/?region=0,0,16,16" % iid, 404)
    before_ann = ann.get("render_image/%d/?format=png" % iid).content
    before_bob = bob.get("render_image/%d/?format=png" % iid)
    assert before_bob.content == before_ann            # bob sees the owner's settings
    # CSRF is required
    url = ann.base + "/webgateway/saveImgRDef/%d/" % iid
    r = bob.s.post(url, data={"c": "1|0:10$FF0000", "m": "c"}, verify=bob.ca, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text
    r = bob.s.post(url, data={"c": "1|0:10$FF0000", "m": "c"}, headers={"X-CSRFToken": bob.token}, verify=bob.ca,
                   timeout=30)
    assert r.status_code == 200 and r.json() is True, r.text
    # bad settings are refused and change nothing
    r = bob.s.post(url, data={"c": "1|10:0"}, headers={"X-CSRFToken": bob.token}, verify=bob.ca, timeout=30)
    assert r.status_code == 400
    r = bob.s.post(url, data={"c": "5"}, headers={"X-CSRFToken": bob.token}, verify=bob.ca, timeout=30)
    assert r.status_code == 400
    d = bob.get("imgData/%d/" % iid).json()
    ch = d["channels"][0]
    assert (ch["window"]["start"], ch["window"]["end"], ch["color"], ch["active"]) == (0, 10, "FF0000", True)
    assert d["rdefs"]["model"] == "color"
    # bob's rendering follows his settings; the cached tag of before no longer matches
    info = pixels_info(g, iid)
    p = plane(g, info, 0, 0, 0)
    got, _ = bob.image("render_image/%d/?format=png" % iid)
    assert_close(got, ref_render(p[None], settings_of([(True, 0, 10, "FF0000")])), 1)
    bob.get("render_image/%d/?format=png" % iid, 200, headers={"If-None-Match": before_bob.headers["ETag"]})
    # ann's view has not changed
    assert ann.get("render_image/%d/?format=png" % iid).content == before_ann
    assert ann.get("imgData/%d/" % iid).json()["channels"][0]["color"] != "FF0000" or \
        ann.get("imgData/%d/" % iid).json()["channels"][0]["window"]["end"] != 10
    # GET is not allowed on saveImgRDef
    bob.get("saveImgRDef/%d/" % iid, 405)


def test_imgdata_containers_and_names(g, tmp_path):
    f = tmp_path / "named.tif"
    tifffile.imwrite(str(f), np.arange(20 * 10, dtype=np.uint8).reshape(10, 20))
    (iid,), _ = import_ok(g, str(f), "-T", "Project:name:wgProj/Dataset:name:wgDs", "-n", "wg-named", "-x", "wg-desc")
    d = g.web.get("imgData/%d/" % iid).json()
    m = d["meta"]
    assert (m["imageName"], m["imageDescription"]) == ("wg-named", "wg-desc")
    assert (m["datasetName"], m["projectName"]) == ("wgDs", "wgProj")
    assert isinstance(m["datasetId"], int) and isinstance(m["projectId"], int)
    assert m["imageAuthor"]
    assert d["rdefs"]["model"] == "greyscale" and d["channels"][0]["active"] is True
    assert d["pixel_range"] == [0, 255]
    assert d["perms"]["canEdit"] is True
    # HEAD answers like GET without a body
    r = g.web.s.head(g.web.base + "/webgateway/render_image/%d/" % iid, verify=g.web.ca, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg" and r.content == b""


# ---------------------------------------------------------------- sanitizers (make asan)

def test_no_sanitizer_reports_after_stop(new_grid):
    """Under `make asan`: after tiles, greyscale and colour renders, a 304 and a 400, stopping the
    grid leaves no sanitizer error and no leak through the webgateway or the rendering engine (the
    per-worker image cache, quantum tables and JPEG encoders are freed at exit)."""
    if not os.environ.get("OMERO_SAN"):
        pytest.skip("reads the sanitizer reports of an ASan build (make asan)")
    g = new_grid()
    g.omero("admin", "start", timeout=300)
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", pw)
    ids, _ = import_ok(g, os.path.join(SAMPLES, "ome-artificial", "multi-channel-z-series.ome.tiff"))
    web = Browser(g, "root", pw)
    for q in ("", "?m=g", "?m=g&format=png", "?c=1|0:255$FF0000,2|0:255$00FF00"):
        web.get("render_image/%d/0/0/%s" % (ids[0], q))
    r = web.get("render_image_region/%d/0/0/?region=0,0,16,16" % ids[0])
    web.get("render_image_region/%d/0/0/?region=0,0,16,16" % ids[0], 304, headers={"If-None-Match": r.headers["ETag"]})
    web.get("render_image/%d/0/0/?c=9" % ids[0], 400)
    g.omero("admin", "stop", check=False, timeout=180)
    logdir = os.path.join(g.dir, "var", "log")
    for name in sorted(os.listdir(logdir)):
        text = g.log(name)
        for marker in ("ERROR: AddressSanitizer", "runtime error:"):
            assert marker not in text, "%s: %s" % (name, text[text.index(marker) - 200:][:6000])
        if "ERROR: LeakSanitizer" in text:
            for leak in text[text.index("ERROR: LeakSanitizer"):].split("\n\n"):
                assert "webgateway.c" not in leak and "/render/rnd_" not in leak, "%s: %s" % (name, leak[:6000])
