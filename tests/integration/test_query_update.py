"""IQuery and IUpdate end to end through the router on a real grid: objects in the JSON API's form
with omero:details (owner, group, the caller's permissions), join-fetched graphs, parameters,
paging and group context, validation and security errors with OMERO's names, optimistic locking
under concurrent updates, Event/EventLog rows, HQL that tries to escape, the HQL of the
documentation (api-model.md section 7), and `omero hql` / `omero obj`."""
import re
import threading

import pytest

from qu_support import SCHEMA, failed, make_group, make_user, ok, start_grid

PW = {"alice": "alice-Pw-1", "bob": "bob-Pw-2", "eve": "eve-Pw-3"}


@pytest.fixture(scope="module")
def env(installation):
    g, api, root, rootpw = start_grid(installation)
    try:
        ids = {"lab": make_group(api, root, "lab", "rwra--"), "other": make_group(api, root, "other", "rw----")}
        ids["alice"] = make_user(api, root, "alice", "lab", PW["alice"])
        ids["bob"] = make_user(api, root, "bob", "lab", PW["bob"])
        ids["eve"] = make_user(api, root, "eve", "other", PW["eve"])
        s = {u: api.login(u, PW[u]) for u in PW}
        s["root"] = root
        yield {"g": g, "api": api, "s": s, "ids": ids, "rootpw": rootpw}
    finally:
        g.cleanup()


def call(env, who, service, method, body=None):
    return env["api"].raw(service, method, body or {}, env["s"][who])


def save(env, who, obj):
    return ok(call(env, who, "IUpdate", "saveAndReturnObject", {"object": obj}))["data"]


def hql(env, who, query, params=None, method="findAllByQuery", **extra):
    body = {"query": query, "params": params or {}}
    body.update(extra)
    return call(env, who, "IQuery", method, body)


def test_save_and_return_with_details(env):
    p = save(env, "alice", {"@type": SCHEMA + "#Project", "Name": "p-details", "Description": "first"})
    assert p["@type"] == SCHEMA + "#Project" and isinstance(p["@id"], int)
    assert p["Name"] == "p-details" and p["Description"] == "first" and p["omero:version"] == 0
    d = p["omero:details"]
    assert d["owner"]["@id"] == env["ids"]["alice"] and d["owner"]["UserName"] == "alice"
    assert d["owner"]["@type"] == SCHEMA + "#Experimenter" and d["owner"]["FirstName"] == "Alice"
    assert d["group"]["@id"] == env["ids"]["lab"] and d["group"]["Name"] == "lab"
    perms = d["permissions"]
    assert perms["@type"] == "TBD#Permissions" and perms["perm"] == "rwra--"
    assert all(perms[k] for k in ("canEdit", "canAnnotate", "canDelete", "canLink", "canChgrp"))
    assert perms["canChown"] is False
    # Bob (other member of the read-annotate group) sees it with his own rights.
    got = ok(call(env, "bob", "IQuery", "get", {"type": "Project", "id": p["@id"]}))["data"]
    bp = got["omero:details"]["permissions"]
    assert got["Name"] == "p-details" and bp["canAnnotate"] and not bp["canEdit"] and not bp["canDelete"]
    assert not bp["canLink"]
    # Eve (another group) does not see it at all.
    failed(call(env, "eve", "IQuery", "get", {"type": "Project", "id": p["@id"]}), "ValidationException", 404)
    assert ok(call(env, "eve", "IQuery", "find", {"type": "Project", "id": p["@id"]}))["data"] is None
    rows = ok(hql(env, "eve", "select p from Project p where p.id = :id", {"id": p["@id"]}))["data"]
    assert rows == []


def test_graph_saved_in_one_transaction_and_fetched_nested(env):
    p = save(env, "alice", {"@type": "Project", "Name": "p-graph", "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "d-graph-1"}},
        {"@type": "ProjectDatasetLink", "child": {"@type": "omero.model.DatasetI", "Name": "d-graph-2"}}]})
    # the saved graph comes back with the new members' ids, as OMERO's saveAndReturnObject does
    assert sorted(link["Child"]["Name"] for link in p["DatasetLinks"]) == ["d-graph-1", "d-graph-2"]
    assert all(isinstance(link["@id"], int) and isinstance(link["Child"]["@id"], int) for link in p["DatasetLinks"])
    q = ("select p from Project p left outer join fetch p.datasetLinks as links "
         "left outer join fetch links.child as dataset where p.id=:pid")
    res = ok(hql(env, "alice", q, {"pid": p["@id"]}))["data"]
    assert len(res) == 1
    links = res[0]["DatasetLinks"]
    assert sorted(link["Child"]["Name"] for link in links) == ["d-graph-1", "d-graph-2"]
    assert all(link["Parent"]["@id"] == p["@id"] for link in links)
    assert all(link["Child"]["omero:details"]["owner"]["UserName"] == "alice" for link in links)
    # A failing member rolls the whole graph back.
    bad = {"@type": "Project", "Name": "p-rolled-back", "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Nmae": "typo"}}]}
    msg = failed(call(env, "alice", "IUpdate", "saveObject", {"object": bad}), "ValidationException", 400)
    assert "Nmae" in msg
    assert ok(hql(env, "alice", "select p from Project p where p.name = :n", {"n": "p-rolled-back"}))["data"] == []


