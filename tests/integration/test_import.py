"""Import end to end through a real grid (router + Blitz + embedded PostgreSQL): `omero import`
uploads into the managed repository, the server imports in the background, and every plane read
back through RawPixelsStore over HTTPS equals what tifffile reads from the same file. Also the
CLI options, `omero fs`, `omero download`, `omero export`, and bad input (each must fail with a
message naming the file and leave no Fileset, OriginalFile or file behind).
"""
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import requests
import tifffile

import conftest
from conftest import started_grid

HERE = os.path.dirname(os.path.abspath(__file__))


def _samples_dir():
    for cand in (os.environ.get("OMERO_SAMPLES"), os.path.join(HERE, "..", "..", "..", "shared", "samples"),
                 "/work/shared/samples"):
        if cand and os.path.isdir(cand):
            return os.path.abspath(cand)
    return None


SAMPLES = _samples_dir()
needs_samples = pytest.mark.skipif(SAMPLES is None, reason="shared/samples not present")

BE = {"int8": ">i1", "uint8": ">u1", "int16": ">i2", "uint16": ">u2", "int32": ">i4", "uint32": ">u4",
      "float": ">f4", "double": ">f8", "bit": ">u1"}


class Api(conftest.Api):
    """HTTPS calls through the router as one logged-in user, with raw frames up and down."""

    def raw(self, service, method, status=200, **args):
        r = requests.post(self.base + "%s/%s" % (service, method), data=b"", verify=self.ca, timeout=60,
                          headers={"X-OMERO-Session": self.session, "X-OMERO-Args": json.dumps(args),
                                   "Content-Type": "application/octet-stream"})
        assert r.status_code == status, "%s.%s: %d %s" % (service, method, r.status_code, r.text)
        return r.content

    def upload(self, service, method, data, **args):
        return requests.post(self.base + "%s/%s" % (service, method), data=data, verify=self.ca, timeout=60,
                             headers={"X-OMERO-Session": self.session, "X-OMERO-Args": json.dumps(args),
                                      "Content-Type": "application/octet-stream"})


@pytest.fixture(scope="module")
def g(installation):
    def configure(grid):
        grid.omero("config", "set", "omero.fs.repo.path", "%user%_%userId%//%year%-%month%/%day%/%time%")
        grid.omero("config", "set", "omero.fs.upload_timeout", "4000")

    with started_grid(installation, configure, api=Api) as grid:
        yield grid


def repo_dir(g):
    return os.path.join(g.data, "ManagedRepository")


def repo_files(g):
    out = []
    for d, _, files in os.walk(repo_dir(g)):
        out += [os.path.join(d, f) for f in files]
    return sorted(out)


def import_ok(g, *args):
    r = g.omero("import", *args, timeout=300)
    ids = [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")]
    assert ids, r.stdout + r.stderr
    assert "==> Summary" in r.stderr
    return ids, r


def pixels_of(g, image_id):
    return g.api.call("RawPixelsStore", "getPixels", imageId=image_id)


def read_planes(g, info, level=0):
    """(T, C, Z, Y, X) array through getPlane, decoded from OMERO's big-endian bytes."""
    lv = info["levels"][level]
    dt = np.dtype(BE[info["pixelsType"]])
    out = np.zeros((info["sizeT"], info["sizeC"], info["sizeZ"], lv["sizeY"], lv["sizeX"]), dt.newbyteorder("="))
    for t in range(info["sizeT"]):
        for c in range(info["sizeC"]):
            for z in range(info["sizeZ"]):
                b = g.api.raw("RawPixelsStore", "getPlane", pixelsId=info["pixelsId"], z=z, c=c, t=t, level=level)
                n = lv["sizeX"] * lv["sizeY"]
                if info["pixelsType"] == "bit":     # OMERO packs bits, MSB first, over the plane
                    assert len(b) == (n + 7) // 8
                    px = np.unpackbits(np.frombuffer(b, np.uint8), count=n)
                else:
                    assert len(b) == n * dt.itemsize
                    px = np.frombuffer(b, dt)
                out[t, c, z] = px.reshape(lv["sizeY"], lv["sizeX"])
    return out


def tifffile_ref(path, series=0, level=0):
    """(T, C, Z, Y, X) reference from tifffile, with test_formats' axis handling."""
    from test_formats import series_tczyx
    with tifffile.TiffFile(path) as tf:
        s = tf.series[series]
        return series_tczyx(s, level), len(tf.series), len(s.levels)


def assert_same(ours, ref, what):
    ref = np.ascontiguousarray(ref)
    if ref.dtype == bool:
        ref = ref.astype(np.uint8)
    assert ours.shape == ref.shape, "%s: shape %s != %s" % (what, ours.shape, ref.shape)
    assert ours.tobytes() == ref.astype(ref.dtype.newbyteorder("=")).tobytes(), "%s: pixels differ" % what


# ---------------------------------------------------------------- the first path: one TIFF end to end

def test_single_tiff_end_to_end(g, tmp_path):
    data = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7)
    f = tmp_path / "plane.tif"
    tifffile.imwrite(str(f), data)
    ids, r = import_ok(g, str(f))
    assert len(ids) == 1
    assert "1 file uploaded, 1 fileset created, 1 image imported, 0 errors" in r.stderr
    info = pixels_of(g, ids[0])
    assert (info["sizeX"], info["sizeY"], info["sizeZ"], info["sizeC"], info["sizeT"]) == (64, 48, 1, 1, 1)
    assert info["pixelsType"] == "uint16"
    b = g.api.raw("RawPixelsStore", "getPlane", pixelsId=info["pixelsId"], z=0, c=0, t=0)
    assert b == data.astype(">u2").tobytes()
    # the file is in the managed repository under the template path, byte for byte
    files = [p for p in repo_files(g) if p.endswith("/plane.tif")]
    assert len(files) == 1 and open(files[0], "rb").read() == f.read_bytes()
    rel = os.path.relpath(files[0], repo_dir(g))
    parts = rel.split("/")
    assert parts[0].startswith("root_0") and len(parts) == 5, rel


# ---------------------------------------------------------------- every sample

def query(g, hql, **params):
    return g.api.call("IQuery", "projection", query=hql, params=params, group=-1)["data"]


def image_meta(g, image_id):
    row = query(g, "select p.sizeX, p.sizeY, p.sizeZ, p.sizeC, p.sizeT, p.pixelsType.value, p.physicalSizeX, "
                   "p.dimensionOrder.value, i.name, i.fileset.id from Pixels p join p.image i where i.id = :id",
                id=image_id)
    assert len(row) == 1, row
    sx, sy, sz, sc, st, pt, psx, order, name, fs = row[0]
    nch = query(g, "select count(c.id) from Channel c where c.pixels.image.id = :id", id=image_id)[0][0]
    return {"size": (sx, sy, sz, sc, st), "type": pt, "psx": psx, "order": order, "name": name, "fileset": fs,
            "channels": nch}


def _sample_imports():
    """(what to import, the SAMPLE_EXPECT key describing it) for every sample fileset."""
    from test_formats import SAMPLE_EXPECT
    out = []
    for rel in sorted(SAMPLE_EXPECT):
        if "multifile" in rel:
            continue
        out.append((rel, rel))
    out.append(("ometiff-jl/multifile-master", "ometiff-jl/multifile-master/multifile-Z1.ome.tiff"))
    out.append(("ometiff-jl/multifile-companion", "ometiff-jl/multifile-companion/multifile.companion.ome"))
    return out


def pil_reference(path):
    from PIL import Image, ImageSequence
    with Image.open(path) as im:
        frames = [np.array(f) for f in ImageSequence.Iterator(im)]
    return [np.transpose(f if f.ndim == 3 else f[..., None], (2, 0, 1))[None, :, None] for f in frames]


