"""OMERO.tables through the installed grid over HTTPS: Table.newTable registers an OriginalFile
(mimetype OMERO.tables) owned by the caller in their group; every Table call is checked against
that OriginalFile's permissions (private group: others get 404; read-only group: others read but
get 403 on writes); the table's bytes download as an ordinary OriginalFile that PyTables opens;
`omero upload` makes OriginalFiles (an HDF5 file uploaded as OMERO.tables opens as a table) that
FileAnnotations attach to data; OMERO.web's /webgateway/table/ URLs answer with its JSON; bad
input fails clearly and changes nothing."""
import hashlib
import json
import os

import pytest
import requests

tables = pytest.importorskip("tables")

from conftest import started_grid  # noqa: E402

NS_BULK = "openmicroscopy.org/omero/bulk_annotations"


class Api:
    """HTTPS calls through the router as one logged-in user."""

    def __init__(self, g, user, password):
        self.g = g
        self.root = "https://localhost:%d" % g.port("ssl")
        self.ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
        r = requests.post(self.root + "/rpc/v1/ISession/createSession", json={"username": user, "password": password},
                          verify=self.ca, timeout=30)
        assert r.status_code == 200, r.text
        self.session = r.json()["session"]

    def post(self, service, method, **args):
        return requests.post("%s/rpc/v1/%s/%s" % (self.root, service, method), json=args, verify=self.ca, timeout=60,
                             headers={"X-OMERO-Session": self.session})

    def call(self, service, method, status=200, **args):
        r = self.post(service, method, **args)
        assert r.status_code == status, "%s.%s: %d %s" % (service, method, r.status_code, r.text)
        return r.json()

    def fails(self, service, method, status, exc, **args):
        r = self.post(service, method, **args)
        assert r.status_code == status, "%s.%s: %d %s" % (service, method, r.status_code, r.text)
        assert r.json()["error"]["name"] == exc, r.text
        return r.json()["error"]["message"]

    def raw(self, service, method, **args):
        r = requests.post("%s/rpc/v1/%s/%s" % (self.root, service, method), data=b"", verify=self.ca, timeout=60,
                          headers={"X-OMERO-Session": self.session, "X-OMERO-Args": json.dumps(args),
                                   "Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        return r.content

    def web(self, path, **params):
        return requests.get(self.root + path, params=params, verify=self.ca, timeout=60,
                            headers={"X-OMERO-Session": self.session})

    def group(self, name):
        self.call("ISession", "setSecurityContext", group=name)

    def query(self, hql, **params):
        return self.call("IQuery", "projection", query=hql, params=params, group=-1)["data"]


COLUMNS = [{"name": "Uid", "type": "LongColumn", "description": "testLong"},
           {"name": "Name", "type": "StringColumn", "description": "", "size": 8},
           {"name": "Score", "type": "DoubleColumn", "description": "a score"},
           {"name": "Image", "type": "ImageColumn", "description": ""}]
UIDS = list(range(1, 11))
NAMES = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
SCORES = [u * 0.5 for u in UIDS]
IMAGES = [100 + u for u in UIDS]


def fill(api, fid):
    api.call("Table", "initialize", fileId=fid, columns=COLUMNS)
    api.call("Table", "addData", fileId=fid, columns=[
        {"type": "LongColumn", "values": UIDS}, {"type": "StringColumn", "size": 8, "values": NAMES},
        {"type": "DoubleColumn", "values": SCORES}, {"type": "ImageColumn", "values": IMAGES}])


def file_path(g, fid):
    return os.path.join(g.data, "Files", str(fid))


def digest(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def g(installation):
    with started_grid(installation, cli_login=False) as grid:
        grid.omero("login", "-s", "localhost", "-p", str(grid.port("ssl")), "-u", "root", "-w", grid.root_pw)
        grid.omero("group", "add", "--type", "private", "privlab")
        grid.omero("group", "add", "--type", "read-only", "readlab")
        for u in ("alice", "bob"):
            grid.omero("user", "add", u, u.title(), "Tester", "--group-name", "privlab", "readlab", "-P", u + "pw")
        grid.alice, grid.bob = Api(grid, "alice", "alicepw"), Api(grid, "bob", "bobpw")
        yield grid


def test_new_table_is_an_original_file(g):
    alice = g.alice
    alice.group("privlab")
    fid = alice.call("Table", "newTable", name="results.h5")["fileId"]
    uid = alice.query("select e.id from Experimenter e where e.omeName = 'alice'")[0][0]
    gid = alice.query("select g.id from ExperimenterGroup g where g.name = 'privlab'")[0][0]
    row = alice.query("select o.mimetype, o.name, o.path, o.details.owner.id, o.details.group.id, o.size "
                      "from OriginalFile o where o.id = :id", id=fid)
    assert row == [["OMERO.tables", "results.h5", "results.h5", uid, gid, 0]]
    of = alice.call("Table", "getOriginalFile", fileId=fid)
    assert of["@id"] == fid and of["Name"] == "results.h5" and of["Mimetype"] == "OMERO.tables"
    fill(alice, fid)
    assert alice.call("Table", "getNumberOfRows", fileId=fid) == 10
    assert alice.call("Table", "getWhereList", fileId=fid, condition="(Uid > 2) & (Uid <= 8)", variables={},
                      start=0, stop=10, step=0) == [2, 3, 4, 5, 6, 7]
    data = alice.call("Table", "read", fileId=fid, colNumbers=[1], start=3, stop=7)
    assert data["columns"][0]["values"] == ["four", "five", "six", "seven"]
    # writes record the new size and clear the checksum; close records the checksum
    size, h = alice.query("select o.size, o.hash from OriginalFile o where o.id = :id", id=fid)[0]
    assert size == os.path.getsize(file_path(g, fid)) and h is None
    alice.call("Table", "close", fileId=fid)
    h = alice.query("select o.hash, o.hasher.value from OriginalFile o where o.id = :id", id=fid)[0]
    assert h == [digest(file_path(g, fid)), "SHA1-160"]
    # the write was logged as the caller's change of the OriginalFile
    n = g.alice.query("select count(l.id) from EventLog l where l.entityType = 'ome.model.core.OriginalFile' "
                      "and l.entityId = :id and l.action = 'UPDATE'", id=fid)
    assert n[0][0] >= 2


def test_permissions_follow_the_original_file(g):
    alice, bob = g.alice, g.bob
    # private group: bob sees nothing of alice's table
    alice.group("privlab")
    fid = alice.call("Table", "newTable", name="private.h5")["fileId"]
    fill(alice, fid)
    before = digest(file_path(g, fid))
    bob.group("privlab")
    assert "OriginalFile:%d" % fid in bob.fails("Table", "getNumberOfRows", 404, "NotFoundException", fileId=fid)
    bob.fails("Table", "read", 404, "NotFoundException", fileId=fid, colNumbers=[0], start=0, stop=2)
    bob.fails("Table", "getOriginalFile", 404, "NotFoundException", fileId=fid)
    bob.fails("Table", "addData", 404, "NotFoundException", fileId=fid, columns=[
        {"values": [99]}, {"values": ["x"]}, {"values": [1.0]}, {"values": [1]}])
    bob.fails("Table", "delete", 404, "NotFoundException", fileId=fid)
    assert digest(file_path(g, fid)) == before
    # read-only group: bob reads alice's table but may not change it
    alice.group("readlab")
    rid = alice.call("Table", "newTable", name="shared.h5")["fileId"]
    fill(alice, rid)
    before = digest(file_path(g, rid))
    bob.group("readlab")
    assert bob.call("Table", "getWhereList", fileId=rid, condition="Score >= 4.5", stop=10) == [8, 9]
    assert bob.call("Table", "getHeaders", fileId=rid)[1]["name"] == "Name"
    msg = bob.fails("Table", "addData", 403, "SecurityViolation", fileId=rid, columns=[
        {"values": [99]}, {"values": ["x"]}, {"values": [1.0]}, {"values": [1]}])
    assert msg == "Current user cannot write to file %d" % rid
    bob.fails("Table", "setMetadata", 403, "SecurityViolation", fileId=rid, key="k", value="v")
    bob.fails("Table", "update", 403, "SecurityViolation", fileId=rid,
              data={"rowNumbers": [0], "columns": [{"name": "Uid", "values": [5]}]})
    bob.fails("Table", "delete", 403, "SecurityViolation", fileId=rid)
    bob.fails("Table", "close", 404, "NotFoundException", fileId=fid)
    assert digest(file_path(g, rid)) == before
    assert alice.call("Table", "getNumberOfRows", fileId=rid) == 10
    # bob's own table in the read-only group is his to write
    bid = bob.call("Table", "newTable", name="bobs.h5")["fileId"]
    fill(bob, bid)
    assert bob.query("select o.details.owner.omeName from OriginalFile o where o.id = :id", id=bid) == [["bob"]]
    # no session, no table
    r = requests.post(alice.root + "/rpc/v1/Table/getNumberOfRows", json={"fileId": rid}, verify=alice.ca, timeout=30)
    assert r.status_code == 403 and r.json()["error"]["name"] == "SessionException"


def test_download_opens_in_pytables(g, tmp_path):
    alice = g.alice
    alice.group("privlab")
    fid = alice.call("Table", "newTable", name="dl.h5")["fileId"]
    fill(alice, fid)
    alice.call("Table", "setMetadata", fileId=fid, key="origin", value="grid test")
    alice.call("Table", "close", fileId=fid)
    # RawFileStore over HTTPS gives the HDF5 bytes
    assert alice.raw("RawFileStore", "read", fileId=fid) == open(file_path(g, fid), "rb").read()
    # and `omero download` as alice (checks the checksum recorded at close)
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "alice", "-w", "alicepw", "-g", "privlab")
    out = tmp_path / "dl.h5"
    g.omero("download", "OriginalFile:%d" % fid, str(out))
    with tables.open_file(str(out)) as f:
        m = f.root.OME.Measurements
        assert m.colnames == ["Uid", "Name", "Score", "Image"]
        assert m.col("Uid").tolist() == UIDS
        assert [b.decode() for b in m.col("Name").tolist()] == NAMES
        assert m.col("Score").tolist() == SCORES and m.col("Image").tolist() == IMAGES
        assert m.attrs["origin"] == "grid test"
        assert [t.decode() for t in f.root.OME.ColumnTypes[:]] == [
            "::omero::grid::LongColumn", "::omero::grid::StringColumn", "::omero::grid::DoubleColumn",
            "::omero::grid::ImageColumn"]
    # bob (private group) cannot download it
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "bob", "-w", "bobpw", "-g", "privlab")
    r = g.omero("download", "OriginalFile:%d" % fid, str(tmp_path / "no.h5"), check=False)
    assert r.returncode != 0 and not (tmp_path / "no.h5").exists()


def _upload(g, user, group, *args, check=True):
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", user, "-w", user + "pw", "-g", group)
    return g.omero("upload", *args, check=check)


def test_upload_and_file_annotation(g, tmp_path):
    alice = g.alice
    alice.group("readlab")
    csv = tmp_path / "analysis.csv"
    csv.write_bytes(b"well,count\nA1,3\nA2,5\n")
    r = _upload(g, "alice", "readlab", str(csv))
    assert r.stdout.startswith("OriginalFile:")
    cid = int(r.stdout.strip().split(":")[1])
    row = alice.query("select o.name, o.mimetype, o.size, o.hash, o.details.owner.omeName, o.details.group.name "
                      "from OriginalFile o where o.id = :id", id=cid)
    assert row == [["analysis.csv", "text/csv", csv.stat().st_size, hashlib.sha1(csv.read_bytes()).hexdigest(),
                    "alice", "readlab"]]
    assert alice.raw("RawFileStore", "read", fileId=cid) == csv.read_bytes()
    # an HDF5 table file uploaded as OMERO.tables opens as a table
    src = alice.call("Table", "newTable", name="src.h5")["fileId"]
    fill(alice, src)
    h5 = tmp_path / "copy.h5"
    h5.write_bytes(open(file_path(g, src), "rb").read())
    r = _upload(g, "alice", "readlab", "--mimetype", "OMERO.tables", str(h5))
    tid = int(r.stdout.strip().split(":")[1])
    assert alice.query("select o.mimetype from OriginalFile o where o.id = :id", id=tid) == [["OMERO.tables"]]
    assert alice.call("Table", "getWhereList", fileId=tid, condition="Uid > 8", stop=10) == [8, 9]
    # several files at once: OMERO's id list; a missing file uploads nothing
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    r = _upload(g, "alice", "readlab", str(a), str(b))
    ids = [int(x) for x in r.stdout.strip().split(":")[1].split(",")]
    assert len(ids) == 2 and ids[1] == ids[0] + 1
    c, e = tmp_path / "c.txt", tmp_path / "empty.txt"
    c.write_text("c")
    e.write_bytes(b"")
    r = _upload(g, "alice", "readlab", str(a), str(b), str(e))
    first = ids[1] + 1
    assert r.stdout.strip() == "OriginalFile:%d-%d" % (first, first + 2)
    assert alice.query("select o.size, o.hash from OriginalFile o where o.id = :id", id=first + 2) == [
        [0, hashlib.sha1(b"").hexdigest()]]
    # --data-dir: the server's data directory is reachable here, so the file is linked, not copied
    big = tmp_path / "linked.bin"
    big.write_bytes(os.urandom(70000))
    r = _upload(g, "alice", "readlab", "--data-dir", g.data, str(big))
    lid = int(r.stdout.strip().split(":")[1])
    assert os.path.realpath(file_path(g, lid)) == str(big)
    assert alice.raw("RawFileStore", "read", fileId=lid) == big.read_bytes()
    assert alice.query("select o.size, o.hash from OriginalFile o where o.id = :id", id=lid) == [
        [70000, hashlib.sha1(big.read_bytes()).hexdigest()]]
    count = alice.query("select count(o.id) from OriginalFile o")[0][0]
    r = _upload(g, "alice", "readlab", str(a), str(tmp_path / "missing.txt"), check=False)
    assert r.returncode == 1 and "missing.txt does not exist" in r.stderr and not r.stdout
    assert alice.query("select count(o.id) from OriginalFile o")[0][0] == count
    # attach the table to a dataset with the bulk annotations namespace, and read it back
    ds = alice.call("IUpdate", "saveAndReturnObject", object={"@type": "Dataset", "Name": "plate results"})["data"]
    fa = alice.call("IUpdate", "saveAndReturnObject", object={
        "@type": "FileAnnotation", "File": "OriginalFile:%d" % tid, "Ns": NS_BULK})["data"]
    alice.call("IUpdate", "saveObject", object={"@type": "DatasetAnnotationLink", "parent": "Dataset:%d" % ds["@id"],
                                                "child": "FileAnnotation:%d" % fa["@id"]})
    back = alice.query("select a.id, a.ns, a.file.id, a.file.mimetype from DatasetAnnotationLink l join l.child a "
                       "where l.parent.id = :id", id=ds["@id"])
    assert back == [[fa["@id"], NS_BULK, tid, "OMERO.tables"]]
    # bob, in the read-only group, sees the annotation and queries the table
    g.bob.group("readlab")
    assert g.bob.query("select a.file.id from FileAnnotation a where a.id = :id", id=fa["@id"]) == [[tid]]
    assert g.bob.call("Table", "getNumberOfRows", fileId=tid) == 10
    # the csv attaches to an image-less dataset as well, through `omero obj`
    fa2 = g.omero("obj", "new", "FileAnnotation", "file=OriginalFile:%d" % cid).stdout.strip()
    assert fa2.startswith("FileAnnotation:")
    # a table still used by an annotation is not deleted
    msg = alice.fails("Table", "delete", 400, "ValidationException", fileId=tid)
    assert "FileAnnotation:%d" % fa["@id"] in msg
    assert os.path.exists(file_path(g, tid)) and alice.call("Table", "getNumberOfRows", fileId=tid) == 10
    # one that is not: the file and its OriginalFile go
    alice.call("Table", "delete", fileId=src)
    assert not os.path.exists(file_path(g, src))
    assert alice.query("select count(o.id) from OriginalFile o where o.id = :id", id=src) == [[0]]


def test_webgateway_table_urls(g):
    alice, bob = g.alice, g.bob
    alice.group("privlab")
    fid = alice.call("Table", "newTable", name="web.h5")["fileId"]
    fill(alice, fid)
    alice.call("Table", "setMetadata", fileId=fid, key="source", value="web test")
    base = "/webgateway/table/%d/" % fid
    r = alice.web(base + "query/", query="*")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    j = r.json()
    assert j["data"]["columns"] == ["Uid", "Name", "Score", "Image"]
    assert j["data"]["column_types"] == ["LongColumn", "StringColumn", "DoubleColumn", "ImageColumn"]
    assert j["data"]["rows"] == [list(x) for x in zip(UIDS, NAMES, SCORES, IMAGES)]
    assert j["meta"] == {"rowCount": 10, "totalCount": 10, "limit": None, "offset": 0}
    # a condition, chosen columns in the order asked, paging over the hits
    j = alice.web(base + "query/", query="Uid>2", col_names=["Name", "Uid"], offset=1, limit=3).json()
    assert j["data"]["columns"] == ["Name", "Uid"]
    assert j["data"]["rows"] == [["four", 4], ["five", 5], ["six", 6]]
    assert j["meta"] == {"rowCount": 10, "totalCount": 8, "limit": 3, "offset": 1}
    # "Word-N" is OMERO.web's shorthand for (Word==N)
    assert alice.web(base + "query/", query="Image-107").json()["data"]["rows"] == [[7, "seven", 3.5, 107]]
    j = alice.web(base + "metadata/").json()
    assert j == {"columns": [{"name": c["name"], "description": c["description"], "type": c["type"]} for c in COLUMNS],
                 "totalCount": 10, "user_metadata": {"source": "web test"}}
    # errors
    r = alice.web(base + "query/")
    assert r.status_code == 400 and r.json() == {"error": "Must specify query parameter, use * to retrieve all"}
    r = alice.web(base + "query/", query="Nope > 1")
    assert r.status_code == 400 and r.json()["error"].startswith("Error executing query: Nope > 1")
    r = alice.web(base + "query/", query="*", limit="-1")
    assert r.status_code == 400 and "error" in r.json()
    r = bob.web(base + "query/", query="*")
    assert r.status_code == 404 and r.json() == {"error": "Table %d not found" % fid}
    assert bob.web(base + "metadata/").status_code == 404
    r = alice.web("/webgateway/table/999999/metadata/")
    assert r.status_code == 404 and r.json() == {"error": "Table 999999 not found"}
    r = requests.get(alice.root + base + "query/", params={"query": "*"}, verify=alice.ca, timeout=30)
    assert r.status_code == 403


def test_bad_input_changes_nothing(g):
    alice = g.alice
    alice.group("privlab")
    alice.fails("Table", "newTable", 400, "ApiUsageException")
    alice.fails("Table", "newTable", 400, "ApiUsageException", name=7)
    count = alice.query("select count(o.id) from OriginalFile o")[0][0]
    # the 'user' group holds no tables
    alice.call("ISession", "setSecurityContext", group="user")
    alice.fails("Table", "newTable", 403, "SecurityViolation", name="x.h5")
    assert alice.query("select count(o.id) from OriginalFile o")[0][0] == count
    alice.group("privlab")
    fid = alice.call("Table", "newTable", name="bad.h5")["fileId"]
    fill(alice, fid)
    alice.call("Table", "close", fileId=fid)
    before = digest(file_path(g, fid))
    row = alice.query("select o.size, o.hash, o.version from OriginalFile o where o.id = :id", id=fid)
    assert alice.fails("Table", "addData", 400, "ValidationException", fileId=fid, columns=[
        {"values": [11]}, {"values": ["much too long"]}, {"values": [1.0]}, {"values": [1]}]) == \
        "Maximum string (byte) length in column Name is 8"
    assert alice.fails("Table", "getWhereList", 400, "ApiUsageException", fileId=fid, condition="Uid >",
                       stop=10).startswith("Bad condition")
    alice.fails("Table", "read", 400, "ApiUsageException", fileId=fid, colNumbers=[9], start=0, stop=1)
    alice.fails("Table", "initialize", 400, "ValidationException", fileId=fid, columns=COLUMNS)
    alice.fails("Table", "getNumberOfRows", 400, "ApiUsageException", fileId=0)
    alice.fails("Table", "getNumberOfRows", 400, "ApiUsageException", path="/etc/passwd")
    alice.fails("Table", "getNumberOfRows", 404, "NotFoundException", fileId=987654)
    assert digest(file_path(g, fid)) == before
    assert alice.query("select o.size, o.hash, o.version from OriginalFile o where o.id = :id", id=fid) == row
    assert alice.call("Table", "getNumberOfRows", fileId=fid) == 10


def test_webgateway_object_table_query(g):
    """OMERO.web's /webgateway/table/{objtype}/{objid}/query/: the newest bulk-annotation table of
    the object (or of the object reached through the properties) answers."""
    alice, bob = g.alice, g.bob
    alice.group("readlab")
    plate = alice.call("IUpdate", "saveAndReturnObject", object={
        "@type": "Plate", "Name": "pl", "Wells": [{"@type": "Well", "Row": 0, "Column": 0},
                                                {"@type": "Well", "Row": 0, "Column": 1}]})["data"]
    pid = plate["@id"]
    wells = [w[0] for w in alice.query("select w.id from Well w where w.plate.id = :id order by w.id", id=pid)]
    old = alice.call("Table", "newTable", name="old.h5")["fileId"]
    fill(alice, old)
    new = alice.call("Table", "newTable", name="new.h5")["fileId"]
    alice.call("Table", "initialize", fileId=new, columns=[{"name": "Well", "type": "WellColumn"},
                                                           {"name": "Count", "type": "LongColumn"}])
    alice.call("Table", "addData", fileId=new, columns=[{"values": wells}, {"values": [3, 5]}])
    anns = []
    for fid, ns in ((old, NS_BULK), (new, NS_BULK), (old, "other/namespace")):
        fa = alice.call("IUpdate", "saveAndReturnObject", object={
            "@type": "FileAnnotation", "File": "OriginalFile:%d" % fid, "Ns": ns})["data"]["@id"]
        alice.call("IUpdate", "saveObject", object={"@type": "PlateAnnotationLink", "parent": "Plate:%d" % pid,
                                                    "child": "FileAnnotation:%d" % fa})
        anns.append(fa)
    r = alice.web("/webgateway/table/Plate/%d/query/" % pid, query="*")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["id"] == new and j["annId"] == anns[1] and j["parentType"] == "Plate" and j["parentId"] == pid
    assert j["owner"] == "Alice Tester" and j["addedBy"] == "Alice Tester" and isinstance(j["addedOn"], int)
    assert j["data"]["rows"] == [[wells[0], 3], [wells[1], 5]]
    # from a well to its plate's table, OMERO.web's "Well-N" shorthand
    bob.group("readlab")
    r = bob.web("/webgateway/table/Plate.wells/%d/query/" % wells[1], query="Well-%d" % wells[1])
    assert r.status_code == 200, r.text
    assert r.json()["data"]["rows"] == [[wells[1], 5]] and r.json()["parentId"] == pid
    # errors: no such object, a property that does not exist, an object without bulk annotations
    r = alice.web("/webgateway/table/Plate/999999/query/", query="*")
    assert r.status_code == 404 and r.json() == {"error": "Plate with id 999999 not found"}
    r = alice.web("/webgateway/table/Plate.nothing/%d/query/" % pid, query="*")
    assert r.status_code == 400 and r.json() == {"error": "Plate.nothing cannot be queried"}
    ds = alice.call("IUpdate", "saveAndReturnObject", object={"@type": "Dataset", "Name": "bare"})["data"]["@id"]
    r = alice.web("/webgateway/table/Dataset/%d/query/" % ds, query="*")
    assert r.status_code == 404 and r.json() == {"error": "Could not retrieve bulk annotations table"}
    r = alice.web("/webgateway/table/Plate/%d/query/" % pid)
    assert r.status_code == 400 and r.json()["error"].startswith("Must specify query parameter")
    # bob in the private group sees neither plate nor table
    alice.group("privlab")
    pp = alice.call("IUpdate", "saveAndReturnObject", object={"@type": "Plate", "Name": "private"})["data"]["@id"]
    bob.group("privlab")
    assert bob.web("/webgateway/table/Plate/%d/query/" % pp, query="*").status_code == 404