def test_update_delete_version_and_eventlog(env):
    p = save(env, "alice", {"@type": "Project", "Name": "p-v"})
    p2 = save(env, "alice", {"@type": "Project", "@id": p["@id"], "omero:version": 0, "Description": "changed"})
    assert p2["omero:version"] == 1 and p2["Description"] == "changed" and p2["Name"] == "p-v"
    msg = failed(call(env, "alice", "IUpdate", "saveObject",
                      {"object": {"@type": "Project", "@id": p["@id"], "omero:version": 0, "Name": "stale"}}),
                 "OptimisticLockException", 409)
    assert "Project:%d" % p["@id"] in msg
    # Bob may read but not edit or delete Alice's project in a read-annotate group.
    failed(call(env, "bob", "IUpdate", "saveObject", {"object": {"@type": "Project", "@id": p["@id"], "Name": "x"}}),
           "SecurityViolation", 403)
    failed(call(env, "bob", "IUpdate", "deleteObject", {"object": "Project:%d" % p["@id"]}), "SecurityViolation", 403)
    log = ok(hql(env, "root", "select el.action, el.entityType, el.event.experimenter.omeName from EventLog el "
                 "where el.entityId = :id and el.entityType = 'ome.model.containers.Project' order by el.id",
                 {"id": p["@id"]}, method="projection", group=-1))["data"]
    assert log == [["INSERT", "ome.model.containers.Project", "alice"],
                   ["UPDATE", "ome.model.containers.Project", "alice"]]
    ok(call(env, "alice", "IUpdate", "deleteObject", {"object": {"@type": "Project", "@id": p["@id"]}}))
    assert ok(call(env, "alice", "IQuery", "find", {"type": "Project", "id": p["@id"]}))["data"] is None
    log = ok(hql(env, "root", "select el.action from EventLog el where el.entityId = :id and "
                 "el.entityType = 'ome.model.containers.Project' order by el.id", {"id": p["@id"]},
                 method="projection", group=-1))["data"]
    assert log[-1] == ["DELETE"]
    # a project still linked to a dataset is not deleted by deleteObject (omero delete cascades)
    linked = save(env, "alice", {"@type": "Project", "Name": "p-linked", "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "d-linked"}}]})
    msg = failed(call(env, "alice", "IUpdate", "deleteObject", {"object": "Project:%d" % linked["@id"]}),
                 "ValidationException")
    assert "Project:%d is still used" % linked["@id"] in msg
    assert ok(call(env, "alice", "IQuery", "find", {"type": "Project", "id": linked["@id"]}))["data"] is not None
    # unlinking is deleting the link; then the project goes
    ok(call(env, "alice", "IUpdate", "deleteObject", {"object": "ProjectDatasetLink:%d"
                                                      % linked["DatasetLinks"][0]["@id"]}))
    ok(call(env, "alice", "IUpdate", "deleteObject", {"object": "Project:%d" % linked["@id"]}))


def test_concurrent_updates_one_optimistic_lock(env):
    p = save(env, "alice", {"@type": "Project", "Name": "p-race"})
    barrier = threading.Barrier(2)
    results = []

    def worker(n):
        barrier.wait()
        results.append(call(env, "alice", "IUpdate", "saveObject", {"object": {
            "@type": "Project", "@id": p["@id"], "omero:version": p["omero:version"], "Name": "by-%d" % n}}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(r[1].get("error", {}).get("name", "ok") for r in results)
    assert names == ["OptimisticLockException", "ok"], results
    final = ok(call(env, "alice", "IQuery", "get", {"type": "Project", "id": p["@id"]}))["data"]
    assert final["omero:version"] == 1 and final["Name"] in ("by-0", "by-1")


def test_units_enums_timestamps_and_maps(env):
    corr = ok(hql(env, "alice", "select c from Correction c where c.value = :v", {"v": "PlanApo"}))["data"][0]
    imm = ok(hql(env, "alice", "select i from Immersion i where i.value = 'Oil'"))["data"][0]
    assert corr["value"] == "PlanApo" and corr["@type"] == SCHEMA + "#Correction"
    inst = save(env, "alice", {"@type": "Instrument"})
    obj = save(env, "alice", {"@type": "Objective", "Instrument": {"@id": inst["@id"], "@type": "Instrument"},
                              "Correction": corr, "Immersion": {"@id": imm["@id"]}, "NominalMagnification": 63.0,
                              "WorkingDistance": {"Value": 0.17, "Unit": "MILLIMETER"}})
    assert obj["WorkingDistance"] == {"@type": "TBD#LengthI", "Unit": "MILLIMETER", "Symbol": "mm", "Value": 0.17}
    assert obj["Correction"]["value"] == "PlanApo" and obj["Immersion"]["value"] == "Oil"
    q = ok(hql(env, "alice", "select o.workingDistance from Objective o where o.id = :id", {"id": obj["@id"]},
               method="projection"))["data"]
    assert q == [[{"value": 0.17, "unit": "MILLIMETER", "symbol": "mm"}]]
    failed(call(env, "alice", "IUpdate", "saveObject", {"object": {
        "@type": "Objective", "@id": obj["@id"], "WorkingDistance": {"Value": 1, "Unit": "SECOND"}}}),
        "ValidationException")
    img = save(env, "alice", {"@type": "Image", "Name": "img-ts", "AcquisitionDate": 1235730332000})
    assert img["AcquisitionDate"] == 1235730332000 and img["omero:series"] == 0
    m = save(env, "alice", {"@type": "MapAnnotation", "Namespace": "test.ns",
                            "Value": [["altitude", "1000"], ["owner", "alice"]]})
    rows = ok(hql(env, "alice", "select nv.value from MapAnnotation ann join ann.mapValue as nv "
                  "where nv.name = 'altitude' and ann.id = :id", {"id": m["@id"]}, method="projection"))["data"]
    assert rows == [["1000"]]


def test_validation_errors_change_nothing(env):
    cases = [
        ({"@type": "Project"}, "ValidationException"),                       # name is required
        ({"@type": "Project", "Name": "x", "Bogus": 1}, "ValidationException"),
        ({"@type": "NoSuchType", "Name": "x"}, "ValidationException"),
        ({"@type": "Image", "Name": "x", "Series": "three"}, "ValidationException"),
        ({"@type": "Annotation", "Name": "abstract"}, "ValidationException"),
        ({"@type": "Project", "Name": "x", "omero:details": {"owner": {"@id": 0}}}, "SecurityViolation"),
        ({"@type": "Experimenter", "UserName": "sneaky", "FirstName": "a", "LastName": "b"}, "SecurityViolation"),
        ({"@type": "ProjectDatasetLink", "parent": "Project:999999", "child": "Dataset:999999"}, "SecurityViolation"),
    ]
    before = ok(hql(env, "alice", "select count(p) from Project p", method="projection"))["data"]
    for obj, name in cases:
        failed(call(env, "alice", "IUpdate", "saveObject", {"object": obj}), name)
    after = ok(hql(env, "alice", "select count(p) from Project p", method="projection"))["data"]
    assert before == after
    failed(call(env, "alice", "IUpdate", "saveObject", {}), "ApiUsageException", 400)
    inst = save(env, "alice", {"@type": "Instrument"})
    msg = failed(call(env, "alice", "IUpdate", "saveObject", {"object": {
        "@type": "Objective", "Instrument": "Instrument:%d" % inst["@id"]}}), "ValidationException", 400)
    assert msg == "Objective is missing required fields: correction, immersion"


def test_parameters_paging_and_group_context(env):
    ids = [save(env, "alice", {"@type": "Dataset", "Name": "page-%02d" % i})["@id"] for i in range(7)]
    q = "select d from Dataset d where d.id in (:ids) order by d.name"
    got = ok(hql(env, "alice", q, {"ids": ids}, filter={"offset": 2, "limit": 3}))["data"]
    assert [d["Name"] for d in got] == ["page-02", "page-03", "page-04"]
    got = ok(call(env, "alice", "IQuery", "findAllByQuery", {
        "query": q, "parameters": {"map": {"ids": ids}, "theFilter": {"offset": 5, "limit": 10}}}))["data"]
    assert [d["Name"] for d in got] == ["page-05", "page-06"]
    one = ok(hql(env, "alice", "select d from Dataset d where d.name like :n", {"n": "page-0_"},
                 method="findByQuery", filter={"limit": 1}))
    failed(hql(env, "alice", "select d from Dataset d where d.name like :n", {"n": "page-0_"}, method="findByQuery"),
           "ApiUsageException")
    assert one["data"]["Name"].startswith("page-0")
    failed(hql(env, "alice", q, {}), "QueryException", 400)
    # Eve, a member of "other" only, cannot ask for "lab"; -1 means all her groups.
    failed(hql(env, "eve", q, {"ids": ids}, group=env["ids"]["lab"]), "SecurityViolation", 403)
    assert ok(hql(env, "eve", q, {"ids": ids}, group=-1))["data"] == []
    assert len(ok(hql(env, "root", q, {"ids": ids}, ctx={"omero.group": "-1"}))["data"]) == 7
    # Paging with a fetched collection counts projects, not (project, link) rows.
    for n in range(2):
        save(env, "alice", {"@type": "Project", "Name": "paged-%d" % n, "DatasetLinks": [
            {"@type": "ProjectDatasetLink", "child": "Dataset:%d" % i} for i in ids[:3]]})
    got = ok(hql(env, "alice", "select p from Project p left outer join fetch p.datasetLinks l "
                 "where p.name like 'paged-%' order by p.name", filter={"limit": 1, "offset": 1}))["data"]
    assert [p["Name"] for p in got] == ["paged-1"] and len(got[0]["DatasetLinks"]) == 3
    names = ok(hql(env, "alice", "select d.name, d.details.owner.omeName from Dataset d where d.id = :id",
                   {"id": ids[0]}, method="projection"))["data"]
    assert names == [["page-00", "alice"]]


def test_query_errors(env):
    msg = failed(hql(env, "alice", "select p from Project p wher p.id = 1"), "QueryException", 400)
    assert "position" in msg
    failed(hql(env, "alice", "select p from Project p where p.name = 5"), "QueryException", 400)
    failed(hql(env, "alice", "select p from Prject p"), "QueryException", 400)
    # PostgreSQL's data errors (class 22) are the query's too
    failed(hql(env, "alice", "select p from Project p where p.id = :id", {"id": "abc"}), "QueryException", 400)
    failed(hql(env, "alice", "select count(p) / 0 from Project p", method="projection"), "QueryException", 400)
    # and the transaction is over: the next call works
    ok(hql(env, "alice", "select count(p) from Project p", method="projection"))
    failed(hql(env, "alice", "select e from Experimenter e where omeName = ?"), "QueryException", 400)
    failed(call(env, "alice", "IQuery", "nonsense", {}), "ApiUsageException", 404)
    failed(env["api"].raw("IQuery", "findAllByQuery", {"query": "select p from Project p"}), "SessionException")


ESCAPES = [
    "select p from Project p union select p from Project p",
    "select p from Project p -- comment",
    "select p from Project p /* comment */",
    "select p from Project p; delete from project",
    'select p from "Project" p',
    "select p from Project p where p.details.permissions = 0",
    "select p from Project p where p.name = 'x' or 1=1; drop table project",
]


@pytest.mark.parametrize("query", ESCAPES)
def test_hql_escape_attempts_refused(env, query):
    failed(hql(env, "eve", query), "QueryException", 400)


def test_hql_escape_attempts_see_nothing(env):
    p = save(env, "alice", {"@type": "Project", "Name": "secret-of-alice"})
    # Subqueries, exists, aggregates: still filtered by row-level security for Eve.
    queries = [
        ("select count(p) from Project p", {}, [[0]]),
        ("select p.name from Project p where exists (select q from Project q where q.id = :id)", {"id": p["@id"]}, []),
        ("select q.name from Project q where q.id in (select p.id from Project p where p.name like :n)",
         {"n": "secret%"}, []),
        ("select max(p.name) from Project p", {}, [[None]]),
    ]
    for query, params, expect in queries:
        assert ok(hql(env, "eve", query, params, method="projection", group=-1))["data"] == expect, query
    # Quotes in parameters are values, never SQL.
    for evil in ["x' or '1'='1", "secret-of-alice' --", "%' union select 1 --"]:
        assert ok(hql(env, "eve", "select p from Project p where p.name = :n", {"n": evil}))["data"] == []
    assert len(ok(hql(env, "alice", "select p from Project p where p.name = :n", {"n": "secret-of-alice"}))["data"]) == 1
    # SQL keywords as identifiers are names of the model (or unknown), never SQL.
    failed(hql(env, "eve", "select select from Project select"), "QueryException")
    failed(hql(env, "eve", "select p.drop from Project p"), "QueryException")


def test_documented_queries(env):
    """Every valid HQL query of api-model.md section 7, through IQuery."""
    a = env["s"]["alice"]
    api = env["api"]
    proj = save(env, "alice", {"@type": "Project", "Name": "doc-p", "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "test", "ImageLinks": [
            {"@type": "DatasetImageLink", "child": {"@type": "Image", "Name": "cell-mitosis"}}]}}]})
    ds = proj["DatasetLinks"][0]["Child"] if "DatasetLinks" in proj else None
    ds_id = ok(hql(env, "alice", "select d from Dataset d where d.name = 'test'"))["data"][0]["@id"]
    img_id = ok(hql(env, "alice", "select i from Image i where i.name = 'cell-mitosis'"))["data"][0]["@id"]
    tag = save(env, "alice", {"@type": "TagAnnotation", "Value": "tag-1"})
    ok(call(env, "alice", "IUpdate", "saveObject", {"object": {"@type": "ImageAnnotationLink",
                                                                "parent": "Image:%d" % img_id,
                                                                "child": "TagAnnotation:%d" % tag["@id"]}}))
    mapann = save(env, "alice", {"@type": "MapAnnotation", "Value": [["date", "2020"], ["owner", "alice"],
                                                                     ["altitude", "3"]]})
    plate = save(env, "alice", {"@type": "Plate", "Name": "pl", "Wells": [{"@type": "Well", "Row": 0, "Column": 0}]})
    ef = {"@type": "OriginalFile", "Name": "f.txt", "Path": "/", "Size": 3, "Hash": "abc"}
    of = save(env, "alice", ef)
    save(env, "alice", {"@type": "FileAnnotation", "File": "OriginalFile:%d" % of["@id"],
                        "Name": "http://name-of-application-provider.com/name-of-application/x"})
    uid = env["ids"]["alice"]
    Q = [
        ("select i from Image i where i.id = :id and name like :namedParameter",
         {"id": img_id, "namedParameter": "cell%mit%"}, 1),
        ("select p from Project p join fetch p.datasetLinks dil join fetch dil.child where p.details.owner.omeName = :name",
         {"name": "alice"}, None),
        ("select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child "
         "as dataset where p.id=:pid", {"pid": proj["@id"]}, 1),
        ("select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child "
         "as dataset", {}, None),
        ("from Dataset d left outer join d.imageLinks where d.name = 'test'", {}, None),
        ("select i from Image i join fetch i.datasetLinks as dlinks join fetch i.annotationLinks as alinks "
         "join fetch i.details.owner as owner where i.id = :id",
         {"id": img_id}, 1),
        ("select d from Dataset d join fetch d.projectLinks links join fetch links.parent where d.id = :id",
         {"id": ds_id}, 1),
        ("select d from Dataset d join fetch d.projectLinks links where links.parent.id > 2000", {}, 0),
        ("select a from FileAnnotation a where name like "
         "'http://name-of-application-provider.com/name-of-application/%'", {}, 1),
        ("from PixelsType as p where p.value=:pType", {"pType": "uint16"}, 1),
        ("select name from OriginalFile where id=%d" % of["@id"], {}, 1),
        ("select id, textValue, file from Annotation a order by a.id desc", {}, None),
        ("select id, textValue from TagAnnotation a order by a.id desc", {}, None),
        ("select id, owner.id, started, userAgent from Session where closed is null", {}, None),
        ("SELECT ap.name FROM Experimenter user JOIN user.config AS ap WHERE user.id = %d AND ap.name LIKE "
         "'AdminPrivilege:%%' AND LOWER(ap.value) <> 'true' ORDER BY ap.name" % uid, {}, 0),
        ("select well from Well as well left outer join fetch well.plate as pt left outer join fetch well.wellSamples "
         "as ws left outer join fetch ws.plateAcquisition as pa left outer join fetch ws.image as img left outer "
         "join fetch img.pixels as pix left outer join fetch pix.pixelsType as pt2 where well.plate.id = %d"
         % plate["@id"], {}, 1),
        ("select nv.value from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'", {}, None),
        ("select ann from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'", {}, None),
        ("select ann from MapAnnotation ann where not exists(from MapAnnotation m2 join m2.mapValue as nv2 "
         "where nv2.name like 'size%')", {}, None),
        ("select ann from MapAnnotation ann join ann.mapValue as nv1 join ann.mapValue as nv2 where "
         "nv1.name = 'date' and nv2.name = 'owner'", {}, None),
        ("select i from Image i", {}, None),
        ("select p from Project as p where p.id = :id", {"id": proj["@id"]}, 1),
        ("select p from Project as p where p.id in (:ids)", {"ids": [proj["@id"]]}, 1),
        ("select p from Project as p where p.details.owner.id = :id", {"id": uid}, None),
        ("select i from Image i left outer join fetch i.annotationLinksCountPerOwner", {}, None),
        ("select e from Experimenter e where omeName = :name", {"name": "alice"}, 1),
    ]
    for query, params, n in Q:
        st, j = api.raw("IQuery", "projection" if not query.lower().lstrip().startswith(("select i ", "select p ",
                        "select d ", "select a ", "select e ", "select ann", "select well", "from")) else
                        "findAllByQuery", {"query": query, "params": params}, a)
        assert st == 200, (query, j)
        if n is not None:
            assert len(j["data"]) == n, (query, j["data"])
    # As documented the query also fetches owner.details.creationEvent; an Experimenter is global in
    # OMERO 5 (no creation event), so that path is refused with the property named.
    msg = failed(hql(env, "alice", Q[5][0].replace(" where", " join fetch owner.details.creationEvent where"),
                     Q[5][1]), "QueryException", 400)
    assert "creationEvent" in msg
    fetched = ok(hql(env, "alice", Q[5][0], Q[5][1]))["data"][0]
    assert fetched["omero:details"]["owner"]["UserName"] == "alice"
    assert fetched["AnnotationLinks"][0]["Child"]["@id"] == tag["@id"]
    counted = [i for i in ok(hql(env, "alice", Q[24][0]))["data"] if i["@id"] == img_id][0]
    assert counted["omero:annotationLinksCountPerOwner"] == {str(uid): 1}
    assert ok(hql(env, "alice", Q[16][0], method="projection"))["data"].count(["3"]) >= 1
    assert mapann["@id"] in [m["@id"] for m in ok(hql(env, "alice", Q[19][0]))["data"]]
    assert ds is None or ds["Name"] == "test"


