"""IContainer, IMetadata, annotations of every kind and `omero tag` through the installed grid:
Project/Dataset/Image and Screen/Plate/Well hierarchies with orphans, link counts per owner,
findContainerHierarchies, getImages, getCollectionCount, the folder tree with images and ROIs;
annotations of every kind (map annotations with ordered repeated keys, a file attachment written
in chunks through RawFileStore) on every annotatable container type, loaded by type, namespace
and annotator; tag counts, tag content and tag sets; another group's data invisible; bad input
refused with OMERO's exception names; and the `omero tag` commands end to end."""
import json

import pytest

from qu_support import SCHEMA, failed, make_group, make_user, ok, start_grid
from test_jsonapi_m import enums, image, save, stop_and_check_sanitizers

PW = {"alice": "alice-Pw-1", "bob": "bob-Pw-2", "eve": "eve-Pw-3"}
T = SCHEMA + "#"
TAGSET_NS = "openmicroscopy.org/omero/insight/tagset"


@pytest.fixture(scope="module")
def env(installation):
    g, api, root, rootpw = start_grid(installation)
    try:
        # read-write: bob may link his image into alice's dataset
        ids = {"lab": make_group(api, root, "lab", "rwrw--"), "other": make_group(api, root, "other", "rw----")}
        ids["alice"] = make_user(api, root, "alice", "lab", PW["alice"])
        ids["bob"] = make_user(api, root, "bob", "lab", PW["bob"])
        ids["eve"] = make_user(api, root, "eve", "other", PW["eve"])
        s = {u: api.login(u, PW[u]) for u in PW}
        e = enums(api, root)
        a = s["alice"]
        o = {}

        def names_ids(objs, key="Name"):
            for x in objs:
                o[x[key]] = x["@id"]

        p1 = save(api, a, {"@type": "Project", "Name": "P1", "DatasetLinks": [
            {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "D1", "ImageLinks": [
                {"@type": "DatasetImageLink", "child": image("I1", e)},
                {"@type": "DatasetImageLink", "child": image("I2", e)}]}},
            {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "D2"}}]})
        o["P1"] = p1["@id"]
        names_ids([l["Child"] for l in p1["DatasetLinks"]])
        o["P2"] = save(api, a, {"@type": "Project", "Name": "P2"})["@id"]
        do = save(api, a, {"@type": "Dataset", "Name": "DO", "ImageLinks": [
            {"@type": "DatasetImageLink", "child": image("I3", e)}]})
        o["DO"] = do["@id"]
        o["I4"] = save(api, a, image("I4", e))["@id"]
        imgs = ok(api.raw("IQuery", "findAllByQuery", {"query": "select i from Image i"}, a))["data"]
        names_ids(imgs)
        pl = save(api, a, {"@type": "Plate", "Name": "PL", "PlateAcquisitions": [{"@type": "PlateAcquisition", "Name": "run"}],
                           "Wells": [{"@type": "Well", "Row": 0, "Column": 0, "WellSamples": [
                               {"@type": "WellSample", "Image": image("W1", e)}]}]})
        o["PL"] = pl["@id"]
        o["run"] = pl["PlateAcquisitions"][0]["@id"]
        o["well"] = pl["Wells"][0]["@id"]
        o["W1"] = pl["Wells"][0]["WellSamples"][0]["Image"]["@id"]
        o["S"] = save(api, a, {"@type": "Screen", "Name": "S", "PlateLinks": [
            {"@type": "ScreenPlateLink", "child": {"@type": "Plate", "@id": o["PL"]}}]})["@id"]
        o["PO"] = save(api, a, {"@type": "Plate", "Name": "PO"})["@id"]
        o["R1"] = save(api, a, {"@type": "Roi", "Name": "R1", "Image": {"@type": "Image", "@id": o["I1"]}, "Shapes": [
            {"@type": "Point", "X": 1.0, "Y": 2.0}]})["@id"]
        froot = save(api, a, {"@type": "Folder", "Name": "F-root",
                              "ImageLinks": [{"@type": "FolderImageLink", "child": {"@type": "Image", "@id": o["I1"]}}],
                              "RoiLinks": [{"@type": "FolderRoiLink", "child": {"@type": "Roi", "@id": o["R1"]}}]})
        o["F-root"] = froot["@id"]
        o["F-child"] = save(api, a, {"@type": "Folder", "Name": "F-child",
                                     "ParentFolder": {"@type": "Folder", "@id": o["F-root"]}})["@id"]
        o["F-grandchild"] = save(api, a, {"@type": "Folder", "Name": "F-grandchild",
                                          "ParentFolder": {"@type": "Folder", "@id": o["F-child"]}})["@id"]
        o["F-other"] = save(api, a, {"@type": "Folder", "Name": "F-other"})["@id"]
        pb = save(api, s["bob"], {"@type": "Project", "Name": "P-bob", "DatasetLinks": [
            {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "D-bob"}}]})
        o["P-bob"] = pb["@id"]
        # bob links one more image into alice's D1: counts per owner tell them apart
        o["I-bob"] = save(api, s["bob"], image("I-bob", e))["@id"]
        save(api, s["bob"], {"@type": "DatasetImageLink", "parent": {"@type": "Dataset", "@id": o["D1"]},
                             "child": {"@type": "Image", "@id": o["I-bob"]}})
        o["P-eve"] = save(api, s["eve"], {"@type": "Project", "Name": "P-eve"})["@id"]
        yield {"g": g, "api": api, "s": s, "ids": ids, "o": o, "rootpw": rootpw}
        report = stop_and_check_sanitizers(g)
        assert report is None, report
    finally:
        g.cleanup()


