"""Rendering settings stored on the server (IRenderingSettings, RenderingEngine.getSettings /
saveSettings) through a real grid: the RenderingDef made at import (model, windows from the
statistics, colours from the metadata or OMERO's defaults), settings per user (one user's saved
settings never change another's view), resets, applying settings to sets, and bad input that
must change nothing.
"""
import hashlib
import os
import time

import numpy as np
import pytest
import tifffile

from conftest import started_grid
from test_import import Api, SAMPLES, needs_samples, query

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def g(installation):
    with started_grid(installation, api=Api) as grid:
        grid.omero("group", "add", "rslab", "--type=read-annotate")
        grid.omero("group", "add", "rolab", "--type=read-only")
        for u in ("alice", "bob"):
            grid.omero("user", "add", u, u.title(), "Tester", "--group-name", "rslab", "rolab", "-P", u + "pw")
        yield grid


def https_import(g, name, data, api=None, **extra):
    """Upload one file over HTTPS and wait for the server-side import; the final status."""
    api = api or g.api
    up = api.call("ManagedRepository", "importFileset",
                  files=[{"path": name, "clientPath": "/client/" + name, "size": len(data)}], **extra)
    for off in range(0, len(data), 1 << 20):
        w = api.upload("ImportProcess", "write", data[off:off + (1 << 20)], process=up["process"], index=0,
                       offset=off)
        assert w.status_code == 200, w.text
    h = api.call("ImportProcess", "verifyUpload", process=up["process"], hashes=[hashlib.sha1(data).hexdigest()])
    for _ in range(600):
        st = api.call("Handle", "getStatus", handle=h["handle"])
        if st["finished"]:
            assert st["status"] == "Finished", st
            return st
        time.sleep(0.1)
    raise AssertionError(st)


def import_file(g, path, api=None, **extra):
    with open(path, "rb") as f:
        return https_import(g, os.path.basename(path), f.read(), api=api, **extra)


def settings(api, pid):
    return api.call("RenderingEngine", "getSettings", pixelsId=pid)


def stats_of(arr):
    """Per-channel (min, max) over every plane of a (C, …) array."""
    return [(float(c.min()), float(c.max())) for c in arr]


def ome_tiff_with_colours(path):
    """2-channel uint16 OME-TIFF: channel 0 has Color red, channel 1 only an emission wavelength of
    520 nm (green by ColorsFactory)."""
    rng = np.random.default_rng(5)
    arr = rng.integers(100, 3000, (2, 40, 50), dtype=np.uint16)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
           '<Image ID="Image:0" Name="colours"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
           'SizeX="50" SizeY="40" SizeZ="1" SizeC="2" SizeT="1">'
           '<Channel ID="Channel:0:0" Name="red one" Color="-16776961" SamplesPerPixel="1"/>'
           '<Channel ID="Channel:0:1" Name="green one" EmissionWavelength="520" SamplesPerPixel="1"/>'
           '<TiffData IFD="0" FirstC="0" PlaneCount="1"/><TiffData IFD="1" FirstC="1" PlaneCount="1"/>'
           '</Pixels></Image></OME>')
    with tifffile.TiffWriter(str(path)) as w:
        w.write(arr[0], description=xml, metadata=None)
        w.write(arr[1], metadata=None)
    return arr


# ---------------------------------------------------------------- defaults made at import