def cli_login(env, user):
    g = env["g"]
    home = {"OMERO_SESSIONDIR": g.root + "/sessions-" + user}
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", user, "-w", PW[user], env=home)
    return lambda *args, **kw: g.omero(*args, env=home, **kw)


def test_cli_obj(env):
    om = cli_login(env, "alice")
    ds = om("obj", "new", "Dataset", "name=NewDVSet").stdout.strip()
    assert ds.startswith("Dataset:") and ds.split(":")[1].isdigit()
    assert om("obj", "update", ds, "description=A dataset for new DV images").stdout.strip() == ds
    pr = om("obj", "new", "Project", "name=NewImages").stdout.strip()
    link = om("obj", "new", "ProjectDatasetLink", "parent=" + pr, "child=" + ds).stdout.strip()
    assert link.startswith("ProjectDatasetLink:")
    assert om("obj", "get", ds, "name").stdout == "NewDVSet\n"
    assert om("obj", "get", link, "parent").stdout.strip() == pr
    lines = om("obj", "get", ds).stdout.split("\n")
    assert lines[-2:] == ["", ""]       # OMERO prints the name=value lines, then an empty line
    lines = lines[:-2]
    assert lines == sorted(lines) and "name=NewDVSet" in lines and "id=" + ds.split(":")[1] in lines
    assert "description=A dataset for new DV images" in lines and "version=1" in lines
    assert om("obj", "null", ds, "description").stdout.strip() == ds
    assert om("obj", "get", ds, "description").stdout == "\n"
    assert "description=" in om("obj", "get", ds).stdout.splitlines()
    c = om("obj", "new", "CommentAnnotation", "textValue=Hello World!").stdout.strip()
    assert c.startswith("CommentAnnotation:")
    assert om("obj", "get", c, "textValue").stdout == "Hello World!\n"
    fields = [l.split("=")[0] for l in om("obj", "get", c.replace("CommentAnnotation", "Annotation")).stdout.split()]
    assert "textValue" in fields and "ns" in fields and "longValue" not in fields and "file" not in fields
    assert om("obj", "new", "DatasetAnnotationLink", "parent=" + ds, "child=" + c).stdout.startswith(
        "DatasetAnnotationLink:")
    # map fields, OMERO's documented sequence
    m = om("obj", "new", "MapAnnotation", "ns=example.com").stdout.strip()
    assert om("obj", "map-set", m, "mapValue", "foo", "bar").stdout.strip() == m
    assert om("obj", "map-set", m, "mapValue", "foo").stdout.strip() == m
    assert om("obj", "map-set", m, "mapValue", "fu", "baa").stdout.strip() == m
    assert om("obj", "map-get", m, "mapValue", "foo").stdout == "None\n"
    assert om("obj", "map-get", m, "mapValue", "fu").stdout == "baa\n"
    assert om("obj", "map-set", m, "mapValue", "--", "b", "+read,-write").stdout.strip() == m
    assert om("obj", "get", m, "mapValue").stdout == "(fu,baa),(b,+read,-write)\n"
    assert om("obj", "list-get", m, "mapValue", "0").stdout == "(fu,baa)\n"
    r = om("obj", "list-get", m, "mapValue", "5", check=False)
    assert r.returncode == 336 % 256 and "mapValue[5]" in r.stderr
    # quantities and numbers as OMERO prints them
    inst = om("obj", "new", "Instrument").stdout.strip()
    st = om("obj", "new", "StageLabel", "name=s", "positionX=1.5 MICROMETER", "positionZ=2 mm").stdout.strip()
    assert om("obj", "get", st, "positionX").stdout == "1.5 MICROMETER\n"
    assert om("obj", "get", st, "positionZ").stdout == "2.0 MILLIMETER\n"
    assert inst.startswith("Instrument:")
    # Several commands from a file or stdin, later ones referring to earlier results.
    script = "# a comment\np = new Project name='p from stdin'\nnew Dataset name=d\n\n" \
             "new ProjectDatasetLink parent@=p child@=1\n"
    out = om("obj", "--file", "-", input=script).stdout.split()
    assert [x.split(":")[0] for x in out] == ["Project", "Dataset", "ProjectDatasetLink"]
    assert om("obj", "get", out[0], "name").stdout == "p from stdin\n"
    assert om("obj", "get", out[2], "child").stdout.strip() == out[1]
    out = om("obj", "-", input="new Plate name=one\n").stdout.split()
    assert out[0].startswith("Plate:")
    # Errors are printed plainly with OMERO's exception names and change nothing.
    r = om("obj", "new", "Dataset", "nmae=x", check=False)
    assert r.returncode == 336 % 256 and r.stdout == "" and "Failed to create Dataset" in r.stderr
    assert "ValidationException" in r.stderr and "nmae" in r.stderr
    r = om("obj", "new", "Dataset", check=False)
    assert r.returncode == 103 and r.stderr.splitlines()[-1] == "required arguments: name"
    r = om("obj", "update", "Dataset", "name=x", check=False)
    assert r.returncode == 334 % 256 and "No id given for Dataset" in r.stderr
    r = om("obj", "update", "Dataset:99999999", "name=x", check=False)
    assert r.returncode == 334 % 256 and "No object found: Dataset:99999999" in r.stderr
    r = om("obj", "get", ds, "nosuchfield", check=False)
    assert r.returncode == 336 % 256 and "Unknown field 'nosuchfield'" in r.stderr
    r = om("obj", "frobnicate", check=False)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = om("obj", check=False)
    assert r.returncode == 100 and "No command provided" in r.stderr
    # an administrator changes a user's e-mail (OMERO's documented admin use)
    g = env["g"]
    root_env = {"OMERO_SESSIONDIR": g.root + "/sessions-root"}
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", env["rootpw"], env=root_env)
    ref = "Experimenter:%d" % env["ids"]["alice"]
    assert g.omero("obj", "update", ref, "email=alice@university.example", env=root_env).stdout.strip() == ref
    assert om("obj", "get", ref, "email").stdout == "alice@university.example\n"
    grp = "ExperimenterGroup:%d" % env["ids"]["lab"]
    assert g.omero("obj", "map-set", grp, "config", "--", "omero.policy.binary_access", "+read,+write,+image",
                   env=root_env).stdout.strip() == grp
    assert om("obj", "map-get", grp, "config", "omero.policy.binary_access").stdout == "+read,+write,+image\n"
    r = om("obj", "map-set", grp, "config", "x", "y", check=False)
    assert r.returncode == 336 % 256 and "SecurityViolation" in r.stderr
    bob = cli_login(env, "bob")
    r = bob("obj", "update", ds, "name=stolen", check=False)
    assert r.returncode == 336 % 256 and "Failed to update " + ds in r.stderr and "SecurityViolation" in r.stderr
    assert om("obj", "get", ds, "name").stdout == "NewDVSet\n"