@needs_samples
@pytest.mark.parametrize("what,key", _sample_imports() if SAMPLES else [])
def test_sample_imports_and_reads_back(g, what, key):
    from test_formats import SAMPLE_EXPECT
    fmt, images, psx = SAMPLE_EXPECT[key]
    path = os.path.join(SAMPLES, what)
    ids, r = import_ok(g, path)
    assert len(ids) == len(images), r.stdout + r.stderr
    assert "%d image" % len(images) in r.stderr and "0 errors" in r.stderr
    filesets = set()
    for image_id, (sx, sy, sz, sc, st, pt, nl) in zip(ids, images):
        m = image_meta(g, image_id)
        filesets.add(m["fileset"])
        assert m["size"] == (sx, sy, sz, sc, st)
        assert m["type"] == pt and m["channels"] == sc
        info = pixels_of(g, image_id)
        assert len(info["levels"]) == nl
    assert len(filesets) == 1     # one fileset holds all images of a file
    m0 = image_meta(g, ids[0])
    if psx is None:
        assert m0["psx"] is None
    else:
        assert m0["psx"]["value"] == pytest.approx(psx, rel=1e-6) and m0["psx"]["symbol"] == "µm"
    # pixels: every plane of every image and level equals the reference byte for byte
    if what.endswith(".svs"):
        refs = pil_reference(path)
        for image_id, ref in zip(ids, refs):
            assert_same(read_planes(g, pixels_of(g, image_id)), ref, "%s Image:%d" % (what, image_id))
    elif "multifile" in what:
        tiffs = [os.path.join(path, "multifile-Z%d.ome.tiff" % k) for k in range(1, 6)]
        ref = np.stack([tifffile.TiffFile(f).pages[0].asarray() for f in tiffs])[None, None]
        assert_same(read_planes(g, pixels_of(g, ids[0])), ref, what)
    else:
        with tifffile.TiffFile(path) as tf:
            assert len(tf.series) == len(ids)
        for i, image_id in enumerate(ids):
            info = pixels_of(g, image_id)
            for lvl in range(len(info["levels"])):
                ref, _, nlev = tifffile_ref(path, i, lvl)
                assert nlev == len(info["levels"])
                assert_same(read_planes(g, info, lvl), ref, "%s Image:%d level %d" % (what, image_id, lvl))


# ---------------------------------------------------------------- files generated with tifffile

