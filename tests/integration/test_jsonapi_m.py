"""OMERO's JSON API model URLs (/api/v0/m/, seed 3.2.7) through the installed grid over HTTPS:
every listing and nested URL with the object shapes of apps.md section 3.6 checked field by field,
paging and the meta block, the owner/group/project/dataset/orphaned/normalize/childCount filters,
POST/PUT/DELETE with CSRF enforced, permissions (another user's private data stays invisible),
and bad input answered with 400/404/405 {"message": ...} without changing anything.
The helpers at the top are shared with test_containers.py."""
import pytest
import requests

import conftest

from qu_support import SCHEMA, make_group, make_user, ok, start_grid

from qu_support import SCHEMA, ok


class JsonApi:
    """OMERO's JSON API over HTTPS through the router, logged in as one user."""

    def __init__(self, api, user=None, password=None):
        self.api = api
        self.base = api.base
        self.http = requests.Session()
        self.token = self.http.get(self.base + "/api/v0/token/", verify=api.ca, timeout=60).json()["data"]
        if user:
            r = self.http.post(self.base + "/api/v0/login/", data={"server": 1, "username": user, "password": password},
                               headers={"X-CSRFToken": self.token}, verify=api.ca, timeout=60)
            assert r.status_code == 200, r.text

    def get(self, path):
        r = self.http.get(self.base + "/api/v0/" + path, verify=self.api.ca, timeout=120)
        return r.status_code, r.json()

    def send(self, method, path, body=None, csrf=True, raw=None, token=None):
        headers = {"X-CSRFToken": token or self.token} if csrf else {}
        if raw is not None:
            headers["Content-Type"] = "application/json"
            r = self.http.request(method, self.base + "/api/v0/" + path, data=raw, headers=headers,
                                  verify=self.api.ca, timeout=60)
        else:
            r = self.http.request(method, self.base + "/api/v0/" + path, json=body, headers=headers,
                                  verify=self.api.ca, timeout=60)
        return r.status_code, r.json()

    def url(self, tail):
        return self.base + "/api/v0/m/" + tail


def enum_id(api, session, cls, value):
    q = "select e from %s e where e.value = :v" % cls
    return ok(api.raw("IQuery", "findAllByQuery", {"query": q, "params": {"v": value}}, session))["data"][0]["@id"]


def save(api, session, obj, group=None):
    body = {"object": obj}
    if group is not None:
        body["group"] = group
    return ok(api.raw("IUpdate", "saveAndReturnObject", body, session))["data"]