def test_cli_hql(env):
    om = cli_login(env, "alice")
    for i in range(3):
        om("obj", "new", "Screen", "name=screen-%d" % i, "description=d%d" % i)
    r = om("hql", "-q", "--limit=10", "select s.name, s.description from Screen s order by s.name")
    lines = r.stdout.splitlines()
    assert lines[0].split("|")[0].strip() == "#" and [c.strip() for c in lines[0].split("|")] == ["#", "Col1", "Col2"]
    assert [c.strip() for c in lines[2].split("|")] == ["0", "screen-0", "d0"]
    assert lines[-1] == "(3 rows)"
    r = om("hql", "-q", "--limit", "1", "--offset", "1", "select s from Screen s order by s.name")
    lines = r.stdout.splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    assert header[:3] == ["#", "Class", "Id"] and "name" in header and "description" in header
    row = dict(zip(header, [c.strip() for c in lines[2].split("|")]))
    assert row["#"] == "1" and row["Class"] == "ScreenI" and row["name"] == "screen-1"
    assert row["details"] == "owner=%d;group=%d" % (env["ids"]["alice"], env["ids"]["lab"])
    assert header == ["#", "Class", "Id"] + sorted(header[3:])
    r = om("hql", "-q", "--ids-only", "select s from Screen s order by s.name")
    assert [c.strip() for c in r.stdout.splitlines()[2].split("|")][1].startswith("ScreenI:")
    assert lines[-1] == "(1 row)"
    r = om("hql", "-q", "--style", "csv", "select s.name from Screen s where s.name = 'screen-2'")
    assert r.stdout.splitlines() == ["#,Col1", "0,screen-2"]
    r = om("hql", "-q", "--style=json", "select count(s) from Screen s")
    assert '"Col1": "3"' in r.stdout.replace("'", '"') or '"Col1":"3"' in r.stdout
    r = om("hql", "-q", "select s from Screen s wher s.id = 1", check=False)
    assert r.returncode == 52 and r.stderr.splitlines()[-1].startswith("Bad query: ")
    r = om("hql", "-q", check=False)
    assert r.returncode == 67 and "Can't ask for query with --quiet option" in r.stderr
    # Eve sees none of it, in any of her groups.
    eve = cli_login(env, "eve")
    assert eve("hql", "-q", "--all", "select s from Screen s").stdout.strip().endswith("(0 rows)")
    # times as OMERO's CLI prints them (time.ctime)
    r = om("hql", "-q", "--limit", "1", "select s.started from Session s order by s.id desc")
    assert re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$", r.stdout.splitlines()[2].split("|")[1].strip())
    # without a query: one query per line until an empty one
    r = om("hql", input="select count(s) from Screen s\nselect max(s.name) from Screen s\n\nignored\n")
    out = r.stdout.splitlines()
    assert [c.strip() for c in out[2].split("|")] == ["0", "3"]
    assert [c.strip() for c in out[6].split("|")] == ["0", "screen-2"] and len(out) == 8