def call(env, who, service, method, body):
    return env["api"].raw(service, method, body, env["s"][who])


def data(env, who, service, method, body):
    return ok(call(env, who, service, method, body))["data"]


def names(objs):
    return [x.get("Name") for x in objs]


def children(obj, links):
    return [l["Child"] for l in obj.get(links, [])]


def test_project_hierarchy_with_orphans_and_counts(env):
    o, ids = env["o"], env["ids"]
    got = data(env, "alice", "IContainer", "loadContainerHierarchy",
               {"rootType": "Project", "options": {"experimenter": ids["alice"]}})
    # alice's projects, then her datasets that are in no project
    assert names(got) == ["P1", "P2", "DO"]
    assert got[2]["@type"] == T + "Dataset"
    p1 = got[0]
    ds = {d["Name"]: d for d in children(p1, "DatasetLinks")}
    assert set(ds) == {"D1", "D2"}
    # without leaves: no images, but the link counts per owner
    assert "ImageLinks" not in ds["D1"]
    assert ds["D1"]["omero:imageLinksCountPerOwner"] == {str(ids["alice"]): 2, str(ids["bob"]): 1}
    assert "P2" in names(got) and children(got[1], "DatasetLinks") == []
    # with leaves the images come too
    got = data(env, "alice", "IContainer", "loadContainerHierarchy",
               {"rootType": "Project", "ids": [o["P1"]], "options": {"leaves": True}})
    assert names(got) == ["P1"]
    d1 = [d for d in children(got[0], "DatasetLinks") if d["Name"] == "D1"][0]
    assert sorted(names(children(d1, "ImageLinks"))) == ["I-bob", "I1", "I2"]
    assert children(d1, "ImageLinks")[0]["Pixels"][0]["SizeX"] == 512
    # the same through OMERO's omero.sys.Parameters form (ParametersI().leaves().exp(alice))
    same = data(env, "alice", "IContainer", "loadContainerHierarchy",
                {"rootType": "Project", "ids": [o["P1"]],
                 "options": {"map": {"leaves": {"@type": "rbool", "value": True}},
                             "theFilter": {"ownerId": {"@type": "rlong", "value": ids["alice"]}}}})
    assert same == got
    # everyone's in the group: bob's project too, not eve's
    got = names(data(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Project"}))
    assert "P-bob" in got and "P1" in got and "P-eve" not in got
    # Dataset as the root
    got = data(env, "alice", "IContainer", "loadContainerHierarchy",
               {"rootType": "omero.model.DatasetI", "ids": [o["DO"]], "options": {"leaves": True}})
    assert names(got) == ["DO"] and names(children(got[0], "ImageLinks")) == ["I3"]


def test_screen_hierarchy_with_orphan_plates(env):
    o = env["o"]
    got = data(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Screen"})
    assert names(got) == ["S", "PO"]
    plates = children(got[0], "PlateLinks")
    assert names(plates) == ["PL"] and "Wells" not in plates[0]
    got = data(env, "alice", "IContainer", "loadContainerHierarchy",
               {"rootType": "Screen", "ids": [o["S"]], "options": {"leaves": True}})
    wells = children(got[0], "PlateLinks")[0]["Wells"]
    assert len(wells) == 1 and wells[0]["WellSamples"][0]["Image"]["Name"] == "W1"
    got = data(env, "alice", "IContainer", "loadContainerHierarchy",
               {"rootType": "Plate", "ids": [o["PL"]], "options": {"leaves": True}})
    assert names(got) == ["PL"] and got[0]["Wells"][0]["@id"] == o["well"]


def test_find_container_hierarchies(env):
    o = env["o"]
    got = data(env, "alice", "IContainer", "findContainerHierarchies",
               {"rootType": "Project", "ids": [o["I1"], o["I3"], o["I4"]]})
    assert names(got) == ["P1", "DO", "I4"]
    ds = children(got[0], "DatasetLinks")
    assert names(ds) == ["D1"] and names(children(ds[0], "ImageLinks")) == ["I1"]   # only the images asked for
    assert names(children(got[1], "ImageLinks")) == ["I3"]
    assert data(env, "alice", "IContainer", "findContainerHierarchies", {"rootType": "Project", "ids": []}) == []


def test_get_images_and_collection_counts(env):
    o = env["o"]

    def imgs(root, ids):
        return sorted(names(data(env, "alice", "IContainer", "getImages", {"rootType": root, "ids": ids})))

    assert imgs("Project", [o["P1"]]) == ["I-bob", "I1", "I2"]
    assert imgs("Dataset", [o["D1"], o["DO"]]) == ["I-bob", "I1", "I2", "I3"]
    assert imgs("Dataset", [o["D2"]]) == []
    assert imgs("Image", [o["I4"]]) == ["I4"]
    assert imgs("Screen", [o["S"]]) == ["W1"]
    assert imgs("Plate", [o["PL"]]) == ["W1"]
    assert imgs("Well", [o["well"]]) == ["W1"]
    assert imgs("Folder", [o["F-root"]]) == ["I1"]
    got = data(env, "alice", "IContainer", "getImages", {"rootType": "Dataset", "ids": [o["D1"]],
                                                          "options": {"experimenter": env["ids"]["bob"]}})
    assert names(got) == ["I-bob"]
    counts = data(env, "alice", "IContainer", "getCollectionCount",
                  {"type": "Dataset", "property": "imageLinks", "ids": [o["D1"], o["D2"]]})
    assert counts == {str(o["D1"]): 3, str(o["D2"]): 0}
    counts = data(env, "alice", "IContainer", "getCollectionCount",
                  {"type": "ome.model.containers.Project", "property": "ome.model.containers.Project_datasetLinks",
                   "ids": [o["P1"], o["P2"]]})
    assert counts == {str(o["P1"]): 2, str(o["P2"]): 0}


def test_folder_tree_with_images_and_rois(env):
    o = env["o"]
    got = data(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Folder", "options": {"leaves": True}})
    assert names(got) == ["F-other", "F-root"]
    root = got[1]
    assert names(root["ChildFolders"]) == ["F-child"]
    assert names(root["ChildFolders"][0]["ChildFolders"]) == ["F-grandchild"]
    assert names(children(root, "ImageLinks")) == ["I1"]
    assert names(children(root, "RoiLinks")) == ["R1"]
    got = data(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Folder", "ids": [o["F-child"]]})
    assert names(got) == ["F-child"] and names(got[0]["ChildFolders"]) == ["F-grandchild"]


def write_file(env, who, fid, chunks):
    api = env["api"]
    off = 0
    for c in chunks:
        r = api.http.post("%s/rpc/v1/RawFileStore/write" % api.base, data=c, verify=api.ca, timeout=60, headers={
            "Content-Type": "application/octet-stream", "X-OMERO-Session": env["s"][who],
            "X-OMERO-Args": json.dumps({"fileId": fid, "offset": off})})
        assert r.status_code == 200, r.text
        off += len(c)
    return ok(call(env, who, "RawFileStore", "save", {"fileId": fid}))


def read_file(env, who, fid):
    api = env["api"]
    r = api.http.post("%s/rpc/v1/RawFileStore/read" % api.base, json={"fileId": fid, "offset": 0, "length": 1 << 20},
                      headers={"X-OMERO-Session": env["s"][who]}, verify=api.ca, timeout=60)
    assert r.status_code == 200
    return r.content


KINDS = [("CommentAnnotation", {"TextValue": "a comment"}, "a comment"),
         ("TagAnnotation", {"TextValue": "a tag"}, "a tag"),
         ("LongAnnotation", {"LongValue": 42}, 42),
         ("DoubleAnnotation", {"DoubleValue": 2.5}, 2.5),
         ("BooleanAnnotation", {"BoolValue": True}, True),
         ("TimestampAnnotation", {"TimeValue": 1252938959000}, 1252938959000),
         ("TermAnnotation", {"TermValue": "GO:0005623"}, "GO:0005623"),
         ("XmlAnnotation", {"TextValue": "<a><b/></a>"}, "<a><b/></a>"),
         ("MapAnnotation", {"MapValue": [["gene", "CDC20"], ["allele", "a1"], ["gene", "CDC42"]]},
          [["gene", "CDC20"], ["allele", "a1"], ["gene", "CDC42"]])]


def link(env, who, cls, oid, ann):
    return save(env["api"], env["s"][who], {"@type": cls + "AnnotationLink", "parent": {"@type": cls, "@id": oid},
                                            "child": ann})


def test_annotations_of_every_kind_on_an_image(env):
    o = env["o"]
    for cls, fields, _ in KINDS:
        ann = dict({"@type": cls, "Ns": "test/" + cls, "Description": "about " + cls}, **fields)
        link(env, "alice", "Image", o["I2"], ann)
    lst = link(env, "alice", "Image", o["I2"], {"@type": "ListAnnotation", "Ns": "test/ListAnnotation"})
    # a file attachment: OriginalFile, bytes written in two chunks, then the FileAnnotation
    f = save(env["api"], env["s"]["alice"], {"@type": "OriginalFile", "Name": "notes.txt", "Path": "/attachments/",
                                             "Mimetype": "text/plain"})
    saved = write_file(env, "alice", f["@id"], [b"hello ", b"attachment\n"])
    assert saved["size"] == 17
    link(env, "alice", "Image", o["I2"], {"@type": "FileAnnotation", "Ns": "test/FileAnnotation",
                                           "File": {"@type": "OriginalFile", "@id": f["@id"]}})
    got = data(env, "alice", "IMetadata", "loadAnnotations", {"rootType": "Image", "ids": [o["I2"]]})
    anns = {a["@type"][len(T):]: a for a in got[str(o["I2"])]}
    for cls, _, value in KINDS:
        a = anns[cls]
        assert a["Value"] == value, cls
        assert a["Namespace"] == "test/" + cls and a["Description"] == "about " + cls
        assert a["omero:details"]["owner"]["@id"] == env["ids"]["alice"]
    assert anns["ListAnnotation"]["@id"] == lst["Child"]["@id"]
    fa = anns["FileAnnotation"]
    assert fa["File"]["@id"] == f["@id"] and fa["File"]["Name"] == "notes.txt" and fa["File"]["Size"] == 17
    assert fa["File"]["Mimetype"] == "text/plain"
    assert read_file(env, "alice", f["@id"]) == b"hello attachment\n"
    # only some types
    got = data(env, "alice", "IMetadata", "loadAnnotations",
               {"rootType": "Image", "ids": [o["I2"]], "annotationTypes": ["MapAnnotation", "omero.model.FileAnnotationI"]})
    assert sorted(a["@type"][len(T):] for a in got[str(o["I2"])]) == ["FileAnnotation", "MapAnnotation"]
    got = data(env, "alice", "IMetadata", "loadAnnotations",
               {"rootType": "Image", "ids": [o["I2"]], "annotationTypes": ["TextAnnotation"]})
    assert sorted(a["@type"][len(T):] for a in got[str(o["I2"])]) == ["CommentAnnotation", "TagAnnotation",
                                                                     "XmlAnnotation"]


def test_annotations_on_every_container_type(env):
    o = env["o"]
    targets = {"Project": o["P2"], "Dataset": o["D2"], "Image": o["I4"], "Screen": o["S"], "Plate": o["PO"],
               "PlateAcquisition": o["run"], "Well": o["well"], "Roi": o["R1"], "Folder": o["F-other"]}
    for cls, oid in targets.items():
        link(env, "alice", cls, oid, {"@type": "CommentAnnotation", "TextValue": "on " + cls})
    for cls, oid in targets.items():
        got = data(env, "alice", "IMetadata", "loadAnnotations", {"rootType": cls, "ids": [oid]})
        assert [a["Value"] for a in got[str(oid)]] == ["on " + cls], cls


def test_annotators_namespaces_and_visibility(env):
    o, ids = env["o"], env["ids"]
    link(env, "alice", "Image", o["I3"], {"@type": "TagAnnotation", "TextValue": "alice-tag", "Ns": "ns/a"})
    link(env, "bob", "Image", o["I3"], {"@type": "TagAnnotation", "TextValue": "bob-tag", "Ns": "ns/b"})
    got = data(env, "alice", "IMetadata", "loadAnnotations",
               {"rootType": "Image", "ids": [o["I3"], o["I4"]], "annotatorIds": [ids["bob"]]})
    assert [a["Value"] for a in got[str(o["I3"])]] == ["bob-tag"]
    assert got[str(o["I4"])] == []
    both = data(env, "alice", "IMetadata", "loadAnnotations", {"rootType": "Image", "ids": [o["I3"]]})
    assert sorted(a["Value"] for a in both[str(o["I3"])]) == ["alice-tag", "bob-tag"]
    # eve in another group sees none of them
    got = data(env, "eve", "IMetadata", "loadAnnotations", {"rootType": "Image", "ids": [o["I3"]]})
    assert got == {str(o["I3"]): []}
    assert data(env, "eve", "IContainer", "loadContainerHierarchy", {"rootType": "Project"})[0]["Name"] == "P-eve"
    assert len(data(env, "eve", "IContainer", "loadContainerHierarchy", {"rootType": "Project"})) == 1
    # by type and namespace
    tags = data(env, "alice", "IMetadata", "loadSpecifiedAnnotations", {"annotationType": "TagAnnotation",
                                                                        "include": ["ns/a", "ns/b"]})
    assert sorted(a["Value"] for a in tags) == ["alice-tag", "bob-tag"]
    tags = data(env, "alice", "IMetadata", "loadSpecifiedAnnotations",
                {"annotationType": "TagAnnotation", "include": ["ns/a", "ns/b"], "exclude": ["ns/b"]})
    assert [a["Value"] for a in tags] == ["alice-tag"]
    tags = data(env, "alice", "IMetadata", "loadSpecifiedAnnotations",
                {"annotationType": "TagAnnotation", "exclude": ["ns/a"], "options": {"experimenter": ids["bob"]}})
    assert [a["Value"] for a in tags] == ["bob-tag"]
    files = data(env, "alice", "IMetadata", "loadSpecifiedAnnotations", {"annotationType": "FileAnnotation"})
    assert all("File" in f for f in files)


def test_tag_counts_content_and_sets(env):
    o, api, a = env["o"], env["api"], env["s"]["alice"]
    t1 = save(api, a, {"@type": "TagAnnotation", "TextValue": "t-counted"})["@id"]
    t2 = save(api, a, {"@type": "TagAnnotation", "TextValue": "t-unused"})["@id"]
    for cls, oid in (("Project", o["P1"]), ("Dataset", o["D1"]), ("Image", o["I1"]), ("Image", o["I2"]),
                     ("Plate", o["PL"])):
        save(api, a, {"@type": cls + "AnnotationLink", "parent": {"@type": cls, "@id": oid},
                      "child": {"@type": "TagAnnotation", "@id": t1}})
    assert data(env, "alice", "IMetadata", "getTaggedObjectsCount", {"ids": [t1, t2]}) == {str(t1): 5, str(t2): 0}
    content = data(env, "alice", "IMetadata", "loadTagContent", {"ids": [t1, t2]})
    assert sorted((x["@type"][len(T):], x["Name"]) for x in content[str(t1)]) == [
        ("Dataset", "D1"), ("Image", "I1"), ("Image", "I2"), ("Plate", "PL"), ("Project", "P1")]
    assert content[str(t2)] == []
    ts = save(api, a, {"@type": "TagAnnotation", "TextValue": "a-set", "Ns": TAGSET_NS, "AnnotationLinks": [
        {"@type": "AnnotationAnnotationLink", "child": {"@type": "TagAnnotation", "@id": t1}}]})["@id"]
    sets = data(env, "alice", "IMetadata", "loadTagSets", {"options": {"experimenter": env["ids"]["alice"]}})
    assert [s["@id"] for s in sets] == [ts]
    assert [l["Child"]["Value"] for l in sets[0]["AnnotationLinks"]] == ["t-counted"]
    with_orphans = data(env, "alice", "IMetadata", "loadTagSets", {"options": {"map": {"orphan": True}, "theFilter": {
        "ownerId": env["ids"]["alice"]}}})
    vals = [t["Value"] for t in with_orphans]
    assert vals[0] == "a-set" and "t-unused" in vals and "t-counted" not in vals


def test_bad_input(env):
    o = env["o"]
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Foo"}), "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy", {}), "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Project", "ids": "x"}),
           "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "getImages", {"rootType": "Roi", "ids": [1]}), "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "getCollectionCount", {"type": "Dataset", "property": "name", "ids": [1]}),
           "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "nothing", {}), "ApiUsageException", 404)
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy", {"rootType": "Project", "options": 3}),
           "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy",
                {"rootType": "Project", "options": {"experimenter": "alice"}}), "ApiUsageException", 400)
    failed(call(env, "alice", "IMetadata", "loadAnnotations", {"rootType": "Image", "ids": [o["I1"]],
                                                               "annotationTypes": ["Project"]}), "ApiUsageException", 400)
    failed(call(env, "alice", "IMetadata", "loadAnnotations", {"rootType": "Pixels", "ids": [1]}), "ApiUsageException", 400)
    failed(call(env, "alice", "IMetadata", "loadSpecifiedAnnotations", {"annotationType": "TagAnnotation",
                                                                        "include": [1]}), "ApiUsageException", 400)
    failed(call(env, "alice", "IMetadata", "getTaggedObjectsCount", {}), "ApiUsageException", 400)
    failed(call(env, "alice", "IContainer", "loadContainerHierarchy",
                {"rootType": "Project", "options": {"group": env["ids"]["other"]}}), "SecurityViolation", 403)
    assert env["api"].raw("IContainer", "getImages", {"rootType": "Image", "ids": [1]})[0] in (401, 403)


def test_tag_cli(env):
    grid = env["g"]

    class G:
        """The grid's `omero`, failing on sanitizer reports of the CLI (under `make asan`)."""

        @staticmethod
        def omero(*args, **kw):
            r = grid.omero(*args, **kw)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                assert marker not in r.stderr, r.stderr
            return r

        port = staticmethod(grid.port)

    g = G
    server = "localhost:%d" % g.port("ssl")
    g.omero("login", "alice@" + server, "-w", PW["alice"])
    r = g.omero("tag", "create", "--name", "my_tag", "--desc", "description of my_tag")
    t1 = int(r.stdout.strip().split(":")[1])
    r = g.omero("tag", "create", input="my_tag_2\n")
    assert r.stdout.startswith("Please enter a name for this tag: ")
    t2 = int(r.stdout.strip().split(":")[-1])
    g.omero("tag", "create", "--name", "my_tag_3")
    t3 = int(g.omero("tag", "create", "--name", "my_tag_4").stdout.strip().split(":")[1])
    r = g.omero("tag", "createset", "--tag", str(t1), str(t2), "--name", "my_tag_set", "--desc", "a set")
    s1 = int(r.stdout.strip().split(":")[1])
    r = g.omero("tag", "createset", "--tag", str(t2), str(t3), input="my_tag_set_2\n")
    assert r.stdout.startswith("Please enter a name for this tag set: ")
    s2 = int(r.stdout.strip().split(":")[-1])
    out = g.omero("tag", "list").stdout
    assert ("+- %d: 'my_tag_set'\n| \\\n| +- %d: 'my_tag'\n| +- %d: 'my_tag_2'\n" % (s1, t1, t2)) in out
    assert ("+- %d: 'my_tag_set_2'\n| \\\n| +- %d: 'my_tag_2'\n| +- %d: 'my_tag_4'\n" % (s2, t2, t3)) in out
    assert "\nOrphaned tags:\n" in out and "> %d: 'my_tag_3'" % (t1 + 2) in out and "'a tag'" not in out.split("Orphaned")[0]
    out = g.omero("tag", "listsets").stdout
    assert "ID      |Name" in out and "%-8d|my_tag_set\n" % s1 in out and "%-8d|my_tag_set_2\n" % s2 in out
    assert "my_tag_3" not in out
    r = g.omero("tag", "link", "Image:%d" % env["o"]["I4"], str(t2))
    assert r.stdout.strip().startswith("ImageAnnotationLink:")
    got = data(env, "alice", "IMetadata", "loadAnnotations", {"rootType": "Image", "ids": [env["o"]["I4"]],
                                                              "annotationTypes": ["TagAnnotation"]})
    assert [a["Value"] for a in got[str(env["o"]["I4"])]] == ["my_tag_2"]
    bad = g.omero("tag", "link", "Image", str(t2), check=False)
    assert bad.returncode != 0
    bad = g.omero("tag", "link", "Image:%d" % env["o"]["I4"], "notanid", check=False)
    assert bad.returncode != 0
    bad = g.omero("tag", "createset", "--name", "x", check=False)
    assert bad.returncode == 2
    bad = g.omero("tag", "frobnicate", check=False)
    assert bad.returncode == 2
    assert "Manage tags" in g.omero("tag", "-h").stdout