def image(name, enums, channels=False, acquired=None):
    """An Image with Pixels (uint16, 0.5 µm pixels) and, when asked, one red DAPI channel."""
    pix = {"@type": "Pixels", "SizeX": 512, "SizeY": 256, "SizeZ": 3, "SizeC": 1, "SizeT": 1,
           "omero:sha1": "eae01c54191fd9cf4b09e3651e1899d677375b7d", "SignificantBits": 16,
           "DimensionOrder": {"@type": "DimensionOrder", "@id": enums["XYZCT"]},
           "Type": {"@type": "PixelsType", "@id": enums["uint16"]},
           "PhysicalSizeX": {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Value": 0.5},
           "PhysicalSizeY": {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Value": 0.5}}
    if channels:
        pix["Channels"] = [{"@type": "Channel", "Red": 255, "Green": 0, "Blue": 0, "Alpha": 255,
                            "LogicalChannel": {"@type": "LogicalChannel", "Name": "DAPI", "SamplesPerPixel": 1,
                                               "EmissionWave": {"Unit": "NANOMETER", "Value": 520.0},
                                               "PhotometricInterpretation": {"@type": "PhotometricInterpretation",
                                                                             "@id": enums["Monochrome"]}}}]
    img = {"@type": "Image", "Name": name, "Pixels": [pix]}
    if acquired:
        img["AcquisitionDate"] = acquired
    return img


def enums(api, session):
    return {"XYZCT": enum_id(api, session, "DimensionOrder", "XYZCT"),
            "uint16": enum_id(api, session, "PixelsType", "uint16"),
            "Monochrome": enum_id(api, session, "PhotometricInterpretation", "Monochrome")}


def no_nulls(v, where="$"):
    """Fail when a JSON value holds a null anywhere (the JSON API leaves nulls out)."""
    if isinstance(v, dict):
        for k, x in v.items():
            assert x is not None, "%s.%s is null" % (where, k)
            no_nulls(x, where + "." + k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            no_nulls(x, "%s[%d]" % (where, i))


T = SCHEMA + "#"


OWN_FILES = ("jsonapi_m.c", "jsonapi.c", "container.c", "metadata.c", "cli/tag.c")


def stop_and_check_sanitizers(g):
    """Stop the grid, then report sanitizer findings in its logs (under `make asan`): any memory or
    undefined-behaviour error, and leaks whose stack passes through the code these tests are about."""
    return conftest.sanitizer_report(g, OWN_FILES)

PW = {"alice": "alice-Pw-1", "bob": "bob-Pw-2", "eve": "eve-Pw-3"}
PERM_KEYS = {"isUserWrite", "isWorldWrite", "canDelete", "isWorldRead", "perm", "canEdit", "canAnnotate",
             "isGroupAnnotate", "isGroupWrite", "canLink", "isUserRead", "@type", "isGroupRead"}


@pytest.fixture(scope="module")
def env(installation):
    g, api, root, rootpw = start_grid(installation)
    try:
        ids = {"lab": make_group(api, root, "lab", "rwra--"), "other": make_group(api, root, "other", "rw----"),
               "priv": make_group(api, root, "priv", "rw----")}
        ids["alice"] = make_user(api, root, "alice", "lab", PW["alice"], others=[ids["priv"]])
        ids["bob"] = make_user(api, root, "bob", "lab", PW["bob"], others=[ids["priv"]])
        ids["eve"] = make_user(api, root, "eve", "other", PW["eve"])
        s = {u: api.login(u, PW[u]) for u in PW}
        e = enums(api, root)
        a = s["alice"]
        o = {}
        alpha = save(api, a, {"@type": "Project", "Name": "alpha", "Description": "first", "DatasetLinks": [
            {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "d-a1", "ImageLinks": [
                {"@type": "DatasetImageLink", "child": image("img-1", e, channels=True, acquired=1235730332000)},
                {"@type": "DatasetImageLink", "child": image("img-2", e)}]}},
            {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "d-a2"}}]})
        o["alpha"] = alpha["@id"]
        for link in alpha["DatasetLinks"]:
            o[link["Child"]["Name"]] = link["Child"]["@id"]
        imgs = ok(api.raw("IQuery", "findAllByQuery", {"query": "select i from Image i where i.name like 'img-%'"}, a))
        for i in imgs["data"]:
            o[i["Name"]] = i["@id"]
        o["beta"] = save(api, a, {"@type": "Project", "Name": "beta"})["@id"]
        orphan_ds = save(api, a, {"@type": "Dataset", "Name": "d-orphan", "ImageLinks": [
            {"@type": "DatasetImageLink", "child": image("img-in-orphan", e)}]})
        o["d-orphan"] = orphan_ds["@id"]
        o["img-alone"] = save(api, a, image("img-alone", e))["@id"]
        plate = save(api, a, {"@type": "Plate", "Name": "pl", "Rows": 8, "Columns": 12, "RowNamingConvention": "letter",
                              "ColumnNamingConvention": "number", "ExternalIdentifier": "ext-1",
                              "PlateAcquisitions": [{"@type": "PlateAcquisition", "Name": "run", "MaximumFieldCount": 2,
                                                     "StartTime": 1252938959000, "EndTime": 1252939813000}]})
        o["pl"] = plate["@id"]
        o["run"] = plate["PlateAcquisitions"][0]["@id"]
        for row, col in ((1, 0), (0, 1), (0, 0)):
            samples = [{"@type": "WellSample", "PosX": {"Unit": "REFERENCEFRAME", "Value": 21864.47},
                        "PosY": {"Unit": "REFERENCEFRAME", "Value": 36711.98},
                        "PlateAcquisition": {"@type": "PlateAcquisition", "@id": o["run"]},
                        "Image": image("w-%d-%d" % (row, col), e)}]
            if (row, col) == (0, 0):      # a second field in one well only
                samples.append({"@type": "WellSample", "PlateAcquisition": {"@type": "PlateAcquisition", "@id": o["run"]},
                                "Image": image("w-0-0-f1", e)})
            well = save(api, a, {"@type": "Well", "Row": row, "Column": col, "Plate": {"@type": "Plate", "@id": o["pl"]},
                                 "WellSamples": samples})
            o["well-%d-%d" % (row, col)] = well["@id"]
        o["scr"] = save(api, a, {"@type": "Screen", "Name": "scr", "PlateLinks": [
            {"@type": "ScreenPlateLink", "child": {"@type": "Plate", "@id": o["pl"]}}]})["@id"]
        o["pl-orphan"] = save(api, a, {"@type": "Plate", "Name": "pl-orphan"})["@id"]
        o["roi"] = save(api, a, {"@type": "Roi", "Image": {"@type": "Image", "@id": o["img-1"]}, "Shapes": [
            {"@type": "Rectangle", "X": 10.0, "Y": 20.0, "Width": 30.0, "Height": 40.0, "TheZ": 0, "TheT": 0,
             "StrokeColor": -16776961, "FontSize": {"Unit": "POINT", "Value": 12.0}}]})["@id"]
        o["alice-private"] = save(api, a, {"@type": "Project", "Name": "alice-private"}, group=ids["priv"])["@id"]
        o["bob-p"] = save(api, s["bob"], {"@type": "Project", "Name": "bob-p"})["@id"]
        for n in range(7):
            save(api, s["bob"], {"@type": "Project", "Name": "page-%d" % n})
        o["eve-p"] = save(api, s["eve"], {"@type": "Project", "Name": "eve-p"})["@id"]
        j = {u: JsonApi(api, u, PW[u]) for u in PW}
        yield {"g": g, "api": api, "s": s, "ids": ids, "o": o, "j": j}
        report = stop_and_check_sanitizers(g)
        assert report is None, report
    finally:
        g.cleanup()


def by_name(data):
    return {x.get("Name"): x for x in data}


def check_details(obj, owner, group):
    d = obj["omero:details"]
    assert d["@type"] == "TBD#Details"
    assert d["owner"]["@id"] == owner and d["owner"]["@type"] == T + "Experimenter"
    assert {"UserName", "FirstName", "LastName", "@id", "@type"} <= set(d["owner"])
    assert d["group"]["@id"] == group and d["group"]["@type"] == T + "ExperimenterGroup" and "Name" in d["group"]
    assert PERM_KEYS <= set(d["permissions"]) and d["permissions"]["@type"] == "TBD#Permissions"
    assert len(d["permissions"]["perm"]) == 6


def test_project_list_and_single_shapes(env):
    j, o, ids = env["j"]["alice"], env["o"], env["ids"]
    st, body = j.get("m/projects/")
    assert st == 200
    no_nulls(body)
    names = by_name(body["data"])
    # own projects in every group, the group-mate's in the read-annotate group, not eve's
    assert {"alpha", "beta", "alice-private", "bob-p"} <= set(names) and "eve-p" not in names
    p = names["alpha"]
    assert set(p) == {"@id", "@type", "Name", "Description", "omero:details", "url:project", "url:datasets"}
    assert p["@type"] == T + "Project" and p["@id"] == o["alpha"] and p["Description"] == "first"
    assert p["url:project"] == j.url("projects/%d/" % o["alpha"])
    assert p["url:datasets"] == j.url("projects/%d/datasets/" % o["alpha"])
    check_details(p, ids["alice"], ids["lab"])
    assert p["omero:details"]["permissions"]["perm"] == "rwra--"
    assert "Description" not in names["beta"]          # nulls are left out
    # ordered by name
    listed = [x["Name"] for x in body["data"]]
    assert listed == sorted(listed, key=lambda n: n.lower())
    st, one = j.get("m/projects/%d/" % o["alpha"])
    assert st == 200 and set(one) == {"data"}
    d = one["data"]
    assert set(d) == {"@id", "@type", "Name", "Description", "omero:details", "url:datasets"}
    assert d["url:datasets"] == p["url:datasets"]
    st, e = j.get("m/projects/999999/")
    assert st == 404 and e == {"message": "Project 999999 not found"}


def test_datasets_nested_filters_and_child_count(env):
    j, o = env["j"]["alice"], env["o"]
    st, body = j.get("m/projects/%d/datasets/?childCount=true" % o["alpha"])
    assert st == 200 and body["meta"]["totalCount"] == 2
    ds = by_name(body["data"])
    assert set(ds) == {"d-a1", "d-a2"}
    d1 = ds["d-a1"]
    assert d1["@type"] == T + "Dataset" and d1["omero:childCount"] == 2 and ds["d-a2"]["omero:childCount"] == 0
    assert d1["url:dataset"] == j.url("datasets/%d/" % o["d-a1"])
    assert d1["url:images"] == j.url("datasets/%d/images/" % o["d-a1"])
    assert d1["url:projects"] == j.url("datasets/%d/projects/" % o["d-a1"])
    assert j.get("m/datasets/?project=%d" % o["alpha"])[1]["data"] == j.get("m/projects/%d/datasets/" % o["alpha"])[1]["data"]
    st, body = j.get("m/datasets/?orphaned=true")
    assert [x["Name"] for x in body["data"]] == ["d-orphan"]
    st, body = j.get("m/datasets/%d/projects/" % o["d-a1"])
    assert [x["Name"] for x in body["data"]] == ["alpha"]
    st, body = j.get("m/projects/?dataset=%d&childCount=true" % o["d-a2"])
    assert [(x["Name"], x["omero:childCount"]) for x in body["data"]] == [("alpha", 2)]
    st, body = j.get("m/datasets/?image=%d" % o["img-2"])
    assert [x["Name"] for x in body["data"]] == ["d-a1"]
    # without childCount there is no count
    assert "omero:childCount" not in j.get("m/datasets/%d/" % o["d-a1"])[1]["data"]


def test_images_list_and_single_with_channels(env):
    j, o, ids = env["j"]["alice"], env["o"], env["ids"]
    st, body = j.get("m/datasets/%d/images/" % o["d-a1"])
    assert st == 200 and [x["Name"] for x in body["data"]] == ["img-1", "img-2"]
    no_nulls(body)
    im = body["data"][0]
    assert set(im) == {"@id", "@type", "Name", "AcquisitionDate", "omero:details", "url:image", "Pixels", "omero:series"}
    assert im["AcquisitionDate"] == 1235730332000 and im["omero:series"] == 0 and im["@type"] == T + "Image"
    assert im["url:image"] == j.url("images/%d/" % o["img-1"])
    check_details(im, ids["alice"], ids["lab"])
    px = im["Pixels"]
    assert px["@type"] == T + "Pixels" and "Channels" not in px
    assert (px["SizeX"], px["SizeY"], px["SizeZ"], px["SizeC"], px["SizeT"]) == (512, 256, 3, 1, 1)
    assert px["PhysicalSizeX"] == {"Symbol": "µm", "Value": 0.5, "@type": "TBD#LengthI", "Unit": "MICROMETER"}
    assert "PhysicalSizeZ" not in px
    assert px["Type"]["@type"] == "TBD#PixelsType" and px["Type"]["value"] == "uint16" and "@id" in px["Type"]
    assert px["omero:sha1"] == "eae01c54191fd9cf4b09e3651e1899d677375b7d" and px["SignificantBits"] == 16
    assert "Image" not in px        # unloaded references are left out
    st, one = j.get("m/images/%d/" % o["img-1"])
    assert st == 200
    ch = one["data"]["Pixels"]["Channels"]
    assert len(ch) == 1
    c = ch[0]
    assert c["@type"] == T + "Channel" and c["Name"] == "DAPI" and c["SamplesPerPixel"] == 1
    assert c["Color"] == -16776961      # red, alpha 255: 0xFF0000FF as a signed int
    assert c["EmissionWavelength"] == {"Symbol": "nm", "Value": 520.0, "@type": "TBD#LengthI", "Unit": "NANOMETER"}
    assert c["omero:photometricInterpretation"]["@type"] == "TBD#PhotometricInterpretation"
    assert c["omero:photometricInterpretation"]["value"] == "Monochrome"
    assert isinstance(c["omero:LogicalChannelId"], int) and "LogicalChannel" not in c and "Red" not in c
    # orphaned images: in no dataset and no well
    st, body = j.get("m/images/?orphaned=true")
    assert [x["Name"] for x in body["data"]] == ["img-alone"]
    st, body = j.get("m/images/?dataset=%d" % o["d-orphan"])
    assert [x["Name"] for x in body["data"]] == ["img-in-orphan"]


def test_screens_plates_wells_acquisitions(env):
    j, o = env["j"]["alice"], env["o"]
    st, body = j.get("m/screens/?childCount=true")
    s = by_name(body["data"])["scr"]
    assert s["@type"] == T + "Screen" and s["omero:childCount"] == 1
    assert s["url:screen"] == j.url("screens/%d/" % o["scr"]) and s["url:plates"] == j.url("screens/%d/plates/" % o["scr"])
    st, body = j.get("m/screens/%d/plates/" % o["scr"])
    assert [x["Name"] for x in body["data"]] == ["pl"]
    p = body["data"][0]
    assert (p["Rows"], p["Columns"], p["RowNamingConvention"], p["ColumnNamingConvention"], p["ExternalIdentifier"]) \
        == (8, 12, "letter", "number", "ext-1")
    assert p["url:plate"] == j.url("plates/%d/" % o["pl"]) and p["url:wells"] == j.url("plates/%d/wells/" % o["pl"])
    assert p["url:plateacquisitions"] == j.url("plates/%d/plateacquisitions/" % o["pl"])
    assert [x["Name"] for x in j.get("m/plates/?orphaned=true")[1]["data"]] == ["pl-orphan"]
    assert [x["Name"] for x in j.get("m/plates/?screen=%d" % o["scr"])[1]["data"]] == ["pl"]
    assert [x["Name"] for x in j.get("m/plates/%d/screens/" % o["pl"])[1]["data"]] == ["scr"]
    st, one = j.get("m/plates/%d/" % o["pl"])
    assert one["data"]["omero:wellsampleIndex"] == [0, 1]
    assert one["data"]["url:wellsampleindex_wells"] == [j.url("plates/%d/wellsampleindex/%d/wells/" % (o["pl"], i))
                                                        for i in (0, 1)]
    # one WellSample per Well at an index; wells without one are left out
    st, body = j.get("m/plates/%d/wellsampleindex/0/wells/" % o["pl"])
    assert st == 200 and body["meta"]["totalCount"] == 3
    assert [[s["Image"]["Name"] for s in w["WellSamples"]] for w in body["data"]] == [["w-0-0"], ["w-1-0"], ["w-0-1"]]
    st, body = j.get("m/plates/%d/wellsampleindex/1/wells/" % o["pl"])
    assert [[s["Image"]["Name"] for s in w["WellSamples"]] for w in body["data"]] == [["w-0-0-f1"]]
    st, body = j.get("m/plateacquisitions/%d/wellsampleindex/1/wells/" % o["run"])
    assert [w["@id"] for w in body["data"]] == [o["well-0-0"]]
    assert j.get("m/plates/%d/wellsampleindex/7/wells/" % o["pl"])[1]["data"] == []
    assert j.get("m/plates/%d/wellsampleindex/x/wells/" % o["pl"])[0] == 404
    # wells ordered by column then row, with their samples, images and acquisitions
    st, body = j.get("m/plates/%d/wells/" % o["pl"])
    assert st == 200 and body["meta"]["totalCount"] == 3
    no_nulls(body)
    assert [(w["Column"], w["Row"]) for w in body["data"]] == [(0, 0), (0, 1), (1, 0)]
    w = body["data"][0]
    assert w["@type"] == T + "Well" and w["url:well"] == j.url("wells/%d/" % o["well-0-0"])
    ws = w["WellSamples"][0]
    assert ws["@type"] == T + "WellSample"
    assert ws["PositionX"] == {"Symbol": "reference frame", "Value": 21864.47, "@type": "TBD#LengthI",
                               "Unit": "REFERENCEFRAME"}
    assert ws["Image"]["Name"] == "w-0-0" and ws["Image"]["url:image"].startswith(j.url("images/"))
    assert "Pixels" not in ws["Image"]
    assert ws["PlateAcquisition"]["@id"] == o["run"] and ws["PlateAcquisition"]["MaximumFieldCount"] == 2
    assert [x["@id"] for x in j.get("m/wells/?plate=%d" % o["pl"])[1]["data"]] == [x["@id"] for x in body["data"]]
    st, one = j.get("m/wells/%d/" % o["well-0-0"])
    assert one["data"]["WellSamples"][0]["Image"]["Pixels"]["SizeX"] == 512
    st, body = j.get("m/plates/%d/plateacquisitions/" % o["pl"])
    pa = body["data"][0]
    assert pa["@type"] == T + "PlateAcquisition" and pa["MaximumFieldCount"] == 2
    assert pa["StartTime"] == 1252938959000 and pa["EndTime"] == 1252939813000
    assert pa["url:plateacquisition"] == j.url("plateacquisitions/%d/" % o["run"])
    assert pa["omero:wellsampleIndex"] == [0, 1]
    assert pa["url:wellsampleindex_wells"] == [j.url("plateacquisitions/%d/wellsampleindex/%d/wells/" % (o["run"], i))
                                               for i in (0, 1)]


def test_rois_of_an_image(env):
    j, o = env["j"]["alice"], env["o"]
    st, body = j.get("m/images/%d/rois/" % o["img-1"])
    assert st == 200 and body["meta"]["totalCount"] == 1
    r = body["data"][0]
    assert r["@type"] == T + "ROI" and r["@id"] == o["roi"] and r["url:roi"] == j.url("rois/%d/" % o["roi"])
    sh = r["shapes"][0]
    assert sh["@type"] == T + "Rectangle"
    assert (sh["X"], sh["Y"], sh["Width"], sh["Height"], sh["TheZ"], sh["TheT"]) == (10.0, 20.0, 30.0, 40.0, 0, 0)
    assert sh["StrokeColor"] == -16776961
    assert sh["FontSize"] == {"Symbol": "pt", "Value": 12.0, "@type": "TBD#LengthI", "Unit": "POINT"}
    assert j.get("m/rois/?image=%d" % o["img-1"])[1]["data"] == body["data"]
    assert j.get("m/images/%d/rois/" % o["img-2"])[1]["data"] == []


def test_experimenters_and_groups(env):
    j, ids = env["j"]["alice"], env["ids"]
    st, body = j.get("m/experimentergroups/%d/experimenters/" % ids["lab"])
    assert st == 200
    users = {x["UserName"]: x for x in body["data"]}
    assert {"alice", "bob"} <= set(users) and "eve" not in users
    a = users["alice"]
    assert a["@type"] == T + "Experimenter" and a["FirstName"] == "Alice" and a["LastName"] == "Test"
    assert a["url:experimenter"] == j.url("experimenters/%d/" % ids["alice"])
    assert a["url:experimentergroups"] == j.url("experimenters/%d/experimentergroups/" % ids["alice"])
    st, body = j.get("m/experimenters/%d/experimentergroups" % ids["alice"])   # no trailing slash, as in the seed
    groups = {x["Name"]: x for x in body["data"]}
    assert {"lab", "priv", "user"} <= set(groups)
    g = groups["lab"]
    assert g["@type"] == T + "ExperimenterGroup" and g["url:experimentergroup"] == j.url("experimentergroups/%d/" % ids["lab"])
    assert g["url:experimenters"] == j.url("experimentergroups/%d/experimenters/" % ids["lab"])
    st, one = j.get("m/experimenters/%d/" % ids["bob"])
    assert one["data"]["UserName"] == "bob" and "url:experimentergroups" in one["data"]
    # Experimenters are visible only through a shared non-private group
    st, body = j.get("m/experimenters/")
    seen = {x["UserName"] for x in body["data"]}
    assert {"alice", "bob"} <= seen and "eve" not in seen and "root" not in seen
    assert [x["UserName"] for x in env["j"]["eve"].get("m/experimenters/")[1]["data"]] == ["eve"]
    assert env["j"]["eve"].get("m/experimenters/%d/" % ids["alice"])[0] == 404
    assert j.get("m/experimenters/%d/" % ids["eve"])[0] == 404
    assert j.get("m/experimentergroups/%d/experimenters/" % ids["other"])[1]["data"] == []
    st, one = j.get("m/experimentergroups/%d/" % ids["lab"])
    assert one["data"]["Name"] == "lab" and one["data"]["omero:details"]["permissions"]["perm"] == "rwra--"


def test_paging_meta_and_owner_group_filters(env):
    j, ids = env["j"]["alice"], env["ids"]
    st, body = j.get("m/projects/?owner=%d&limit=3" % ids["bob"])
    assert st == 200 and body["meta"] == {"totalCount": 8, "maxLimit": 500, "limit": 3, "offset": 0}
    first = [x["Name"] for x in body["data"]]
    assert first == ["bob-p", "page-0", "page-1"]
    st, body = j.get("m/projects/?owner=%d&limit=3&offset=6" % ids["bob"])
    assert [x["Name"] for x in body["data"]] == ["page-5", "page-6"] and body["meta"]["offset"] == 6
    st, body = j.get("m/projects/?limit=100000")
    assert body["meta"]["limit"] == 500
    st, body = j.get("m/projects/")
    assert body["meta"]["limit"] == 200 and body["meta"]["offset"] == 0
    st, body = j.get("m/projects/?group=%d" % ids["priv"])
    assert [x["Name"] for x in body["data"]] == ["alice-private"]
    st, body = j.get("m/projects/?owner=%d&group=%d" % (ids["bob"], ids["priv"]))
    assert body["data"] == [] and body["meta"]["totalCount"] == 0


def test_normalize(env):
    j, ids = env["j"]["alice"], env["ids"]
    st, body = j.get("m/projects/?normalize=true&group=%d" % ids["lab"])
    assert st == 200
    assert {x["@id"] for x in body["experimenters"]} == {ids["alice"], ids["bob"]}
    assert [x["@id"] for x in body["experimenterGroups"]] == [ids["lab"]]
    assert body["experimenters"][0]["@type"] == T + "Experimenter" and "UserName" in body["experimenters"][0]
    for p in body["data"]:
        assert set(p["omero:details"]["owner"]) == {"@id"} and p["omero:details"]["group"] == {"@id": ids["lab"]}


def test_bad_input(env):
    j = env["j"]["alice"]
    assert j.get("m/images/?limit=foo") == (400, {"message": "invalid literal for int() with base 10: 'foo'"})
    st, e = j.get("m/projects/?owner=abc")
    assert st == 400 and e["message"] == "invalid literal for int() with base 10: 'abc'"
    st, e = j.get("m/projects/?offset=-1")
    assert st == 400 and "message" in e
    st, e = j.get("m/projects/?childCount=maybe")
    assert st == 400 and "message" in e
    for path in ("m/unknown/", "m/projects/abc/", "m/projects/1/images/", "m/projects/1/datasets/2/"):
        st, e = j.get(path)
        assert st == 404 and "message" in e, path
    st, e = j.send("POST", "m/projects/", {"Name": "x"})
    assert st == 405 and "message" in e
    anon = JsonApi(env["api"])
    # the router refuses calls without a session before Blitz sees them (its own error body)
    assert anon.get("m/projects/")[0] == 403


def count_named(env, name):
    q = {"query": "select count(p.id) from Project p where p.name = :n", "params": {"n": name}, "group": -1}
    return ok(env["api"].raw("IQuery", "projection", q, env["s"]["alice"]))["data"][0][0]


def test_create_update_delete(env):
    j, ids = env["j"]["alice"], env["ids"]
    st, body = j.send("POST", "m/save/?group=%d" % ids["lab"],
                      {"Name": "made-by-api", "Description": "Created via the JSON API", "@type": T + "Project"})
    assert st == 201, body
    p = body["data"]
    assert p["Name"] == "made-by-api" and p["Description"] == "Created via the JSON API"
    assert p["url:datasets"] == j.url("projects/%d/datasets/" % p["@id"])
    assert p["omero:details"]["group"]["@id"] == ids["lab"] and p["omero:details"]["owner"]["@id"] == ids["alice"]
    # PUT replaces: the Description left out is removed
    got = j.get("m/projects/%d/" % p["@id"])[1]["data"]
    got["Name"] = "renamed-by-api"
    del got["Description"]
    st, body = j.send("PUT", "m/save/", got)
    assert st == 200, body
    assert body["data"]["Name"] == "renamed-by-api" and "Description" not in body["data"]
    assert j.get("m/projects/%d/" % p["@id"])[1]["data"]["Name"] == "renamed-by-api"
    # datasets and screens too; an Image may not be created
    st, body = j.send("POST", "m/save/", {"Name": "api-ds", "@type": T + "Dataset"})
    assert st == 201 and body["data"]["@type"] == T + "Dataset"
    ds = body["data"]["@id"]
    st, body = j.send("POST", "m/save/", {"Name": "api-img", "@type": T + "Image"})
    assert st == 405 and body == {"message": "Creation of Image not supported"}
    st, body = j.send("POST", "m/save/", {"Name": "no-type"})
    assert st == 400 and body == {"message": "Need to specify @type attribute"}
    st, body = j.send("PUT", "m/save/", {"Name": "no-id", "@type": T + "Project"})
    assert st == 400 and body == {"message": "No '@id' attribute. Use POST to create new objects"}
    st, body = j.send("POST", "m/save/", raw="{not json")
    assert st == 400 and "message" in body
    st, body = j.send("POST", "m/save/", {"@type": T + "Project"})        # no Name
    assert st == 400 and "message" in body
    st, body = j.send("PUT", "m/save/", {"@id": 999999, "Name": "x", "@type": T + "Project"})
    assert st == 404
    # DELETE returns the deleted object; then it is gone
    st, body = j.send("DELETE", "m/projects/%d/" % p["@id"])
    assert st == 200 and body["data"]["@id"] == p["@id"] and body["data"]["Name"] == "renamed-by-api"
    assert j.get("m/projects/%d/" % p["@id"])[0] == 404
    st, body = j.send("DELETE", "m/datasets/%d/" % ds)
    assert st == 200
    st, body = j.send("DELETE", "m/images/%d/" % env["o"]["img-2"])
    assert st == 405
    # DELETE is OMERO's Delete2: the project's dataset and the image only it holds go too; an
    # image also in another dataset stays there
    a, e = env["s"]["alice"], enums(env["api"], env["s"]["alice"])
    keep = save(env["api"], a, {"@type": "Dataset", "Name": "keep-d", "ImageLinks": [
        {"@type": "DatasetImageLink", "child": image("shared-img", e)}]})
    shared = keep["ImageLinks"][0]["Child"]["@id"]
    p = save(env["api"], a, {"@type": "Project", "Name": "del-p", "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "del-d", "ImageLinks": [
            {"@type": "DatasetImageLink", "child": image("only-here", e)},
            {"@type": "DatasetImageLink", "child": {"@type": "Image", "@id": shared}}]}}]})
    d = p["DatasetLinks"][0]["Child"]["@id"]
    only = [x["@id"] for x in j.get("m/datasets/%d/images/" % d)[1]["data"] if x["Name"] == "only-here"][0]
    st, body = j.send("DELETE", "m/projects/%d/" % p["@id"])
    assert st == 200 and body["data"]["Name"] == "del-p"
    assert j.get("m/datasets/%d/" % d)[0] == 404 and j.get("m/images/%d/" % only)[0] == 404
    assert [x["@id"] for x in j.get("m/datasets/%d/images/" % keep["@id"])[1]["data"]] == [shared]
    assert j.get("m/images/%d/" % env["o"]["img-2"])[0] == 200