def test_arrays_subclasses_and_ordered_collections(env):
    ids = ok(call(env, "alice", "IUpdate", "saveAndReturnIds", {"objects": [
        {"@type": "Dataset", "Name": "arr-1"}, {"@type": "Dataset", "Name": "arr-2"}]}))["data"]
    assert len(ids) == 2 and ids[0] != ids[1]
    objs = ok(call(env, "alice", "IUpdate", "saveAndReturnArray", {"objects": [
        {"@type": "Dataset", "@id": ids[0], "Description": "one"}, {"@type": "Dataset", "Name": "arr-3"}]}))["data"]
    assert [o["Name"] for o in objs] == ["arr-1", "arr-3"] and objs[0]["Description"] == "one"
    assert ok(call(env, "alice", "IUpdate", "saveArray", {"objects": [
        {"@type": "Dataset", "@id": ids[1], "Description": "two"}]})) == {}
    # One bad member: nothing of the array is saved.
    failed(call(env, "alice", "IUpdate", "saveArray", {"objects": [
        {"@type": "Dataset", "Name": "arr-never"}, {"@type": "Dataset", "Bad": 1}]}), "ValidationException")
    assert ok(hql(env, "alice", "select d from Dataset d where d.name = 'arr-never'"))["data"] == []
    # A joined subclass (Laser: lightsource + laser rows) and enumerations by value.
    medium = ok(hql(env, "alice", "select m from LaserMedium m where m.value = 'NdYAG'"))["data"][0]
    ltype = ok(hql(env, "alice", "select t from LaserType t where t.value = 'SolidState'"))["data"][0]
    inst = save(env, "alice", {"@type": "Instrument"})
    laser = save(env, "alice", {"@type": "Laser", "Instrument": "Instrument:%d" % inst["@id"], "LaserMedium": medium,
                                "Type": ltype, "Wavelength": {"Value": 532, "Unit": "NANOMETER"},
                                "Power": {"Value": 5, "Symbol": "mW"}, "Model": "L-1"})
    assert laser["@type"] == SCHEMA + "#Laser" and laser["Model"] == "L-1"
    assert laser["LaserMedium"]["value"] == "NdYAG" and laser["Wavelength"]["Symbol"] == "nm"
    poly = ok(hql(env, "alice", "select l from LightSource l where l.id = :id", {"id": laser["@id"]}))["data"][0]
    assert poly["@type"] == SCHEMA + "#Laser" and poly["Power"]["Unit"] == "MILLIWATT"
    laser2 = save(env, "alice", {"@type": "Laser", "@id": laser["@id"], "Model": "L-2", "Wavelength": None})
    assert laser2["Model"] == "L-2" and "Wavelength" not in laser2 and laser2["omero:version"] == 1
    ok(call(env, "alice", "IUpdate", "deleteObject", {"object": "Laser:%d" % laser["@id"]}))
    assert ok(hql(env, "alice", "select l from LightSource l where l.id = :id", {"id": laser["@id"]}))["data"] == []
    # An ordered collection keeps its order (Roi.shapes -> shape.roi_index).
    img = save(env, "alice", {"@type": "Image", "Name": "roi-img"})
    roi = save(env, "alice", {"@type": "Roi", "Image": {"@type": "Image", "@id": img["@id"]}, "Shapes": [
        {"@type": "Rectangle", "X": 1.0, "Y": 2.0, "Width": 3.0, "Height": 4.0},
        {"@type": "Point", "X": 5.0, "Y": 6.0},
        {"@type": "Ellipse", "X": 7.0, "Y": 8.0, "RadiusX": 1.0, "RadiusY": 2.0}]})
    got = ok(hql(env, "alice", "select r from Roi r join fetch r.shapes where r.id = :id", {"id": roi["@id"]}))["data"]
    assert got[0]["@type"] == SCHEMA + "#ROI"
    assert [sh["@type"].split("#")[1] for sh in got[0]["Shapes"]] == ["Rectangle", "Point", "Ellipse"]
    # Bob may annotate Alice's image in a read-annotate group: an ROI of his own on it.
    bob_roi = save(env, "bob", {"@type": "Roi", "Image": "Image:%d" % img["@id"]})
    assert bob_roi["omero:details"]["owner"]["UserName"] == "bob"
    # but not edit Alice's ROI
    failed(call(env, "bob", "IUpdate", "saveObject", {"object": {"@type": "Roi", "@id": roi["@id"],
                                                                  "Description": "x"}}), "SecurityViolation")