def _generated(tmp):
    rng = np.random.default_rng(7)
    out = []
    for dt in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"):
        a = (rng.random((3, 20, 24)) * 100 - (50 if dt[0] in "if" and dt != "uint8" else 0)).astype(dt)
        p = os.path.join(tmp, "type-%s.tif" % dt)
        tifffile.imwrite(p, a, photometric="minisblack")
        out.append(p)
    p = os.path.join(tmp, "type-bit.tif")
    tifffile.imwrite(p, rng.random((20, 24)) > 0.5)
    out.append(p)
    p = os.path.join(tmp, "five-d.ome.tif")
    tifffile.imwrite(p, rng.integers(0, 4000, (2, 3, 4, 16, 20), dtype=np.uint16), ome=True,
                     metadata={"axes": "TCZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
    out.append(p)
    p = os.path.join(tmp, "tiled.tif")
    tifffile.imwrite(p, rng.integers(0, 255, (70, 90), dtype=np.uint8), tile=(32, 32))
    out.append(p)
    p = os.path.join(tmp, "pyramid.ome.tif")
    base = rng.integers(0, 60000, (128, 160), dtype=np.uint16)
    with tifffile.TiffWriter(p) as tw:
        tw.write(base, subifds=2, tile=(32, 32), metadata={"axes": "YX"})
        tw.write(base[::2, ::2], subfiletype=1, tile=(32, 32))
        tw.write(base[::4, ::4], subfiletype=1, tile=(32, 32))
    out.append(p)
    p = os.path.join(tmp, "hyperstack.tif")
    tifffile.imwrite(p, rng.integers(0, 255, (2, 3, 2, 12, 14), dtype=np.uint8), imagej=True,
                     metadata={"axes": "TZCYX"})
    out.append(p)
    return out


def test_generated_files_round_trip(g, tmp_path):
    for path in _generated(str(tmp_path)):
        ids, r = import_ok(g, path)
        with tifffile.TiffFile(path) as tf:
            assert len(ids) == len(tf.series), path
        for i, image_id in enumerate(ids):
            info = pixels_of(g, image_id)
            for lvl in range(len(info["levels"])):
                ref, _, nlev = tifffile_ref(path, i, lvl)
                assert nlev == len(info["levels"]), path
                assert_same(read_planes(g, info, lvl), ref, "%s level %d" % (path, lvl))


def test_export_ome_tiff_reads_back_equal(g, tmp_path):
    src = os.path.join(str(tmp_path), "five-d.ome.tif")
    data = np.random.default_rng(3).integers(0, 4000, (2, 3, 4, 16, 20), dtype=np.uint16)
    tifffile.imwrite(src, data, ome=True, metadata={"axes": "TCZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5,
                                                    "Channel": {"Name": ["DAPI", "GFP", "RFP"]}})
    (image_id,), _ = import_ok(g, src, "-n", "exported")
    out = os.path.join(str(tmp_path), "out.ome.tiff")
    g.omero("export", "--file", out, "Image:%d" % image_id)
    with tifffile.TiffFile(out) as tf:
        assert tf.is_ome
        s = tf.series[0]
        assert s.axes == "TCZYX" and s.shape == data.shape
        assert np.array_equal(s.asarray(), data)
        xml = tf.ome_metadata
    assert 'PhysicalSizeX="0.25"' in xml and 'PhysicalSizeY="0.5"' in xml and 'Name="GFP"' in xml
    assert 'Name="exported"' in xml and "2016-06" in xml
    check_ome_xml_structure(xml, data.shape)
    # and the export imports again, equal
    (again,), _ = import_ok(g, out)
    assert_same(read_planes(g, pixels_of(g, again)), data, "re-imported export")
    xmlout = os.path.join(str(tmp_path), "meta.xml")
    g.omero("export", "--file", xmlout, "--type", "XML", "Image:%d" % image_id)
    assert "<MetadataOnly" in open(xmlout).read()


def check_ome_xml_structure(xml, tczyx):
    """What the OME 2016-06 schema requires of what export writes: namespace, ID patterns,
    enumerations, Channel elements before TiffData, one TiffData per IFD with a UUID."""
    import re
    import xml.etree.ElementTree as ET
    ns = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
    root = ET.fromstring(xml.encode())
    assert root.tag == ns + "OME" and re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", root.get("UUID"))
    (image,) = root.findall(ns + "Image")
    assert re.fullmatch(r"Image:\S+", image.get("ID"))
    (px,) = image.findall(ns + "Pixels")
    assert re.fullmatch(r"Pixels:\S+", px.get("ID")) and px.get("DimensionOrder") in \
        ("XYZCT", "XYZTC", "XYCTZ", "XYCZT", "XYTCZ", "XYTZC")
    assert px.get("Type") in ("int8", "int16", "int32", "uint8", "uint16", "uint32", "float", "double", "bit")
    t, c, z, y, x = tczyx
    assert [int(px.get(k)) for k in ("SizeX", "SizeY", "SizeZ", "SizeC", "SizeT")] == [x, y, z, c, t]
    kinds = [e.tag[len(ns):] for e in px]
    assert kinds == ["Channel"] * c + ["TiffData"] * (t * c * z), kinds
    for e in px.findall(ns + "Channel"):
        assert re.fullmatch(r"Channel:\S+:\S+", e.get("ID"))
    ifds = sorted(int(e.get("IFD")) for e in px.findall(ns + "TiffData"))
    assert ifds == list(range(t * c * z))
    for e in px.findall(ns + "TiffData"):
        (u,) = e.findall(ns + "UUID")
        assert u.text == root.get("UUID") and u.get("FileName")


def test_export_each_pixel_type(g, tmp_path):
    for path in _generated(str(tmp_path))[:9]:
        (image_id,), _ = import_ok(g, path)
        out = path + ".export.ome.tiff"
        g.omero("export", "--file", out, "Image:%d" % image_id)
        ref = tifffile.imread(path)
        back = tifffile.imread(out)
        assert back.dtype == ref.dtype and np.array_equal(back.reshape(ref.shape), ref), path


# ---------------------------------------------------------------- CLI options

def small_tif(path, seed=0, shape=(3, 10, 12), dtype=np.uint16):
    a = np.random.default_rng(seed).integers(1, 1000, shape).astype(dtype)
    tifffile.imwrite(str(path), a, photometric="minisblack")
    return a


def test_targets_names_and_skip(g, tmp_path):
    f = tmp_path / "t.tif"
    a = small_tif(f)
    (i1,), _ = import_ok(g, str(f), "-T", "Dataset:name:targetA", "-n", "named", "-x", "described")
    ds = query(g, "select l.parent.id, l.parent.name from DatasetImageLink l where l.child.id = :id", id=i1)
    assert [r[1] for r in ds] == ["targetA"]
    dsid = ds[0][0]
    row = query(g, "select i.name, i.description from Image i where i.id = :id", id=i1)[0]
    assert row == ["named", "described"]
    # statistics per channel, computed while reading
    mm = query(g, "select c.statsInfo.globalMin, c.statsInfo.globalMax from Channel c where c.pixels.image.id = :id",
               id=i1)
    assert mm == [[float(a.min()), float(a.max())]]
    (i2,), _ = import_ok(g, str(f), "-d", str(dsid))
    (i3,), _ = import_ok(g, str(f), "-T", "Dataset:id:%d" % dsid)
    (i4,), _ = import_ok(g, str(f), "-T", "Dataset:+name:targetA")
    for i in (i2, i3, i4):
        assert query(g, "select l.parent.id from DatasetImageLink l where l.child.id = :id", id=i) == [[dsid]]
    (i5,), _ = import_ok(g, str(f), "-T", "Dataset:@name:targetA")
    assert query(g, "select l.parent.id from DatasetImageLink l where l.child.id = :id", id=i5)[0][0] != dsid
    r = g.omero("import", str(f), "-T", "Dataset:%name:targetA", check=False)
    assert r.returncode == 1 and "not unique" in r.stderr
    (i6,), _ = import_ok(g, str(f), "-T", "Project:name:projP/Dataset:name:dsInP")
    row = query(g, "select l.parent.name, pl.parent.name from DatasetImageLink l, ProjectDatasetLink pl "
                   "where pl.child = l.parent and l.child.id = :id", id=i6)
    assert row == [["dsInP", "projP"]]
    (i7,), _ = import_ok(g, str(f), "-T", "regex:^.*/(?<Container1>[^/]*)/t.tif")
    assert query(g, "select l.parent.name from DatasetImageLink l where l.child.id = :id", id=i7) == \
        [[os.path.basename(str(tmp_path))]]
    (i8,), _ = import_ok(g, str(f), "--skip", "minmax")
    assert query(g, "select count(c.id) from Channel c where c.pixels.image.id = :id and c.statsInfo is null",
                 id=i8) == [[1]]
    r = g.omero("import", str(f), "-T", "Dataset:id:999999", check=False)
    assert r.returncode == 1 and "999999" in r.stderr and not r.stdout.strip()
    r = g.omero("import", str(f), "--skip", "bogus", check=False)
    assert r.returncode == 2


def test_checksum_algorithms(g, tmp_path):
    import hashlib
    import zlib
    f = tmp_path / "c.tif"
    small_tif(f, 1)
    data = f.read_bytes()
    expect = {"SHA1-160": hashlib.sha1(data).hexdigest(), "MD5-128": hashlib.md5(data).hexdigest(),
              "CRC-32": zlib.crc32(data).to_bytes(4, "little").hex(),
              "Adler-32": zlib.adler32(data).to_bytes(4, "little").hex(),
              "File-Size-64": len(data).to_bytes(8, "little").hex(), "Murmur3-32": None, "Murmur3-128": None}
    for alg, want in expect.items():
        (i,), _ = import_ok(g, str(f), "--checksum-algorithm", alg)
        fs = image_meta(g, i)["fileset"]
        h, hasher = query(g, "select o.hash, o.hasher.value from FilesetEntry e join e.originalFile o "
                             "where e.fileset.id = :id", id=fs)[0]
        assert hasher == alg
        if want:
            assert h == want, alg
        else:
            assert len(h) == {"Murmur3-32": 8, "Murmur3-128": 32}[alg]
    (i,), _ = import_ok(g, str(f), "--skip", "checksum")
    fs = image_meta(g, i)["fileset"]
    assert query(g, "select o.hasher.value from FilesetEntry e join e.originalFile o where e.fileset.id = :id",
                 id=fs) == [["File-Size-64"]]


def test_show_candidates_directories_depth_and_multifile(g, tmp_path):
    d = tmp_path / "tree"
    (d / "a" / "b" / "c").mkdir(parents=True)
    small_tif(d / "top.tif")
    small_tif(d / "a" / "b" / "c" / "deep.tif")
    (d / "notes.txt").write_text("not an image")
    shutil.copytree(os.path.join(SAMPLES, "ometiff-jl", "multifile-companion"), str(d / "mf"))
    r = g.omero("import", "-f", str(d))
    groups = r.stdout.split("#======================================")
    assert len([x for x in groups if x.strip()]) == 3, r.stdout   # top, deep, one multifile set
    mf = [x for x in groups if "multifile" in x][0]
    assert "Reader: loci.formats.in.OMETiffReader" in mf and "companion.ome" in mf.split("\n")[1]
    assert len([l for l in mf.splitlines() if l.startswith("/")]) == 6
    r = g.omero("import", "-f", "--depth", "2", str(d))
    assert "deep.tif" not in r.stdout and "top.tif" in r.stdout
    ids, r = import_ok(g, str(d), "--parallel-upload", "3")
    assert len(ids) == 3 and "3 filesets created" in r.stderr and "0 errors" in r.stderr
    assert "8 files uploaded" in r.stderr
    ids2, r = import_ok(g, str(d), "--parallel-fileset", "3", "--parallel-upload", "2")
    assert len(set(ids2)) == 3 and not set(ids2) & set(ids) and "3 filesets created" in r.stderr
    assert sorted(image_meta(g, i)["name"] for i in ids2) == sorted(image_meta(g, i)["name"] for i in ids)


def test_transfer_output_files_bulk_and_exclude(g, tmp_path):
    f = tmp_path / "inplace.tif"
    a = small_tif(f, 2)
    (i,), _ = import_ok(g, str(f), "--transfer", "ln_s")
    fs = image_meta(g, i)["fileset"]
    prefix = query(g, "select f.templatePrefix from Fileset f where f.id = :id", id=fs)[0][0]
    linked = os.path.join(repo_dir(g), prefix, "inplace.tif")
    assert os.path.islink(linked) and os.readlink(linked) == str(f)
    assert_same(read_planes(g, pixels_of(g, i)), a[None, None].transpose(0, 1, 2, 3, 4).reshape(1, 1, 3, 10, 12),
                "ln_s import")
    g2 = tmp_path / "copy_rm.tif"
    small_tif(g2, 3)
    import_ok(g, str(g2), "--transfer", "cp_rm")
    assert not g2.exists()
    for method in ("ln", "cp", "upload_rm"):
        src = tmp_path / ("t-%s.tif" % method)
        small_tif(src, 30)
        ino = src.stat().st_ino
        (i,), _ = import_ok(g, str(src), "--transfer", method)
        fs = image_meta(g, i)["fileset"]
        prefix = query(g, "select f.templatePrefix from Fileset f where f.id = :id", id=fs)[0][0]
        placed = os.path.join(repo_dir(g), prefix, src.name)
        assert not os.path.islink(placed)
        if method == "ln":
            assert os.stat(placed).st_ino == ino and src.exists()
        elif method == "cp":
            assert os.stat(placed).st_ino != ino and src.exists()
        else:
            assert not src.exists()
        pixels_of(g, i)
    out, errs = tmp_path / "out.txt", tmp_path / "err.txt"
    r = g.omero("import", str(f), "--file", str(out), "--errs", str(errs))
    assert r.stdout == "" and out.read_text().startswith("Image:") and "==> Summary" in errs.read_text()
    logs = tmp_path / "logs"
    logs.mkdir()
    g.omero("import", str(f), "--logprefix", str(logs) + "/", "--file", "o.txt", "--errs", "e.txt")
    assert (logs / "o.txt").read_text().startswith("Image:") and "==> Summary" in (logs / "e.txt").read_text()
    # bulk: one import per line, named by the name column
    (tmp_path / "b1.tif").write_bytes(f.read_bytes())
    (tmp_path / "b2.tif").write_bytes(f.read_bytes())
    (tmp_path / "files.tsv").write_text("bulk-one\tb1.tif\nbulk-two\tb2.tif\n")
    (tmp_path / "bulk.yml").write_text('---\npath: "files.tsv"\ncolumns:\n- name\n- path\n')
    ids, r = import_ok(g, "--bulk", str(tmp_path / "bulk.yml"))
    assert [query(g, "select i.name from Image i where i.id = :id", id=x)[0][0] for x in ids] == \
        ["bulk-one", "bulk-two"]
    # --exclude=clientpath: a file imported before is skipped
    r = g.omero("import", str(tmp_path / "b1.tif"), "--exclude", "clientpath")
    assert "Image:" not in r.stdout and "imported before" in r.stderr and r.returncode == 0


# ---------------------------------------------------------------- fs, download

def test_fs_commands_and_download(g, tmp_path):
    f = tmp_path / "fsdl.tif"
    small_tif(f, 4)
    (i,), _ = import_ok(g, str(f))
    fs = image_meta(g, i)["fileset"]
    r = g.omero("fs", "sets", "--style", "csv", "--limit", "500")
    rows = [l.split(",") for l in r.stdout.splitlines()[1:]]
    assert r.stdout.splitlines()[0] == "#,Id,Prefix,Images,Files,Transfer"
    mine = [x for x in rows if x[1] == str(fs)]
    assert mine and mine[0][3] == "1" and mine[0][4] == "1" and mine[0][2].startswith("root_0/")
    r = g.omero("fs", "sets", "--style", "csv", "--limit", "500", "--check")
    assert r.stdout.splitlines()[0].endswith(",Check")
    assert [l for l in r.stdout.splitlines() if l.split(",")[1] == str(fs)][0].endswith(",OK")
    r = g.omero("fs", "images", "--style", "csv", "--limit", "500")
    assert any(l.split(",")[1] == str(i) and l.split(",")[2] == "fsdl.tif" for l in r.stdout.splitlines())
    r = g.omero("fs", "repos", "--managed", "--style", "csv")
    assert r.stdout.splitlines()[0] == "#,Id,UUID,Type,Path" and ",Managed," + repo_dir(g) in r.stdout
    r = g.omero("fs", "ls")
    assert "root_0/" in r.stdout.split()
    prefix = mine[0][2]
    r = g.omero("fs", "ls", prefix)
    assert r.stdout.split() == ["fsdl.tif"]
    r = g.omero("fs", "usage", "Image:%d" % i, "--size_only")
    assert int(r.stdout) == f.stat().st_size
    r = g.omero("fs", "usage", "--report")
    assert r.stdout.startswith("Total disk usage: ") and "FilesetEntry" in r.stdout
    r = g.omero("fs", "importtime", "Fileset:%d" % fs)
    assert "upload:" in r.stdout and "import" in r.stdout
    g.omero("fs", "mkdir", "--parents", "made/by/admin")
    assert os.path.isdir(os.path.join(repo_dir(g), "made", "by", "admin"))
    r = g.omero("fs", "rename", "Fileset:%d" % fs)
    assert "Renaming Fileset:%d to " % fs in r.stdout
    newprefix = query(g, "select f.templatePrefix from Fileset f where f.id = :id", id=fs)[0][0]
    assert newprefix != prefix and os.path.exists(os.path.join(repo_dir(g), newprefix, "fsdl.tif"))
    assert not os.path.exists(os.path.join(repo_dir(g), prefix))
    # still readable after the move, and downloadable
    pixels_of(g, i)
    dl = tmp_path / "dl"
    g.omero("download", "Image:%d" % i, str(dl))
    assert (dl / "fsdl.tif").read_bytes() == f.read_bytes()
    of = query(g, "select e.originalFile.id from FilesetEntry e where e.fileset.id = :id", id=fs)[0][0]
    g.omero("download", "OriginalFile:%d" % of, str(tmp_path / "one.tif"))
    assert (tmp_path / "one.tif").read_bytes() == f.read_bytes()
    r = subprocess.run([os.path.join(g.bin, "omero"), "download", "OriginalFile:%d" % of, "-"], env=g.env,
                       capture_output=True)
    assert r.stdout == f.read_bytes()
    # RawFileStore directly: ranges, and imported files are read-only
    assert g.api.raw("RawFileStore", "read", fileId=of, offset=2, length=5) == f.read_bytes()[2:7]
    w = g.api.upload("RawFileStore", "write", b"xx", fileId=of, offset=0)
    assert w.status_code == 403


# ---------------------------------------------------------------- bad input: clear errors, nothing left behind

def state(g):
    """What an import leaves: files in the repository, Fileset and OriginalFile rows, images."""
    n = lambda hql: query(g, hql)[0][0]
    return (tuple(repo_files(g)), n("select count(f.id) from Fileset f"),
            n("select count(o.id) from OriginalFile o where o.mimetype <> 'Repository' and o.mimetype <> 'Directory'"),
            n("select count(i.id) from Image i"))


def assert_fails_cleanly(g, path, *words, args=()):
    before = state(g)
    r = g.omero("import", str(path), *args, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Image:" not in r.stdout
    err = r.stderr
    assert os.path.basename(str(path)) in err, err
    for w in words:
        assert w.lower() in err.lower(), err
    assert state(g) == before
    return err


def test_bad_files_fail_cleanly(g, tmp_path):
    real = os.path.join(SAMPLES, "ometiff-jl", "170918_tn_neutrophil_migration_wave.ome.tif") if SAMPLES else None
    data = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
    good = tmp_path / "good.tif"
    tifffile.imwrite(str(good), data)
    raw = good.read_bytes()
    trunc = tmp_path / "truncated.tif"
    trunc.write_bytes(raw[: len(raw) // 2])
    assert_fails_cleanly(g, trunc)
    if real:
        t2 = tmp_path / "truncated-real.ome.tif"
        t2.write_bytes(open(real, "rb").read()[:300000])
        assert_fails_cleanly(g, t2)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    assert_fails_cleanly(g, corrupt)
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    assert_fails_cleanly(g, empty, "empty")
    text = tmp_path / "notes.tif"
    text.write_text("this is not an image\n" * 10)
    assert_fails_cleanly(g, text, "unsupported")
    # a header claiming 100000 x 100000 pixels over a few bytes of data
    import struct
    entries = [(256, 4, 1, 100000), (257, 4, 1, 100000), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, 100000), (279, 4, 1, 64)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, typ, cnt) + (struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val))
        for tag, typ, cnt, val in entries) + struct.pack("<I", 0)
    huge = tmp_path / "huge.tif"
    huge.write_bytes(b"II*\x00" + struct.pack("<I", 72) + bytes(64) + ifd)
    assert_fails_cleanly(g, huge)
    # OME-XML naming files that are not there
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(os.path.join(SAMPLES, "ometiff-jl", "multifile-master", "multifile-Z1.ome.tiff"), str(lone))
    err = assert_fails_cleanly(g, lone / "multifile-Z1.ome.tiff")
    assert "multifile-Z2.ome.tiff" in err
    # the good file still imports after all that
    import_ok(g, str(good))


def start_upload(g, files, api=None, **extra):
    return (api or g.api).call("ManagedRepository", "importFileset",
                      files=[{"path": p, "clientPath": "/client/" + p, "size": len(d)} for p, d in files], **extra)


def test_bad_names_are_refused_before_anything_is_created(g):
    before = state(g)
    for name, word in [("../escape.tif", ".."), ("a/../../escape.tif", ".."), ("/etc/passwd", "absolute"),
                       ("ctl\x01char.tif", "control"), ("bad\x7f.tif", "control"), ("x/\x1b[31m.tif", "control"),
                       ("aux.tif", "reserved"), ("what?.tif", "not allowed")]:
        r = requests.post(g.api.base + "ManagedRepository/importFileset", verify=g.api.ca, timeout=30,
                          headers={"X-OMERO-Session": g.api.session},
                          json={"files": [{"path": name, "size": 10}]})
        assert r.status_code == 400, (name, r.text)
        msg = r.json()["error"]["message"]
        assert word in msg and name.split("/")[-1][:3] in msg, (name, msg)
    r = requests.post(g.api.base + "ManagedRepository/importFileset", verify=g.api.ca, timeout=30,
                      headers={"X-OMERO-Session": g.api.session}, json={"files": [{"path": "zero.tif", "size": 0}]})
    assert r.status_code == 400 and "zero.tif" in r.text and "empty" in r.text
    assert state(g) == before


def test_wrong_checksum_and_missing_files_clean_up(g, tmp_path):
    f = tmp_path / "sum.tif"
    small_tif(f, 5)
    data = f.read_bytes()
    before = state(g)
    up = start_upload(g, [("sum.tif", data)])
    assert up["checksumAlgorithm"] == "SHA1-160"
    w = g.api.upload("ImportProcess", "write", data, process=up["process"], index=0, offset=0)
    assert w.status_code == 200, w.text
    # writing past the declared size is refused
    w = g.api.upload("ImportProcess", "write", b"x", process=up["process"], index=0, offset=len(data))
    assert w.status_code == 400 and "sum.tif" in w.text
    r = requests.post(g.api.base + "ImportProcess/verifyUpload", verify=g.api.ca, timeout=30,
                      headers={"X-OMERO-Session": g.api.session},
                      json={"process": up["process"], "hashes": ["0" * 40]})
    assert r.status_code == 400 and "sum.tif" in r.text and "checksum mismatch" in r.text
    st = g.api.call("Handle", "getStatus", handle=up["handle"])
    assert st["status"] == "Error" and "sum.tif" in st["message"] and st["images"] == []
    assert state(g) == before
    # an OME-TIFF whose metadata names files the fileset lacks fails on the server, cleanly
    z1 = open(os.path.join(SAMPLES, "ometiff-jl", "multifile-master", "multifile-Z1.ome.tiff"), "rb").read()
    import hashlib
    up = start_upload(g, [("multifile-Z1.ome.tiff", z1)])
    assert g.api.upload("ImportProcess", "write", z1, process=up["process"], index=0, offset=0).status_code == 200
    g.api.call("ImportProcess", "verifyUpload", process=up["process"], hashes=[hashlib.sha1(z1).hexdigest()])
    for _ in range(100):
        st = g.api.call("Handle", "getStatus", handle=up["handle"])
        if st["finished"]:
            break
        time.sleep(0.1)
    assert st["status"] == "Error" and "multifile-Z2.ome.tiff" in st["message"], st
    assert state(g) == before


def test_interrupted_upload_is_removed(g, tmp_path):
    f = tmp_path / "half.tif"
    small_tif(f, 6, shape=(4, 64, 64))
    data = f.read_bytes()
    before = state(g)
    up = start_upload(g, [("half.tif", data), ("other.tif", data)])
    assert g.api.upload("ImportProcess", "write", data[: len(data) // 2], process=up["process"], index=0,
                        offset=0).status_code == 200
    assert state(g) != before
    # the client went away: after omero.fs.upload_timeout (4 s here) the server removes it all
    deadline = time.time() + 40
    while time.time() < deadline and state(g) != before:
        time.sleep(1)
    assert state(g) == before
    st = g.api.call("Handle", "getStatus", handle=up["handle"])
    assert st["status"] == "Error" and "abandoned" in st["message"]
    # a client that stops on purpose cancels at once
    up = start_upload(g, [("half.tif", data)])
    g.api.upload("ImportProcess", "write", data[:100], process=up["process"], index=0, offset=0)
    g.api.call("ImportProcess", "cancel", process=up["process"])
    assert state(g) == before


def test_server_killed_during_import_resumes(g, tmp_path):
    """The import is a row in PostgreSQL: a Blitz killed while importing leaves no partial rows,
    and the restarted Blitz takes the job up again; the client need not be there."""
    f = tmp_path / "many.tif"
    tifffile.imwrite(str(f), np.random.default_rng(9).integers(0, 60000, (600, 64, 64), dtype=np.uint16),
                     photometric="minisblack")
    r = g.omero("import", str(f), "--minutes-wait", "0")
    assert "being imported in the background" in r.stderr
    fs = int(r.stderr.split("Fileset:")[1].split()[0])
    handle = int(r.stderr.split("(handle ")[1].split(")")[0])
    blitz = [p for p in g.pids() if b"omero-blitz" in open("/proc/%d/cmdline" % p, "rb").read()]
    assert blitz
    os.kill(blitz[0], signal.SIGKILL)
    st = None
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            st = g.api.call("Handle", "getStatus", handle=handle)
            if st["finished"]:
                break
        except (AssertionError, requests.RequestException):
            pass
        time.sleep(0.5)
    assert st and st["status"] == "Finished", st
    assert len(st["images"]) == 1 and st["fileset"] == fs
    # exactly one image, complete: 600 planes of metadata and pixels readable
    assert query(g, "select count(i.id) from Image i where i.fileset.id = :id", id=fs) == [[1]]
    info = pixels_of(g, st["images"][0])
    assert info["sizeZ"] == 600
    ref = tifffile.imread(str(f))
    for z in (0, 599):
        b = g.api.raw("RawPixelsStore", "getPlane", pixelsId=info["pixelsId"], z=z, c=0, t=0)
        assert b == ref[z].astype(">u2").tobytes()
    assert len(query(g, "select c.statsInfo.globalMax from Channel c where c.pixels.image.id = :id",
                     id=st["images"][0])) == 1


# ---------------------------------------------------------------- over HTTPS only: the import sequence and every read

def https_import(g, name, data, chunk=1000, api=None):
    import hashlib
    api = api or g.api
    up = start_upload(g, [(name, data)], api=api, checksumAlgorithms=["MD5-128", "SHA1-160"])
    assert up["checksumAlgorithm"] == "SHA1-160"      # the server's preference order wins
    for off in range(0, len(data), chunk):
        w = api.upload("ImportProcess", "write", data[off:off + chunk], process=up["process"], index=0, offset=off)
        assert w.status_code == 200, w.text
    h = api.call("ImportProcess", "verifyUpload", process=up["process"], hashes=[hashlib.sha1(data).hexdigest()])
    assert h["handle"] == up["handle"]
    for _ in range(300):
        st = api.call("Handle", "getStatus", handle=h["handle"])
        if st["finished"]:
            return st
        time.sleep(0.1)
    raise AssertionError(st)


def test_https_import_and_every_raw_pixels_call(g, tmp_path):
    arr = np.random.default_rng(11).integers(-30000, 30000, (2, 3, 4, 20, 30), dtype=np.int16)   # T C Z Y X
    f = tmp_path / "https.ome.tif"
    tifffile.imwrite(str(f), arr, ome=True, metadata={"axes": "TCZYX"})
    st = https_import(g, "https.ome.tif", f.read_bytes())
    assert st["status"] == "Finished" and len(st["images"]) == 1 and len(st["pixels"]) == 1
    pid = st["pixels"][0]
    be = lambda a: np.ascontiguousarray(a).astype(">i2").tobytes()
    raw = lambda m, **k: g.api.raw("RawPixelsStore", m, pixelsId=pid, **k)
    val = lambda m, **k: g.api.call("RawPixelsStore", m, pixelsId=pid, **k)["value"]
    assert raw("getPlane", z=3, c=2, t=1) == be(arr[1, 2, 3])
    assert raw("getTile", z=1, c=0, t=0, x=5, y=7, w=10, h=6) == be(arr[0, 0, 1, 7:13, 5:15])
    assert raw("getRow", y=19, z=2, c=1, t=1) == be(arr[1, 1, 2, 19])
    assert raw("getCol", x=29, z=0, c=2, t=0) == be(arr[0, 2, 0, :, 29])
    assert raw("getStack", c=1, t=1) == be(arr[1, 1])
    assert raw("getTimepoint", t=0) == be(arr[0])
    assert raw("getHypercube", offset=[2, 3, 1, 0, 1], size=[5, 4, 2, 2, 1]) == be(arr[1:2, 0:2, 1:3, 3:7, 2:7])
    assert raw("getHypercube", offset=[0, 0, 0, 0, 0], size=[30, 20, 4, 3, 2], step=[2, 3, 1, 1, 1]) == \
        be(arr[:, :, :, ::3, ::2])
    assert val("getByteWidth") == 2 and val("isSigned") is True and val("isFloat") is False
    assert val("getPlaneSize") == 30 * 20 * 2 and val("getRowSize") == 60 and val("getStackSize") == 30 * 20 * 2 * 4
    assert val("getTimepointSize") == 30 * 20 * 2 * 12 and val("getTotalSize") == arr.nbytes
    assert val("getResolutionLevels") == 1
    d = g.api.call("RawPixelsStore", "getResolutionDescriptions", pixelsId=pid)["data"]
    assert [(x["sizeX"], x["sizeY"]) for x in d] == [(30, 20)]
    # out-of-range requests are ApiUsageExceptions, not crashes
    for m, k in [("getPlane", dict(z=4, c=0, t=0)), ("getTile", dict(z=0, c=0, t=0, x=25, y=0, w=10, h=5)),
                 ("getRow", dict(y=20, z=0, c=0, t=0)), ("getHypercube", dict(offset=[0, 0, 0, 0, 0], size=[31, 1, 1, 1, 1]))]:
        r = requests.post(g.api.base + "RawPixelsStore/" + m, json=dict(pixelsId=pid, **k), verify=g.api.ca, timeout=30,
                          headers={"X-OMERO-Session": g.api.session})
        assert r.status_code == 400 and r.json()["error"]["name"] == "ApiUsageException", (m, r.text)
    r = requests.post(g.api.base + "RawPixelsStore/getPlane", json=dict(pixelsId=987654, z=0, c=0, t=0),
                      verify=g.api.ca, timeout=30, headers={"X-OMERO-Session": g.api.session})
    assert r.status_code == 404


def test_pyramid_levels_and_tiles(g, tmp_path):
    base = np.random.default_rng(12).integers(0, 255, (300, 400), dtype=np.uint8)
    f = tmp_path / "pyr.ome.tif"
    with tifffile.TiffWriter(str(f)) as tw:
        tw.write(base, subifds=2, tile=(64, 64), metadata={"axes": "YX"})
        tw.write(base[::2, ::2], subfiletype=1, tile=(64, 64))
        tw.write(base[::4, ::4], subfiletype=1, tile=(64, 64))
    (image,), _ = import_ok(g, str(f))
    info = pixels_of(g, image)
    d = g.api.call("RawPixelsStore", "getResolutionDescriptions", imageId=image)["data"]
    assert [(x["sizeX"], x["sizeY"]) for x in d] == [(400, 300), (200, 150), (100, 75)]
    assert g.api.call("RawPixelsStore", "getResolutionLevels", imageId=image)["value"] == 3
    for lvl, sub in enumerate([base, base[::2, ::2], base[::4, ::4]]):
        t = g.api.raw("RawPixelsStore", "getTile", pixelsId=info["pixelsId"], z=0, c=0, t=0, x=10, y=20, w=64, h=32,
                      level=lvl)
        assert t == sub[20:52, 10:74].tobytes()
        # OMERO's numbering: resolutionLevel n-1 is full resolution
        t2 = g.api.raw("RawPixelsStore", "getTile", pixelsId=info["pixelsId"], z=0, c=0, t=0, x=10, y=20, w=64, h=32,
                       resolutionLevel=2 - lvl)
        assert t2 == t


# ---------------------------------------------------------------- permissions

def test_permissions_of_pixels_and_files(g, tmp_path):
    g.omero("group", "add", "--type", "private", "privlab")
    g.omero("group", "add", "--type", "read-only", "readlab")
    for u in ("alice", "bob"):
        g.omero("user", "add", u, u.title(), "Tester", "--group-name", "privlab", "readlab", "-P", u + "pw")
    alice, bob = Api(g, "alice", "alicepw"), Api(g, "bob", "bobpw")
    data = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    f = tmp_path / "perm.tif"
    tifffile.imwrite(str(f), data)
    bytes_ = f.read_bytes()

    def as_group(api, name):
        api.call("ISession", "setSecurityContext", group=name)

    as_group(alice, "privlab")
    st = https_import(g, "perm.tif", bytes_, api=alice)
    assert st["status"] == "Finished"
    pid = st["pixels"][0]
    assert alice.raw("RawPixelsStore", "getPlane", pixelsId=pid, z=0, c=0, t=0) == data.tobytes()
    bob.raw("RawPixelsStore", "getPlane", status=404, pixelsId=pid, z=0, c=0, t=0)
    of = query(g, "select e.originalFile.id from FilesetEntry e where e.fileset.id = :id", id=st["fileset"])[0][0]
    assert alice.raw("RawFileStore", "read", fileId=of) == bytes_
    bob.raw("RawFileStore", "read", status=404, fileId=of)
    # the handle is the owner's too, and the repository path is the user's
    bob.call("Handle", "getStatus", status=404, handle=st["handle"])
    prefix = query(g, "select f.templatePrefix from Fileset f where f.id = :id", id=st["fileset"])[0][0]
    uid = query(g, "select e.id from Experimenter e where e.omeName = 'alice'")[0][0]
    assert prefix.startswith("alice_%d/" % uid)
    # bob cannot write into alice's upload
    up = start_upload(g, [("x.tif", bytes_)], api=alice)
    assert bob.upload("ImportProcess", "write", bytes_, process=up["process"], index=0, offset=0).status_code in (403, 404)
    alice.call("ImportProcess", "cancel", process=up["process"])
    # a read-only group: bob reads alice's pixels and files, but cannot write her files
    as_group(alice, "readlab")
    st2 = https_import(g, "perm.tif", bytes_, api=alice)
    assert bob.raw("RawPixelsStore", "getPlane", pixelsId=st2["pixels"][0], z=0, c=0, t=0) == data.tobytes()
    made = alice.call("IUpdate", "saveAndReturnObject", object={
        "@type": "http://www.openmicroscopy.org/Schemas/OME/2016-06#OriginalFile", "Name": "notes.txt", "Path": "/",
        "Mimetype": "text/plain"})["data"]["@id"]
    assert alice.upload("RawFileStore", "write", b"hello ", fileId=made, offset=0).status_code == 200
    assert alice.upload("RawFileStore", "write", b"world", fileId=made, offset=6).status_code == 200
    import hashlib
    saved = alice.call("RawFileStore", "save", fileId=made)
    assert saved == {"size": 11, "hash": hashlib.sha1(b"hello world").hexdigest()}
    assert bob.raw("RawFileStore", "read", fileId=made) == b"hello world"
    assert bob.upload("RawFileStore", "write", b"HELLO", fileId=made, offset=0).status_code == 403
    assert alice.raw("RawFileStore", "read", fileId=made, offset=6, length=5) == b"world"


@needs_samples
def test_original_metadata_and_instrument(g):
    path = os.path.join(SAMPLES, "ometiff-jl", "170918_tn_neutrophil_migration_wave.ome.tif")
    (image,), _ = import_ok(g, path)
    om = g.api.call("RawPixelsStore", "getOriginalMetadata", imageId=image)
    assert om["format"] == "OME-TIFF" and om["omeXml"].lstrip().startswith("<")
    assert "<OME" in om["omeXml"] and om["series"]
    with tifffile.TiffFile(path) as tf:
        assert om["omeXml"].strip() == tf.ome_metadata.strip()
    # the instrument and its detector from the OME-XML are stored and linked to the image
    inst = query(g, "select i.instrument.id from Image i where i.id = :id", id=image)[0][0]
    assert inst and query(g, "select count(d.id) from Detector d where d.instrument.id = :id", id=inst) == [[1]]
    tiff = os.path.join(SAMPLES, "openslide-fixtures", "small.svs")
    ids, _ = import_ok(g, tiff)
    om = g.api.call("RawPixelsStore", "getOriginalMetadata", imageId=ids[0])
    assert om["series"].get("Aperio.AppMag") == "20" and om["omeXml"] is None


# ---------------------------------------------------------------- benchmarks (figures printed, not asserted)

def _rss_kb(pid, key="VmRSS"):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def test_benchmark_import_throughput(g, tmp_path):
    mb = int(os.environ.get("OMERO_BENCH_IMPORT_MB", "64"))
    planes = max(1, mb // 2)
    f = tmp_path / "bench.ome.tif"
    with tifffile.TiffWriter(str(f), bigtiff=True) as tw:
        plane = np.random.default_rng(1).integers(0, 65535, (1024, 1024), dtype=np.uint16)
        tw.write(np.broadcast_to(plane, (planes, 1024, 1024)), photometric="minisblack", metadata={"axes": "ZYX"})
    size = f.stat().st_size
    dst = os.path.join(g.data, "cp-bench.tif")
    t0 = time.time()
    subprocess.run(["cp", str(f), dst], check=True)
    os.sync()
    cp_s = time.time() - t0
    os.unlink(dst)
    blitz = [p for p in g.pids() if b"omero-blitz" in open("/proc/%d/cmdline" % p, "rb").read()][0]
    rss0 = _rss_kb(blitz)
    t0 = time.time()
    (image,), _ = import_ok(g, str(f))
    os.sync()
    imp_s = time.time() - t0
    rss1 = _rss_kb(blitz)
    print(g.omero("fs", "importtime", "Fileset:%d" % image_meta(g, image)["fileset"]).stdout)
    print("\nimport of %.0f MiB (%d planes, SHA1-160, min/max): %.1f MB/s; cp: %.1f MB/s; ratio %.2f; "
          "Blitz RSS %d -> %d KiB" % (size / 2 ** 20, planes, size / 1e6 / imp_s, size / 1e6 / cp_s, cp_s / imp_s,
                                       rss0, rss1))
    assert pixels_of(g, image)["sizeZ"] == planes


def test_benchmark_random_tiles(g, tmp_path):
    n = int(os.environ.get("OMERO_BENCH_TILE_IMAGE", "4096"))
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (n, n), dtype=np.uint8)
    f = tmp_path / "tiles.ome.tif"
    with tifffile.TiffWriter(str(f), bigtiff=True) as tw:
        tw.write(base, subifds=2, tile=(256, 256), metadata={"axes": "YX"})
        tw.write(base[::2, ::2], subfiletype=1, tile=(256, 256))
        tw.write(base[::4, ::4], subfiletype=1, tile=(256, 256))
    (image,), _ = import_ok(g, str(f))
    pid = pixels_of(g, image)["pixelsId"]
    coords = [(int(rng.integers(0, n // 256)) * 256, int(rng.integers(0, n // 256)) * 256) for _ in range(200)]
    s = requests.Session()
    s.verify = g.api.ca
    s.headers.update({"X-OMERO-Session": g.api.session, "Content-Type": "application/octet-stream"})
    t0 = time.time()
    for x, y in coords:
        r = s.post(g.api.base + "RawPixelsStore/getTile", data=b"", verify=g.api.ca, headers={"X-OMERO-Args": json.dumps(
            {"pixelsId": pid, "z": 0, "c": 0, "t": 0, "x": x, "y": y, "w": 256, "h": 256})})
        assert len(r.content) == 65536
    ours = len(coords) / (time.time() - t0)
    with tifffile.TiffFile(str(f)) as tf:
        page = tf.pages[0]
        fh = tf.filehandle
        per_row = n // 256
        t0 = time.time()
        for x, y in coords:
            idx = (y // 256) * per_row + x // 256
            fh.seek(page.dataoffsets[idx])
            tile = page.decode(fh.read(page.databytecounts[idx]), idx)[0]
            assert tile.size == 65536
        ref = len(coords) / (time.time() - t0)
    print("\nrandom 256x256 tiles of a %dx%d pyramid: %.0f tiles/s over HTTPS (RawPixelsStore.getTile); "
          "tifffile in-process: %.0f tiles/s; ratio %.2f" % (n, n, ours, ref, ours / ref))


def test_png_and_jpeg(g, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(13)
    rgb = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    png = tmp_path / "colour.png"
    Image.fromarray(rgb).save(str(png))
    gray16 = rng.integers(0, 65535, (25, 35), dtype=np.uint16)
    png16 = tmp_path / "gray16.png"
    Image.fromarray(gray16).save(str(png16))
    jpg = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(str(jpg), quality=90)
    for path in (png, png16, jpg):
        (image,), _ = import_ok(g, str(path))
        info = pixels_of(g, image)
        with Image.open(str(path)) as im:
            ref = np.array(im)
        ref = ref[..., None] if ref.ndim == 2 else ref
        ref = np.transpose(ref, (2, 0, 1))[None, :, None]
        got = read_planes(g, info)
        assert got.shape == ref.shape, path
        assert got.tobytes() == ref.astype(ref.dtype.newbyteorder("=")).astype(got.dtype).tobytes(), path
        fmt = query(g, "select i.format.value from Image i where i.id = :id", id=image)[0][0]
        assert fmt == ("JPEG" if str(path).endswith(".jpg") else "PNG")


@needs_samples
def test_download_multifile_fileset_and_stdin_and_dry_run(g, tmp_path):
    src = os.path.join(SAMPLES, "ometiff-jl", "multifile-companion")
    (image,), _ = import_ok(g, src)
    dl = tmp_path / "dl"
    g.omero("download", "Image:%d" % image, str(dl))
    got = sorted(os.listdir(str(dl)))
    assert got == sorted(os.listdir(src))
    for name in got:
        assert (dl / name).read_bytes() == open(os.path.join(src, name), "rb").read()
    fs = image_meta(g, image)["fileset"]
    dl2 = tmp_path / "dl2"
    g.omero("download", "Fileset:%d" % fs, str(dl2))
    assert sorted(os.listdir(str(dl2))) == got
    r = g.omero("download", "Image:999999", str(tmp_path / "none"), check=False)
    assert r.returncode == 1 and "999999" in r.stderr
    # paths on standard input
    f = tmp_path / "stdin.tif"
    small_tif(f, 8)
    r = g.omero("import", "-", input=str(f) + "\n")
    assert r.stdout.startswith("Image:")
    # a bulk dry run shows the imports and does none
    (tmp_path / "list.txt").write_text(str(f) + "\n")
    (tmp_path / "dry.yml").write_text('---\npath: "list.txt"\ndry_run: true\n')
    before = state(g)
    r = g.omero("import", "--bulk", str(tmp_path / "dry.yml"))
    assert str(f) in r.stdout and "Image:" not in r.stdout and state(g) == before


def test_bit_planes_are_packed(g, tmp_path):
    bits = np.random.default_rng(14).random((13, 21)) > 0.5
    f = tmp_path / "bits.tif"
    tifffile.imwrite(str(f), bits)
    (image,), _ = import_ok(g, str(f))
    info = pixels_of(g, image)
    assert info["pixelsType"] == "bit"
    pid = info["pixelsId"]
    b = g.api.raw("RawPixelsStore", "getPlane", pixelsId=pid, z=0, c=0, t=0)
    assert b == np.packbits(bits.astype(np.uint8).ravel()).tobytes()
    t = g.api.raw("RawPixelsStore", "getTile", pixelsId=pid, z=0, c=0, t=0, x=3, y=2, w=9, h=5)
    assert t == np.packbits(bits[2:7, 3:12].astype(np.uint8).ravel()).tobytes()
    assert g.api.call("RawPixelsStore", "getPlaneSize", pixelsId=pid)["value"] == (13 * 21 + 7) // 8
    h = g.api.raw("RawPixelsStore", "getHypercube", pixelsId=pid, offset=[0, 0, 0, 0, 0], size=[21, 13, 1, 1, 1],
                  step=[2, 3, 1, 1, 1])
    assert h == np.packbits(bits[::3, ::2].astype(np.uint8).ravel()).tobytes()


def test_cli_killed_during_upload_leaves_nothing(g, tmp_path):
    f = tmp_path / "big.tif"
    tifffile.imwrite(str(f), np.random.default_rng(15).integers(0, 65535, (48, 1024, 1024), dtype=np.uint16),
                     photometric="minisblack")
    before = state(g)
    p = subprocess.Popen([os.path.join(g.bin, "omero"), "import", str(f)], env=g.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.time() + 60
    partial = None
    while time.time() < deadline and partial is None:
        for path in repo_files(g):
            if path.endswith("/big.tif") and 0 < os.path.getsize(path):
                partial = path
        time.sleep(0.01)
    p.kill()
    p.wait()
    assert partial, "the upload never started"
    assert os.path.getsize(partial) < f.stat().st_size or not os.path.exists(partial)
    deadline = time.time() + 60
    while time.time() < deadline and state(g) != before:
        time.sleep(1)
    assert state(g) == before


def test_export_pyramid_as_subifds(g, tmp_path):
    base = np.random.default_rng(16).integers(0, 60000, (200, 260), dtype=np.uint16)
    f = tmp_path / "pyr-src.ome.tif"
    with tifffile.TiffWriter(str(f)) as tw:
        tw.write(base, subifds=2, tile=(64, 64), metadata={"axes": "YX"})
        tw.write(base[::2, ::2], subfiletype=1, tile=(64, 64))
        tw.write(base[::4, ::4], subfiletype=1, tile=(64, 64))
    (image,), _ = import_ok(g, str(f))
    out = tmp_path / "pyr.ome.tiff"
    g.omero("export", "--file", str(out), "Image:%d" % image)
    with tifffile.TiffFile(str(out)) as tf:
        assert tf.is_ome
        s = tf.series[0]
        assert len(s.levels) == 3
        for lvl, ref in enumerate([base, base[::2, ::2], base[::4, ::4]]):
            assert np.array_equal(s.levels[lvl].asarray(), ref), lvl
    (again,), _ = import_ok(g, str(out))
    assert len(pixels_of(g, again)["levels"]) == 3


def test_progress_bar_on_a_terminal(g, tmp_path):
    import pty
    f = tmp_path / "bar.tif"
    small_tif(f, 17, shape=(8, 256, 256))
    master, slave = pty.openpty()
    p = subprocess.Popen([os.path.join(g.bin, "omero"), "import", str(f)], env=g.env, stdout=subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    stdout, _ = p.communicate(timeout=120)
    os.close(master)
    assert p.returncode == 0 and stdout.decode().startswith("Image:")
    text = out.decode(errors="replace")
    assert "bar.tif" in text and "100%" in text and "\r" in text and "#" in text


def test_export_iterate_dataset_and_screen_target(g, tmp_path):
    ids = []
    for k in range(2):
        f = tmp_path / ("it%d.tif" % k)
        small_tif(f, 20 + k)
        (i,), _ = import_ok(g, str(f), "-T", "Dataset:name:iterate-me")
        ids.append(i)
    ds = query(g, "select l.parent.id from DatasetImageLink l where l.child.id = :id", id=ids[0])[0][0]
    out = tmp_path / "exports"
    g.omero("export", "--iterate", "--file", str(out), "Dataset:%d" % ds)
    assert sorted(os.listdir(str(out))) == sorted("%d.ome.tiff" % i for i in ids)
    for k, i in enumerate(ids):
        assert np.array_equal(tifffile.imread(str(out / ("%d.ome.tiff" % i))), tifffile.imread(str(tmp_path / ("it%d.tif" % k))))
    r = g.omero("import", str(tmp_path / "it0.tif"), "-r", "3", check=False)
    assert r.returncode == 1 and "Screen" in r.stderr and "Image:" not in r.stdout
    r = g.omero("export", "--file", str(tmp_path / "x.tiff"), "Image:999999", check=False)
    assert r.returncode != 0 and "999999" in r.stderr
    assert not os.path.exists(str(tmp_path / "x.tiff")) and not os.path.exists(str(tmp_path / "x.tiff.part"))


def test_big_file_uploads_in_lanes_with_checksums(g, tmp_path):
    """A file of several chunks goes up over several connections at once (chunks arrive out of
    order); the server's checksum, computed as they arrive, must still equal the file's."""
    import hashlib
    f = tmp_path / "big.tif"
    rng = np.random.default_rng(5)
    tifffile.imwrite(f, rng.integers(0, 65535, size=(11, 1024, 2048), dtype=np.uint16))  # 44 MiB: 6 chunks
    data = f.read_bytes()
    for alg, want in (("SHA1-160", hashlib.sha1(data).hexdigest()), ("MD5-128", hashlib.md5(data).hexdigest())):
        (i,), _ = import_ok(g, str(f), "--skip", "minmax", "--skip", "thumbnails",
                           "--checksum-algorithm", alg)
        fs = image_meta(g, i)["fileset"]
        h = query(g, "select o.hash from FilesetEntry e join e.originalFile o where e.fileset.id = :id", id=fs)
        assert h == [[want]], alg
        ours = [p for p in repo_files(g) if p.endswith("/big.tif")]
        assert any(open(p, "rb").read() == data for p in ours)
    info = pixels_of(g, i)
    assert bytes(g.api.raw("RawPixelsStore", "getPlane", pixelsId=info["pixelsId"], z=10, c=0, t=0)) == \
        tifffile.imread(f)[10].astype(">u2").tobytes()