@needs_samples
def test_import_creates_default_settings(g, tmp_path):
    path = os.path.join(SAMPLES, "ome-artificial", "multi-channel-z-series.ome.tiff")
    st = import_file(g, path)
    pid = st["pixels"][0]
    arr = tifffile.imread(path)          # C, Z, Y, X
    rdef = g.api.call("IRenderingSettings", "getRenderingSettings", pixelsId=pid)["value"]
    assert rdef is not None and rdef["@type"] == "RenderingDef"
    root_id = query(g, "select e.id from Experimenter e where e.omeName = 'root'")[0][0]
    assert rdef["ownerId"] == root_id
    assert rdef["model"] == "rgb" and rdef["defaultZ"] == 5 // 2 and rdef["defaultT"] == 0
    assert rdef["quantization"] == {"bitResolution": 255, "cdStart": 0, "cdEnd": 255}
    cbs = rdef["channelBindings"]
    assert len(cbs) == 3
    for cb, (lo, hi), rgb in zip(cbs, stats_of(arr), [(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        assert (cb["inputStart"], cb["inputEnd"]) == (lo, hi)
        assert (cb["red"], cb["green"], cb["blue"], cb["alpha"]) == rgb + (255,)
        assert cb["active"] and cb["family"] == "linear" and cb["coefficient"] == 1
        assert not cb["noiseReduction"] and not cb["reverseIntensity"]
    # the rows are OMERO's: one RenderingDef with a QuantumDef and ordered ChannelBindings
    rows = query(g, "select r.id, r.model.value, r.quantization.bitResolution from RenderingDef r "
                    "where r.pixels.id = :id", id=pid)
    assert len(rows) == 1 and rows[0][1:] == ["rgb", 255]
    n = query(g, "select count(b.id) from ChannelBinding b where b.renderingDef.id = :id", id=rows[0][0])
    assert n == [[3]]
    # the engine's view is the same settings
    s = settings(g.api, pid)
    assert s["rdefId"] == rows[0][0] and s["settings"]["model"] == "rgb"
    assert [c["color"] for c in s["settings"]["channels"]] == ["FF0000FF", "00FF00FF", "0000FFFF"]


@needs_samples
def test_single_channel_is_greyscale_with_window_from_stats(g):
    path = os.path.join(SAMPLES, "cellprofiler-examplehuman", "AS_09125_050116030001_D03f00d0.tif")
    pid = import_file(g, path)["pixels"][0]
    arr = tifffile.imread(path)
    s = settings(g.api, pid)["settings"]
    assert s["model"] == "greyscale"
    ch = s["channels"][0]
    assert (ch["start"], ch["end"]) == (float(arr.min()), float(arr.max()))
    assert ch["active"]


def test_colours_from_metadata_and_wavelength(g, tmp_path):
    f = tmp_path / "colours.ome.tif"
    arr = ome_tiff_with_colours(f)
    pid = import_file(g, str(f))["pixels"][0]
    s = settings(g.api, pid)["settings"]
    assert s["model"] == "rgb"
    assert [c["color"] for c in s["channels"]] == ["FF0000FF", "00FF00FF"]
    assert [(c["start"], c["end"]) for c in s["channels"]] == stats_of(arr)


def test_skip_minmax_gives_type_range_windows(g, tmp_path):
    f = tmp_path / "nostats.tif"
    tifffile.imwrite(str(f), np.arange(30 * 20, dtype=np.uint16).reshape(20, 30))
    pid = import_file(g, str(f), skip=["minmax"])["pixels"][0]
    ch = settings(g.api, pid)["settings"]["channels"][0]
    assert (ch["start"], ch["end"]) == (0.0, 65535.0)


# ---------------------------------------------------------------- per user

def test_settings_are_per_user(g, tmp_path):
    alice, bob = Api(g, "alice", "alicepw"), Api(g, "bob", "bobpw")
    for api in (alice, bob):
        api.call("ISession", "setSecurityContext", group="rslab")
    f = tmp_path / "shared.ome.tif"
    arr = ome_tiff_with_colours(f)
    pid = import_file(g, str(f), api=alice)["pixels"][0]
    defaults = settings(alice, pid)
    assert defaults["ownerId"] == query(g, "select e.id from Experimenter e where e.omeName = 'alice'")[0][0]
    # alice changes her window and colour
    saved = alice.call("RenderingEngine", "saveSettings", pixelsId=pid, settings={
        "channels": [{"start": 200, "end": 1000, "color": "FF00FF"}, {"active": False}]})
    assert saved["version"] == defaults["version"] + 1 and saved["rdefId"] == defaults["rdefId"]
    a = settings(alice, pid)["settings"]
    assert (a["channels"][0]["start"], a["channels"][0]["end"], a["channels"][0]["color"]) == (200, 1000, "FF00FFFF")
    assert a["channels"][1]["active"] is False
    # bob has none of his own: he sees the owner's, and getRenderingSettings (his own) is null
    assert bob.call("IRenderingSettings", "getRenderingSettings", pixelsId=pid)["value"] is None
    assert settings(bob, pid)["settings"] == a
    # bob saves his own; alice's stay as they were
    bob.call("RenderingEngine", "saveSettings", pixelsId=pid, settings={"model": "greyscale",
                                                                         "channels": [{"start": 0, "end": 50}, {}]})
    b = settings(bob, pid)
    assert b["settings"]["model"] == "greyscale" and b["settings"]["channels"][0]["end"] == 50
    assert b["rdefId"] != defaults["rdefId"]
    assert settings(alice, pid)["settings"] == a
    own = bob.call("IRenderingSettings", "getRenderingSettings", pixelsId=pid)["value"]
    assert own["ownerId"] == query(g, "select e.id from Experimenter e where e.omeName = 'bob'")[0][0]
    assert len(alice.call("IRenderingSettings", "getAllRenderingDefs", pixelsId=pid)["value"]) == 2
    # bob resets his to the import defaults: alice's still unchanged
    bob.call("IRenderingSettings", "resetDefaultsInImage", imageId=st_image(g, pid))
    rb = settings(bob, pid)["settings"]
    assert [(c["start"], c["end"]) for c in rb["channels"]] == stats_of(arr)
    assert rb["model"] == "rgb"
    assert settings(alice, pid)["settings"] == a
    # bob takes the owner's settings (resetDefaultsByOwnerInSet)
    r = bob.call("IRenderingSettings", "resetDefaultsByOwnerInSet", type="Image", ids=[st_image(g, pid)])
    assert r["value"] == [st_image(g, pid)]
    assert settings(bob, pid)["settings"] == a
    # alice resets hers (resetDefaultsForPixels)
    alice.call("IRenderingSettings", "resetDefaultsForPixels", pixelsId=pid)
    assert settings(alice, pid)["settings"] == defaults["settings"]
    assert settings(bob, pid)["settings"] == a


def st_image(g, pid):
    return query(g, "select p.image.id from Pixels p where p.id = :id", id=pid)[0][0]


def test_read_only_group_refuses_others_settings(g, tmp_path):
    alice, bob = Api(g, "alice", "alicepw"), Api(g, "bob", "bobpw")
    for api in (alice, bob):
        api.call("ISession", "setSecurityContext", group="rolab")
    f = tmp_path / "ro.tif"
    tifffile.imwrite(str(f), np.arange(20 * 10, dtype=np.uint8).reshape(10, 20))
    pid = import_file(g, str(f), api=alice)["pixels"][0]
    before = settings(bob, pid)
    r = bob.call("RenderingEngine", "saveSettings", status=403, pixelsId=pid, settings={"channels": [{"end": 10}]})
    assert "not permitted" in r["error"]["message"]
    assert settings(bob, pid) == before
    assert len(alice.call("IRenderingSettings", "getAllRenderingDefs", pixelsId=pid)["value"]) == 1


# ---------------------------------------------------------------- sets

@needs_samples
def test_apply_settings_to_dataset_and_reset(g, tmp_path):
    src = os.path.join(SAMPLES, "ome-artificial", "multi-channel.ome.tiff")
    images = []
    for i in range(3):
        r = g.omero("import", src, "-T", "Dataset:name:applyset", timeout=300)
        images += [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")]
    other = os.path.join(SAMPLES, "ome-artificial", "single-channel.ome.tiff")
    r = g.omero("import", other, "-T", "Dataset:name:applyset", timeout=300)
    single = [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")][0]
    ds = query(g, "select l.parent.id from DatasetImageLink l where l.child.id = :id", id=images[0])[0][0]
    pix = [query(g, "select p.id from Pixels p where p.image.id = :id", id=i)[0][0] for i in images]
    defaults = [settings(g.api, p)["settings"] for p in pix]
    new = g.api.call("RenderingEngine", "saveSettings", pixelsId=pix[0], settings={
        "model": "greyscale", "channels": [{"start": -10, "end": 20, "family": "logarithmic"}, {"active": False},
                                           {"reverse": True}]})
    assert new["version"] >= 1
    want = settings(g.api, pix[0])["settings"]
    r = g.api.call("IRenderingSettings", "applySettingsToSet", **{"from": pix[0], "type": "Dataset", "ids": [ds]})
    assert sorted(r["True"]) == sorted(images) and r["False"] == [single]
    for p in pix:
        assert settings(g.api, p)["settings"] == want
    assert g.api.call("IRenderingSettings", "sanityCheckPixels", pixelsFrom=pix[0], pixelsTo=pix[1])["value"] is True
    single_pix = query(g, "select p.id from Pixels p where p.image.id = :id", id=single)[0][0]
    assert g.api.call("IRenderingSettings", "sanityCheckPixels", pixelsFrom=pix[0],
                      pixelsTo=single_pix)["value"] is False
    # back to the import defaults for the whole dataset
    r = g.api.call("IRenderingSettings", "resetDefaultsInSet", type="Dataset", ids=[ds])
    assert sorted(r["value"]) == sorted(images + [single])
    for p, d in zip(pix, defaults):
        assert settings(g.api, p)["settings"] == d
    # applySettingsToImages and applySettingsToDataset, then setOriginalSettingsInSet on images
    r = g.api.call("IRenderingSettings", "applySettingsToImages", **{"from": pix[1], "ids": [images[2]]})
    assert r == {"True": [images[2]], "False": []}
    r = g.api.call("IRenderingSettings", "applySettingsToDataset", **{"from": pix[0], "datasetId": ds})
    assert r["False"] == [single]
    r = g.api.call("IRenderingSettings", "setOriginalSettingsInSet", type="Image", ids=images)
    assert sorted(r["value"]) == sorted(images)
    for p, d in zip(pix, defaults):
        assert settings(g.api, p)["settings"] == d
    # a project: its datasets' images
    r = g.omero("import", src, "-T", "Project:name:rsproj/Dataset:name:rsds", timeout=300)
    (inproj,) = [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")]
    proj = query(g, "select p.id from Project p where p.name = 'rsproj'")[0][0]
    r = g.api.call("IRenderingSettings", "applySettingsToSet", **{"from": pix[0], "type": "Project", "ids": [proj]})
    assert r == {"True": [inproj], "False": []}
    pp = query(g, "select p.id from Pixels p where p.image.id = :id", id=inproj)[0][0]
    assert settings(g.api, pp)["settings"] == settings(g.api, pix[0])["settings"]
    assert g.api.call("IRenderingSettings", "resetDefaultsInSet", type="Project", ids=[proj]) == {"value": [inproj]}
    assert settings(g.api, pp)["settings"] == defaults[0]
    # a plate: the images of its wells
    r = g.omero("import", src, timeout=300)
    (inwell,) = [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")]
    plate = g.api.call("IUpdate", "saveAndReturnObject", object={
        "@type": "Plate", "Name": "rsplate", "Wells": [{"@type": "Well", "Row": 0, "Column": 0, "WellSamples": [
            {"@type": "WellSample", "Image": {"@type": "Image", "@id": inwell}}]}]})["data"]["@id"]
    r = g.api.call("IRenderingSettings", "applySettingsToSet", **{"from": pix[0], "type": "Plate", "ids": [plate]})
    assert r == {"True": [inwell], "False": []}
    pw = query(g, "select p.id from Pixels p where p.image.id = :id", id=inwell)[0][0]
    assert settings(g.api, pw)["settings"] == settings(g.api, pix[0])["settings"]
    assert g.api.call("IRenderingSettings", "resetDefaultsInSet", type="Plate", ids=[plate]) == {"value": [inwell]}
    assert settings(g.api, pw)["settings"] == defaults[0]


# ---------------------------------------------------------------- bad input

def test_bad_input_changes_nothing(g, tmp_path):
    f = tmp_path / "bad.tif"
    tifffile.imwrite(str(f), np.arange(3 * 20 * 10, dtype=np.uint16).reshape(3, 10, 20), photometric="minisblack",
                     metadata={"axes": "CYX"})
    pid = import_file(g, str(f))["pixels"][0]
    before = settings(g.api, pid)
    nch = len(before["settings"]["channels"])
    bad = [
        {"channels": [{"coefficient": -1}] + [{}] * (nch - 1)},
        {"channels": [{"start": 10, "end": 5}] + [{}] * (nch - 1)},
        {"channels": [{"family": "cubic"}] + [{}] * (nch - 1)},
        {"channels": [{"color": "GG0000"}] + [{}] * (nch - 1)},
        {"model": "sepia"},
        {"quantization": {"bit_resolution": 1000, "cd_start": 0, "cd_end": 255}},
        {"default_z": 5},
        {"channels": [{}] * (nch + 1)},
    ]
    for s in bad:
        r = g.api.call("RenderingEngine", "saveSettings", status=400, pixelsId=pid, settings=s)
        assert r["error"]["message"], s
    r = g.api.call("RenderingEngine", "saveSettings", status=400, pixelsId=pid, settings="red")
    assert "settings" in r["error"]["message"]
    assert settings(g.api, pid) == before
    g.api.call("RenderingEngine", "getSettings", status=404, pixelsId=987654321)
    g.api.call("RenderingEngine", "saveSettings", status=404, pixelsId=987654321, settings={})
    g.api.call("IRenderingSettings", "getRenderingSettings", status=400)
    g.api.call("IRenderingSettings", "resetDefaultsInImage", status=404, imageId=987654321)
    r = g.api.call("IRenderingSettings", "applySettingsToSet", status=400, **{"from": pid, "type": "Screen",
                                                                               "ids": [1]})
    assert "Screen" in r["error"]["message"]
    g.api.call("IRenderingSettings", "applySettingsToSet", status=400, **{"from": pid, "type": "Image", "ids": 3})
    g.api.call("IRenderingSettings", "applySettingsToSet", status=400, **{"from": pid, "type": "Image",
                                                                           "ids": ["x"]})
    g.api.call("IRenderingSettings", "resetDefaultsInSet", status=400, type="Dataset")
    # unknown ids in a set are skipped, as OMERO skips them
    assert g.api.call("IRenderingSettings", "resetDefaultsInSet", type="Image", ids=[987654321]) == {"value": []}
    assert settings(g.api, pid) == before