def test_experimenters_and_groups_through_iupdate(env):
    uid = env["ids"]["bob"]
    failed(call(env, "alice", "IUpdate", "saveObject", {"object": {"@type": "Experimenter", "@id": uid,
                                                                    "Email": "x@y"}}), "SecurityViolation")
    e = save(env, "bob", {"@type": "Experimenter", "@id": uid, "Email": "bob@example.org"})
    assert e["Email"] == "bob@example.org" and e["UserName"] == "bob"
    failed(call(env, "bob", "IUpdate", "saveObject", {"object": {"@type": "Experimenter", "@id": uid,
                                                                  "UserName": "robert"}}), "SecurityViolation")
    r = save(env, "root", {"@type": "Experimenter", "@id": uid, "Config": [["AdminPrivilege:Sudo", "false"]]})
    assert r["Config"] == [["AdminPrivilege:Sudo", "false"]]
    # bob reads his record and saves it back with a new e-mail: the unchanged name and config pass
    me = ok(call(env, "bob", "IQuery", "get", {"type": "Experimenter", "id": uid}))["data"]
    me["Email"] = "bob2@example.org"
    assert save(env, "bob", me)["Email"] == "bob2@example.org"
    me["Config"] = []
    failed(call(env, "bob", "IUpdate", "saveObject", {"object": me}), "SecurityViolation")
    failed(call(env, "bob", "IUpdate", "saveObject", {"object": {"@type": "ExperimenterGroup",
                                                                  "@id": env["ids"]["lab"], "Name": "mine"}}),
           "SecurityViolation")
    failed(call(env, "alice", "IUpdate", "deleteObject", {"object": "Experimenter:%d" % uid}), "SecurityViolation")
    grp = ok(call(env, "alice", "IQuery", "get", {"type": "ExperimenterGroup", "id": env["ids"]["lab"]}))["data"]
    assert grp["Name"] == "lab" and grp["omero:details"]["permissions"]["perm"] == "rwra--"