def test_csrf_enforced_on_unsafe_methods(env):
    j, o = env["j"]["alice"], env["o"]
    body = {"Name": "csrf-victim", "@type": T + "Project"}
    for kw in ({"csrf": False}, {"token": "x" * 32}):
        st, e = j.send("POST", "m/save/", body, **kw)
        assert st == 403 and "CSRF" in e["message"]
    assert count_named(env, "csrf-victim") == 0
    alpha = j.get("m/projects/%d/" % o["beta"])[1]["data"]
    alpha["Name"] = "csrf-renamed"
    st, e = j.send("PUT", "m/save/", alpha, csrf=False)
    assert st == 403 and "CSRF" in e["message"]
    st, e = j.send("DELETE", "m/projects/%d/" % o["beta"], csrf=False)
    assert st == 403 and "CSRF" in e["message"]
    assert j.get("m/projects/%d/" % o["beta"])[1]["data"]["Name"] == "beta"


def test_permissions(env):
    o, j = env["o"], env["j"]
    # eve (another group) sees none of alice's data
    st, body = j["eve"].get("m/projects/")
    assert [x["Name"] for x in body["data"]] == ["eve-p"]
    assert j["eve"].get("m/projects/%d/" % o["alpha"])[0] == 404
    assert j["eve"].get("m/images/%d/" % o["img-1"])[0] == 404
    assert j["eve"].get("m/projects/%d/datasets/" % o["alpha"])[1]["data"] == []
    # bob shares the private group with alice but may not see her data there
    names = [x["Name"] for x in j["bob"].get("m/projects/")[1]["data"]]
    assert "alice-private" not in names and "alpha" in names
    assert j["bob"].get("m/projects/%d/" % o["alice-private"])[0] == 404
    # bob may read but not change or delete alice's project in the read-annotate group
    p = j["bob"].get("m/projects/%d/" % o["alpha"])[1]["data"]
    assert p["omero:details"]["permissions"]["canEdit"] is False
    p["Name"] = "taken-over"
    st, e = j["bob"].send("PUT", "m/save/", p)
    assert st == 403 and "message" in e
    st, e = j["bob"].send("DELETE", "m/projects/%d/" % o["alpha"])
    assert st == 403 and "message" in e
    got = j["alice"].get("m/projects/%d/?childCount=true" % o["alpha"])[1]["data"]
    assert got["Name"] == "alpha"
    assert j["alice"].get("m/projects/%d/datasets/" % o["alpha"])[1]["meta"]["totalCount"] == 2
    # saving into a group one is not a member of
    st, e = j["eve"].send("POST", "m/save/?group=%d" % env["ids"]["lab"], {"Name": "x", "@type": T + "Project"})
    assert st == 403 and "message" in e