def test_round_trip_and_sudo(env):
    api = env["api"]
    p = save(env, "alice", {"@type": "Project", "Name": "round"})
    got = ok(call(env, "alice", "IQuery", "get", {"type": "Project", "id": p["@id"]}))["data"]
    got["Name"] = "round-2"
    again = save(env, "alice", got)     # the object as read, details and all, saves back
    assert again["Name"] == "round-2" and again["omero:version"] == 1
    # moving or giving away through an update is refused
    moved = dict(got, **{"omero:details": {"group": {"@id": env["ids"]["other"]}}, "omero:version": 1})
    failed(call(env, "alice", "IUpdate", "saveObject", {"object": moved}), "SecurityViolation")
    # an administrator's sudo session saves as the user
    st, j = api.raw("ISession", "createSessionWithTimeout", {"principal": {"name": "alice", "group": "lab"},
                                                            "timeToIdle": 60000}, env["s"]["root"])
    assert st == 200, j
    sudo = j["session"]
    st, j = api.raw("IUpdate", "saveAndReturnObject", {"object": {"@type": "Project", "Name": "by-sudo"}}, sudo)
    assert st == 200 and j["data"]["omero:details"]["owner"]["UserName"] == "alice", j


def test_saving_with_all_groups_context(env):
    """With omero.group -1 new objects go to the group of what they link to; alone they need a group."""
    lab = env["ids"]["lab"]
    img = save(env, "alice", {"@type": "Image", "Name": "ctx-img"})
    ds = save(env, "alice", {"@type": "Dataset", "Name": "ctx-ds"})
    link = ok(call(env, "alice", "IUpdate", "saveAndReturnObject", {"group": -1, "object": {
        "@type": "DatasetImageLink", "parent": "Dataset:%d" % ds["@id"], "child": "Image:%d" % img["@id"]}}))["data"]
    assert link["omero:details"]["group"]["@id"] == lab
    ok(call(env, "alice", "IUpdate", "saveObject", {"group": -1, "object": {
        "@type": "Dataset", "@id": ds["@id"], "ImageLinks": [
            {"@type": "DatasetImageLink", "child": {"@type": "Image", "Name": "ctx-img-2"}}]}}))
    got = ok(hql(env, "alice", "select d from Dataset d join fetch d.imageLinks l join fetch l.child "
                 "where d.id = :id", {"id": ds["@id"]}))["data"][0]
    assert sorted(l["Child"]["Name"] for l in got["ImageLinks"]) == ["ctx-img", "ctx-img-2"]
    assert all(l["Child"]["omero:details"]["group"]["@id"] == lab for l in got["ImageLinks"])
    failed(call(env, "alice", "IUpdate", "saveObject", {"group": -1, "object": {"@type": "Project", "Name": "x"}}),
           "ApiUsageException", 400)


@pytest.mark.parametrize("query", [
    "select p from Project p where p.details.owner.omeName = someUser",              # bare identifier
    "select d from Dataset d join fetch d.projectsLinks links join fetch links.parent where d.id = 1",
    "select annotation from FileAnnotation where name like 'http://x/%'",            # alias missing
    "from PixelType as p where p.value='uint8'",                                     # PixelsType
    "select i from Image i join i.defaultPixels p",                                  # pre-5 field
    "select i from Image i where ( current_user = :root OR i.permissions = :readable )",
])
def test_documented_typos_are_query_exceptions(env, query):
    """The queries of api-model.md section 7 marked as documentation bugs fail cleanly."""
    msg = failed(hql(env, "alice", query, {"root": 0, "readable": 1}), "QueryException", 400)
    assert msg
