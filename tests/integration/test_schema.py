"""The generated OMERO schema on a real PostgreSQL: bootstrap rows, row-level security per group
permission level and caller role, the caller's rights function, and HQL translated by
omero-hqltool running against it.

A private cluster is created with initdb as the `postgres` OS user in a temporary directory
(unix socket + a free port on 127.0.0.1) and stopped when the module ends. The schema is loaded
by a non-superuser role `omero` that owns the tables, as the server's role does: superusers bypass
row-level security, table owners do not (FORCE ROW LEVEL SECURITY).
"""
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OMERO_BUILD", os.path.join(REPO, "build"))
SCHEMA = os.path.join(BUILD, "gen", "share", "schema.sql")
HQLTOOL = os.path.join(BUILD, "bin", "omero-hqltool")


def _pg_bin():
    base = "/usr/lib/postgresql"
    if not os.path.isdir(base):
        return None
    for v in sorted(os.listdir(base), key=lambda s: int(s) if s.isdigit() else 0, reverse=True):
        b = os.path.join(base, v, "bin")
        if os.path.exists(os.path.join(b, "initdb")):
            return b
    return None


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self):
        self.bin = _pg_bin()
        if not self.bin:
            pytest.skip("PostgreSQL server binaries are not installed")
        root = os.geteuid() == 0
        if root:    # PostgreSQL refuses to run as root: the cluster belongs to the postgres user
            try:
                pg = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres OS user")
        self.dir = tempfile.mkdtemp(prefix="omero-schema-test-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        if root:
            for d in (self.dir, self.sock):
                os.chown(d, pg.pw_uid, pg.pw_gid)
        self.port = _free_port()
        self.started = False
        as_pg = ["runuser", "-u", "postgres", "--"] if root else []
        self.as_pg = as_pg
        subprocess.run(as_pg + [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                                "-E", "UTF8", "--locale=C.UTF-8", "-A", "trust"],
                       check=True, capture_output=True)
        subprocess.run(as_pg + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-l",
                                os.path.join(self.dir, "log"), "-o",
                                "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (self.port, self.sock),
                                "start"], check=True, capture_output=True)
        self.started = True

    def stop(self):
        if self.started:
            subprocess.run(self.as_pg + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                         "stop"], capture_output=True)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, user="omero", db="omero", check=True):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                            "-p", str(self.port), "-U", user, "-d", db], input=sql, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("psql failed: %s\n--- SQL ---\n%s" % (r.stderr, sql[:3000]))
        return r


def rows(out):
    return [l.split("|") for l in out.strip().split("\n") if l]


def lit(v):
    """SQL literal for a test value (the test's own quoting, never the translator's)."""
    if v is None:
        return "NULL"
    if isinstance(v, (list, tuple)):
        v = "{" + ",".join(str(x) for x in v) + "}"
    return "'" + str(v).replace("'", "''") + "'"


@pytest.fixture(scope="module")
def pg():
    if not os.path.exists(SCHEMA):
        pytest.skip("schema.sql not generated; run make")
    c = Cluster()
    try:
        c.psql("CREATE ROLE omero LOGIN; CREATE DATABASE omero OWNER omero ENCODING 'UTF8' TEMPLATE template0;",
               user="postgres", db="postgres")
        with open(SCHEMA, encoding="utf-8") as f:
            c.psql(f.read())
        c.psql(FIXTURE_SQL)
        yield c
    finally:
        c.stop()


# Groups of every permission level, users with different roles, one image per (user, group).
FIXTURE_SQL = """
SET omero.admin = 'true';
INSERT INTO experimentergroup (id, permissions, version, name, ldap) VALUES
  (10, -120, 0, 'priv', false), (11, -56, 0, 'ro', false), (12, -40, 0, 'ra', false), (13, -8, 0, 'rw', false);
INSERT INTO experimenter (id, permissions, version, omename, firstname, lastname, ldap) VALUES
  (10, 0, 0, 'alice', 'Alice', 'A', false), (11, 0, 0, 'bob', 'Bob', 'B', false),
  (12, 0, 0, 'carol', 'Carol', 'C', false), (13, 0, 0, 'dave', 'Dave', 'D', false);
INSERT INTO groupexperimentermap (permissions, version, parent, child, owner) VALUES
  (-35, 0, 1, 10, false), (-35, 0, 1, 11, false), (-35, 0, 1, 12, false), (-35, 0, 1, 13, false),
  (-35, 0, 10, 10, false), (-35, 0, 11, 10, false), (-35, 0, 12, 10, false), (-35, 0, 13, 10, false),
  (-35, 0, 10, 11, false), (-35, 0, 11, 11, false), (-35, 0, 12, 11, false), (-35, 0, 13, 11, false),
  (-35, 0, 10, 12, true), (-35, 0, 11, 12, true);
INSERT INTO image (permissions, creation_id, update_id, owner_id, group_id, name)
  SELECT -120, 0, 0, u.id, g.id, u.omename || '-' || g.name
    FROM experimenter u, experimentergroup g WHERE u.id IN (10, 11) AND g.id IN (10, 11, 12, 13);
INSERT INTO dataset (permissions, creation_id, update_id, owner_id, group_id, name)
  SELECT -120, 0, 0, u.id, g.id, 'ds-' || u.omename || '-' || g.name
    FROM experimenter u, experimentergroup g WHERE u.id IN (10, 11) AND g.id IN (10, 11, 12, 13);
INSERT INTO datasetimagelink (permissions, creation_id, update_id, owner_id, group_id, parent, child)
  SELECT -120, 0, 0, d.owner_id, d.group_id, d.id, i.id FROM dataset d JOIN image i
    ON i.owner_id = d.owner_id AND i.group_id = d.group_id;
INSERT INTO annotation (discriminator, permissions, creation_id, update_id, owner_id, group_id, ns, textvalue)
  VALUES ('/map/', -120, 0, 0, 10, 10, 'test', NULL), ('/basic/text/tag/', -120, 0, 0, 10, 11, NULL, 'tag-ro');
INSERT INTO annotation_mapvalue (annotation_id, name, value, index)
  SELECT id, 'altitude', '8848', 0 FROM annotation WHERE discriminator = '/map/';
INSERT INTO imageannotationlink (permissions, creation_id, update_id, owner_id, group_id, parent, child)
  SELECT -120, 0, 0, 10, 11, i.id, a.id FROM image i, annotation a
   WHERE i.name = 'alice-ro' AND a.textvalue = 'tag-ro';
INSERT INTO pixels (permissions, creation_id, update_id, owner_id, group_id, image, dimensionorder, pixelstype,
                    sha1, sizex, sizey, sizez, sizec, sizet, physicalsizex, physicalsizexunit)
  SELECT -120, 0, 0, i.owner_id, i.group_id, i.id, 0, 5, '', 512, 256, 3, 2, 1, 0.25, 'µm' FROM image i;
INSERT INTO planeinfo (permissions, creation_id, update_id, owner_id, group_id, pixels, thez, thec, thet,
                       exposuretime, exposuretimeunit)
  SELECT -120, 0, 0, p.owner_id, p.group_id, p.id, 0, 0, 0, 1.2, 's' FROM pixels p;
INSERT INTO session (discriminator, permissions, version, timetoidle, timetolive, started, defaulteventtype,
                     uuid, owner, node)
  VALUES ('Session', -35, 0, 600000, 0, now(), 'User', 'uuid-of-alice', 10, 0),
         ('Session', -35, 0, 600000, 0, now(), 'User', 'uuid-of-bob', 11, 0);
"""

ALICE, BOB, CAROL, DAVE = 10, 11, 12, 13
PRIV, RO, RA, RW = 10, 11, 12, 13
MEMBER = {ALICE: [1, PRIV, RO, RA, RW], BOB: [1, PRIV, RO, RA, RW], CAROL: [1, PRIV, RO], DAVE: [1], 0: [0, 1]}
OWNED = {CAROL: [PRIV, RO], 0: [0]}


def as_caller(pg, sql, uid=None, group=-1, admin=False, privileges=None):
    pre = ["BEGIN;"]
    if uid is not None:
        pre.append("SET LOCAL omero.uid = '%d';" % uid)
        pre.append("SET LOCAL omero.gids = '%s';" % ",".join(str(g) for g in MEMBER.get(uid, [])))
        pre.append("SET LOCAL omero.owned_gids = '%s';" % ",".join(str(g) for g in OWNED.get(uid, [])))
        pre.append("SET LOCAL omero.\"group\" = '%d';" % group)
        pre.append("SET LOCAL omero.admin = '%s';" % ("true" if admin else "false"))
        if privileges is not None:
            pre.append("SET LOCAL omero.privileges = '%s';" % privileges)
    return rows(pg.psql("\n".join(pre) + "\n" + sql + "\nCOMMIT;\n").stdout)


def visible_images(pg, **kw):
    return sorted(r[0] for r in as_caller(pg, "SELECT name FROM image;", **kw))


# ------------------------------------------------------------------------------------------ schema

def test_bootstrap_rows(pg):
    q = lambda sql: rows(pg.psql(sql, user="postgres").stdout)
    assert q("SELECT id, omename FROM experimenter WHERE id < 2 ORDER BY id") == [["0", "root"], ["1", "guest"]]
    assert q("SELECT id, name, permissions, ome_perms(permissions) FROM experimentergroup WHERE id < 3 ORDER BY id") \
        == [["0", "system", "-120", "rw----"], ["1", "user", "-52", "rwr-r-"], ["2", "guest", "-120", "rw----"]]
    assert q("SELECT parent, child, owner FROM groupexperimentermap WHERE id < 3 ORDER BY id") == \
        [["0", "0", "t"], ["1", "0", "f"], ["2", "1", "f"]]
    assert q("SELECT * FROM _roles") == [["0", "1", "0", "1", "2"]]
    assert q("SELECT currentversion, currentpatch, previousversion, previouspatch, message FROM dbpatch") == \
        [["OMERO5.4", "0", "OMERO5.4", "0", "Database ready."]]
    uuid = q("SELECT value FROM configuration WHERE name = 'omero.db.uuid'")
    assert len(uuid) == 1 and len(uuid[0][0]) == 36
    # root's password is a placeholder the server fills at first start; guest has the empty one
    assert q("SELECT experimenter_id, hash IS NULL, hash FROM password ORDER BY 1") == [["0", "t", ""], ["1", "f", ""]]
    assert q("SELECT id, value FROM eventtype WHERE value = 'Bootstrap'") == [["0", "Bootstrap"]]
    assert q("SELECT id, type, status FROM event WHERE id = 0") == [["0", "0", "BOOTSTRAP"]]
    assert q("SELECT uuid FROM node WHERE id = 0") == [["0" * 36]]


def test_enumerations_and_units(pg):
    q = lambda sql: rows(pg.psql(sql, user="postgres").stdout)
    assert sorted(r[0] for r in q("SELECT value FROM checksumalgorithm")) == sorted(
        ["Adler-32", "CRC-32", "MD5-128", "Murmur3-32", "Murmur3-128", "SHA1-160", "File-Size-64"])
    assert q("SELECT count(*) FROM adminprivilege") == [["15"]]
    assert q("SELECT bitsize FROM pixelstype WHERE value = 'uint16'") == [["16"]]
    assert ["XYZCT"] in q("SELECT value FROM dimensionorder")
    assert ["User"] in q("SELECT value FROM eventtype")
    for enum in ("jobstatus", "family", "renderingmodel", "format", "immersion", "correction", "lasermedium",
                 "acquisitionmode", "binning", "contrastmethod", "illumination", "detectortype", "lasertype",
                 "arctype", "filamenttype", "pulse", "filtertype", "microscopetype", "experimenttype", "medium",
                 "photometricinterpretation"):
        assert int(q("SELECT count(*) FROM %s" % enum)[0][0]) > 1, enum
    labels = [r[0] for r in q("SELECT unnest(enum_range(NULL::unitslength))::text")]
    assert "µm" in labels and "reference frame" in labels and "Å" in labels and "pixel" in labels
    assert q("SELECT _unit_name('µm'::unitslength), _unit_name('s'::unitstime), _unit_name('°C'::unitstemperature)") \
        == [["MICROMETER", "SECOND", "CELSIUS"]]
    cols = [r[0] for r in q("SELECT column_name FROM information_schema.columns WHERE table_name = 'pixels'")]
    for c in ("physicalsizex", "physicalsizexunit", "sizex", "pixelstype", "dimensionorder", "image", "owner_id",
              "group_id", "creation_id", "update_id", "permissions", "version", "external_id"):
        assert c in cols
    # links: parent/child unique per owner
    r = pg.psql("INSERT INTO datasetimagelink (permissions, creation_id, update_id, owner_id, group_id, parent, child)"
                " SELECT permissions, creation_id, update_id, owner_id, group_id, parent, child FROM datasetimagelink"
                " LIMIT 1;", user="postgres", check=False)
    assert r.returncode != 0 and "unique" in r.stderr.lower()


def test_bad_values_are_refused(pg):
    r = pg.psql("INSERT INTO pixels (permissions, creation_id, update_id, owner_id, group_id, image, dimensionorder,"
                " pixelstype, sha1, sizex, sizey, sizez, sizec, sizet) VALUES (-120, 0, 0, 10, 10,"
                " (SELECT min(id) FROM image), 0, 5, '', 0, 1, 1, 1, 1);", user="postgres", check=False)
    assert r.returncode != 0 and "positive_int" in r.stderr
    r = pg.psql("INSERT INTO image (permissions, creation_id, update_id, owner_id, group_id, name) VALUES"
                " (-120, 0, 0, 999, 10, 'orphan');", user="postgres", check=False)
    assert r.returncode != 0 and "foreign key" in r.stderr


# ------------------------------------------------------------------------------------------ RLS

def test_no_context_sees_nothing(pg):
    pg.psql("SET omero.admin = 'true'; INSERT INTO image (permissions, creation_id, update_id, owner_id, group_id,"
            " name) VALUES (-52, 0, 0, 0, 1, 'in-user-group');")
    try:
        assert visible_images(pg) == []
        # the user group is world-readable (rwr-r-): any logged-in caller reads it
        assert visible_images(pg, uid=DAVE) == ["in-user-group"]
    finally:
        pg.psql("SET omero.admin = 'true'; DELETE FROM image WHERE name = 'in-user-group';")
    assert as_caller(pg, "SELECT count(*) FROM annotation_mapvalue;") == [["0"]]
    assert as_caller(pg, "SELECT count(*) FROM session;") == [["0"]]


def test_private_group_members_see_only_their_own(pg):
    assert [n for n in visible_images(pg, uid=BOB, group=PRIV)] == ["bob-priv"]
    assert visible_images(pg, uid=ALICE, group=PRIV) == ["alice-priv"]


def test_shared_groups_members_see_everything_of_the_group(pg):
    for g, name in ((RO, "ro"), (RA, "ra"), (RW, "rw")):
        assert visible_images(pg, uid=BOB, group=g) == ["alice-" + name, "bob-" + name]


def test_all_groups_context(pg):
    assert visible_images(pg, uid=BOB, group=-1) == [
        "alice-ra", "alice-ro", "alice-rw", "bob-priv", "bob-ra", "bob-ro", "bob-rw"]


def test_group_owner_sees_private_group(pg):
    assert visible_images(pg, uid=CAROL, group=PRIV) == ["alice-priv", "bob-priv"]
    assert visible_images(pg, uid=CAROL, group=-1) == ["alice-priv", "alice-ro", "bob-priv", "bob-ro"]
    # not a member of ra/rw: nothing there
    assert visible_images(pg, uid=CAROL, group=RA) == []


def test_non_member_sees_nothing(pg):
    assert visible_images(pg, uid=DAVE, group=-1) == []
    assert visible_images(pg, uid=DAVE, group=RW) == []


def test_admin_sees_all_and_group_context_applies(pg):
    assert len(visible_images(pg, uid=0, admin=True)) == 8
    assert visible_images(pg, uid=0, admin=True, group=PRIV) == ["alice-priv", "bob-priv"]


def test_side_tables_and_links_follow_their_rows(pg):
    # the map annotation lives in alice's private group
    assert as_caller(pg, "SELECT name, value FROM annotation_mapvalue;", uid=ALICE) == [["altitude", "8848"]]
    assert as_caller(pg, "SELECT count(*) FROM annotation_mapvalue;", uid=BOB) == [["0"]]
    assert as_caller(pg, "SELECT count(*) FROM datasetimagelink;", uid=BOB, group=PRIV) == [["1"]]
    assert as_caller(pg, "SELECT count(*) FROM datasetimagelink;", uid=BOB, group=RW) == [["2"]]


def test_sessions_are_private(pg):
    assert as_caller(pg, "SELECT uuid FROM session WHERE owner > 1;", uid=BOB) == [["uuid-of-bob"]]
    assert len(as_caller(pg, "SELECT uuid FROM session;", uid=0, admin=True)) == 4


def test_subqueries_are_filtered(pg):
    sql = "SELECT count(*) FROM dataset d WHERE EXISTS (SELECT 1 FROM image i WHERE i.owner_id = 10);"
    assert as_caller(pg, sql, uid=BOB, group=PRIV) == [["0"]]
    assert as_caller(pg, sql, uid=BOB, group=RO) == [["2"]]


def test_policy_reads_settings_once(pg):
    plan = "\n".join(r[0] for r in as_caller(pg, "EXPLAIN SELECT * FROM image;", uid=BOB))
    assert "InitPlan" in plan


def rights(pg, uid, owner, group, **kw):
    out = as_caller(pg, "SELECT omero_details_permissions(%d, %d)::text;" % (owner, group), uid=uid, **kw)
    return json.loads(out[0][0])


def test_rights_follow_the_permission_matrix(pg):
    # own data: everything except chown
    r = rights(pg, BOB, BOB, PRIV)
    assert r["canEdit"] and r["canAnnotate"] and r["canDelete"] and r["canLink"] and r["canChgrp"]
    assert not r["canChown"] and r["perm"] == "rw----"
    # member on others' data
    m = {g: rights(pg, BOB, ALICE, g) for g in (RO, RA, RW)}
    assert [m[g]["canAnnotate"] for g in (RO, RA, RW)] == [False, True, True]
    assert [m[g]["canEdit"] for g in (RO, RA, RW)] == [False, False, True]
    assert [m[g]["canDelete"] for g in (RO, RA, RW)] == [False, False, True]
    assert [m[g]["canLink"] for g in (RO, RA, RW)] == [False, False, True]
    assert not any(m[g]["canChgrp"] or m[g]["canChown"] for g in (RO, RA, RW))
    assert m[RA]["perm"] == "rwra--" and m[RO]["perm"] == "rwr---" and m[RW]["perm"] == "rwrw--"
    assert m[RA]["isGroupAnnotate"] and not m[RA]["isGroupWrite"] and m[RW]["isGroupWrite"]
    # group owner on members' data
    p = rights(pg, CAROL, ALICE, PRIV)
    assert p["canEdit"] and p["canDelete"] and p["canChown"] and not p["canAnnotate"] and not p["canLink"]
    assert not p["canChgrp"]
    o = rights(pg, CAROL, ALICE, RO)
    assert o["canAnnotate"] and o["canLink"] and o["canEdit"]
    # full admin; restricted admin without WriteOwned/Chgrp
    a = rights(pg, 0, ALICE, RA, admin=True)
    assert a["canEdit"] and a["canDelete"] and a["canChgrp"] and a["canChown"] and a["canAnnotate"]
    assert not rights(pg, 0, ALICE, PRIV, admin=True)["canAnnotate"]
    ra = rights(pg, 0, ALICE, RA, admin=True, privileges="Chown,DeleteOwned")
    assert ra["canChown"] and ra["canDelete"] and not ra["canEdit"] and not ra["canChgrp"]
    # a stranger: nothing
    s = rights(pg, DAVE, ALICE, RW)
    assert not any(s[k] for k in ("canEdit", "canAnnotate", "canDelete", "canLink", "canChgrp", "canChown"))


# ------------------------------------------------------------------------------------------ HQL

def translate(hql, perms=False):
    r = subprocess.run([HQLTOOL] + (["--perms"] if perms else []) + [hql], capture_output=True, text=True)
    return json.loads(r.stdout.strip().split("\n")[-1])


def run_hql(pg, hql, params=None, perms=False, **caller):
    if not os.path.exists(HQLTOOL):
        pytest.skip("omero-hqltool not built")
    t = translate(hql, perms)
    assert "error" not in t, t
    params = params or {}
    args = []
    for p in t["params"]:
        args.append(lit(params[p["name"]] if "name" in p else p["literal"]))
    sql = "PREPARE q AS %s;\nEXECUTE q%s;\nDEALLOCATE q;" % (t["sql"], "(%s)" % ", ".join(args) if args else "")
    return as_caller(pg, sql, **caller), t


SEED = [
    ("select i from Image i where i.id = :id and name like :namedParameter", {"id": 1, "namedParameter": "a%"}),
    ("select p from Project p join fetch p.datasetLinks dil join fetch dil.child where p.details.owner.omeName = :name",
     {"name": "alice"}),
    ("select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child as "
     "dataset where p.id=:pid", {"pid": 1}),
    ("select p from Project p left outer join fetch p.datasetLinks as links left outer join fetch links.child as "
     "dataset", {}),
    ("from Dataset d left outer join d.imageLinks where d.name = 'test'", {}),
    ("select i from Image i join fetch i.datasetLinks as dlinks join fetch i.annotationLinks as alinks join fetch "
     "i.details.owner as owner where i.id = :id", {"id": 1}),
    ("select p from Project p where p.details.owner.omeName = :someUser", {"someUser": "bob"}),
    ("select d from Dataset d join fetch d.projectLinks links join fetch links.parent where d.id = :id", {"id": 2}),
    ("select d from Dataset d join fetch d.projectLinks links where links.parent.id > 2000", {}),
    ("select a from FileAnnotation a where a.ns like 'http://name-of-application-provider.com/x/%'", {}),
    ("from PixelsType as p where p.value=:pType", {"pType": "uint16"}),
    ("select name from OriginalFile where id=4106", {}),
    ("select id, textValue, file from Annotation a order by a.id desc", {}),
    ("select id, textValue from TagAnnotation a order by a.id desc", {}),
    ("select id, owner.id, started, userAgent from Session where closed is null", {}),
    ("SELECT ap.name FROM Experimenter user JOIN user.config AS ap WHERE user.id = 123 AND ap.name LIKE "
     "'AdminPrivilege:%' AND LOWER(ap.value) <> 'true' ORDER BY ap.name", {}),
    ("select well from Well as well left outer join fetch well.plate as pt left outer join fetch well.wellSamples as "
     "ws left outer join fetch ws.plateAcquisition as pa left outer join fetch ws.image as img left outer join fetch "
     "img.pixels as pix left outer join fetch pix.pixelsType as pt where well.plate.id = :n", {"n": 1}),
    ("select planeInfo.exposureTime.value from PlaneInfo planeInfo", {}),
    ("select planeInfo.exposureTime.unit from PlaneInfo planeInfo", {}),
    ("select cast(planeInfo.exposureTime.unit as text) from PlaneInfo planeInfo", {}),
    ("select planeInfo.exposureTime from PlaneInfo planeInfo", {}),
    ("select nv.value from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'", {}),
    ("select ann from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'", {}),
    ("select ann from MapAnnotation ann where not exists(from MapAnnotation m2 join m2.mapValue as nv2 where "
     "nv2.name like 'size%')", {}),
    ("select ann from MapAnnotation ann join ann.mapValue as nv1 join ann.mapValue as nv2 where nv1.name = 'date' "
     "and nv2.name = 'owner'", {}),
    ("select i from Image i", {}),
    ("select i from Image i join i.pixels p", {}),
    ("select p from Project as p where p.id = :id", {"id": 1}),
    ("select p from Project as p where p.id in (:ids)", {"ids": [1, 2, 3]}),
    ("select p from Project as p where p.details.owner.id = :id", {"id": 10}),
    ("select i from Image i left outer join fetch i.annotationLinksCountPerOwner", {}),
    ("select e from Experimenter e where omeName = :name", {"name": "root"}),
]


@pytest.mark.parametrize("hql,params", SEED, ids=[str(i + 1) for i in range(len(SEED))])
def test_seed_hql_runs(pg, hql, params):
    run_hql(pg, hql, params, uid=BOB)
    run_hql(pg, hql, params, uid=0, admin=True)


def test_hql_results_are_filtered(pg):
    out, t = run_hql(pg, "select i.name from Image i order by i.name", uid=BOB, group=PRIV)
    assert out == [["bob-priv"]]
    out, _ = run_hql(pg, "select count(*) from Image i", uid=BOB)
    assert out == [["7"]]
    out, _ = run_hql(pg, "select count(*) from Image i", uid=0, admin=True)
    assert out == [["8"]]
    out, _ = run_hql(pg, "select i.name from Image i where i.id in (select l.child.id from DatasetImageLink l "
                         "where l.parent.name = :d)", {"d": "ds-alice-priv"}, uid=BOB)
    assert out == []


def test_hql_object_rows_and_fetch(pg):
    out, t = run_hql(pg, "select d from Dataset d left outer join fetch d.imageLinks l left outer join fetch "
                         "l.child where d.name = :n", {"n": "ds-alice-rw"}, uid=BOB)
    assert len(out) == 1
    row = out[0]
    assert len(row) == len(t["cols"])
    objs = t["objects"]
    assert [o["type"] for o in objs] == ["Dataset", "DatasetImageLink", "Image"]
    img = objs[2]
    names = [c["field"] for c in t["cols"][img["first_col"]:img["first_col"] + img["ncols"]]]
    assert row[img["first_col"] + names.index("name")] == "alice-rw"
    assert row[img["first_col"] + names.index("details.owner")] == str(ALICE)


def test_hql_units_and_maps(pg):
    out, _ = run_hql(pg, "select p.physicalSizeX.value, p.physicalSizeX.unit, cast(p.physicalSizeX.unit as text) "
                         "from Pixels p join p.image i where i.name = 'bob-rw'", uid=BOB)
    assert out == [["0.25", "MICROMETER", "µm"]]
    out, _ = run_hql(pg, "select pi.exposureTime from PlaneInfo pi join pi.pixels p join p.image i "
                         "where i.name = 'bob-rw'", uid=BOB)
    assert out == [["1.2", "s"]]
    out, _ = run_hql(pg, "select nv.value from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'",
                     uid=ALICE)
    assert out == [["8848"]]
    out, _ = run_hql(pg, "select nv.value from MapAnnotation ann join ann.mapValue as nv where nv.name = 'altitude'",
                     uid=BOB)
    assert out == []


def test_hql_tags_counts_and_class(pg):
    out, t = run_hql(pg, "select i.name from Image i join i.annotationLinks l join l.child a "
                         "where a.class = TagAnnotation and a.textValue = :v", {"v": "tag-ro"}, uid=BOB)
    assert out == [["alice-ro"]]
    out, t = run_hql(pg, "select i from Image i left outer join fetch i.annotationLinksCountPerOwner "
                         "where i.name = 'alice-ro'", uid=BOB)
    assert json.loads(out[0][-1]) == {str(ALICE): 1}
    out, _ = run_hql(pg, "select i.name from Image i where i.details.owner.omeName = :u and i.details.group.name = :g",
                     {"u": "alice", "g": "rw"}, uid=BOB)
    assert out == [["alice-rw"]]


def test_hql_string_parameters_cannot_inject(pg):
    evil = "x' OR '1'='1"
    out, t = run_hql(pg, "select i.name from Image i where i.name = :n", {"n": evil}, uid=0, admin=True)
    assert out == []
    out, t = run_hql(pg, "select i.name from Image i where i.name = 'bob-rw'' OR ''1''=''1'", uid=0, admin=True)
    assert out == []
    assert "OR '1'" not in t["sql"]


def test_hql_permissions_columns(pg):
    out, t = run_hql(pg, "select i from Image i where i.name = :n", {"n": "alice-ra"}, perms=True, uid=BOB)
    cols = t["cols"]
    k = [c["role"] for c in cols].index("permissions")
    p = json.loads(out[0][k])
    assert p["perm"] == "rwra--" and p["canAnnotate"] and not p["canEdit"]
    out, t = run_hql(pg, "select i from Image i where i.name = :n", {"n": "bob-ra"}, perms=True, uid=BOB)
    p = json.loads(out[0][k])
    assert p["canEdit"] and p["canDelete"] and not p["canChown"]


def test_hql_new_map(pg):
    out, t = run_hql(pg, "select new map(i.id as id, i.name as name, i.details.owner.id as ownerId, count(p) as n) "
                         "from Image i left join i.pixels p where i.name like :n group by i.id order by i.name",
                     {"n": "bob-r%"}, uid=BOB)
    assert t["items"][0]["kind"] == "map" and t["items"][0]["keys"] == ["id", "name", "ownerId", "n"]
    assert [r[1:] for r in out] == [["bob-ra", str(BOB), "1"], ["bob-ro", str(BOB), "1"], ["bob-rw", str(BOB), "1"]]


def test_hql_size_and_empty(pg):
    out, _ = run_hql(pg, "select d.name, size(d.imageLinks) from Dataset d where d.imageLinks is not empty "
                         "and d.name like 'ds-bob-%' order by d.name", uid=BOB)
    assert out == [["ds-bob-priv", "1"], ["ds-bob-ra", "1"], ["ds-bob-ro", "1"], ["ds-bob-rw", "1"]]
    out, _ = run_hql(pg, "select count(*) from Image i where i.annotationLinks is empty", uid=BOB)
    assert out == [["6"]]    # 7 visible, alice-ro has a tag


# ------------------------------------------------------------------------------------------ generator

def _gen_copy(tmp_path, edit=None):
    src = os.path.join(REPO, "model")
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    if edit:
        p = dst / "omero.model"
        p.write_text(edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    out = tmp_path / "gen"
    r = subprocess.run(["/usr/bin/python3", str(dst / "gen.py"), str(out)], capture_output=True, text=True)
    return r, out


def test_generator_is_deterministic(tmp_path):
    r, out = _gen_copy(tmp_path)
    assert r.returncode == 0, r.stderr
    for f in ("share/schema.sql", "omr_model_gen.h", "share/model.json"):
        built = os.path.join(BUILD, "gen", f)
        if os.path.exists(built):
            a = (out / f).read_text(encoding="utf-8")
            b = open(built, encoding="utf-8").read()
            assert a == b, f
    m = json.loads((out / "share" / "model.json").read_text(encoding="utf-8"))
    assert m["types"]["Image"]["fields"]["datasetLinks"] == {
        "kind": "collection", "nullable": False, "target": "DatasetImageLink", "inverse": "child", "table": "image"}
    assert m["types"]["TagAnnotation"]["table"] == "annotation"


def test_generator_reports_model_errors(tmp_path):
    r, out = _gen_copy(tmp_path, lambda s: s.replace("  fileset                    Fileset?",
                                                     "  fileset                    Filesett?", 1))
    assert r.returncode == 1
    assert "unknown type Filesett" in r.stderr and "line " in r.stderr
    assert not (out / "share" / "schema.sql").exists()
    r, _ = _gen_copy(tmp_path / "b", lambda s: s + "\ntype Image owned\n")
    assert r.returncode == 1 and "defined twice" in r.stderr


def test_joined_subclass_rows(pg):
    pg.psql("""SET omero.admin = 'true';
INSERT INTO instrument (id, permissions, creation_id, update_id, owner_id, group_id) VALUES (900, -120, 0, 0, 10, 11);
INSERT INTO lightsource (id, discriminator, permissions, creation_id, update_id, owner_id, group_id, instrument,
                         manufacturer) VALUES (901, 'Laser', -120, 0, 0, 10, 11, 900, 'Coherent'),
                                              (902, 'Arc', -120, 0, 0, 10, 10, 900, 'Osram');
INSERT INTO laser (lightsource_id, type, lasermedium, wavelength, wavelengthunit)
  SELECT 901, (SELECT id FROM lasertype WHERE value = 'Gas'), (SELECT id FROM lasermedium WHERE value = 'Ar'),
         488, 'nm';
INSERT INTO arc (lightsource_id, type) SELECT 902, id FROM arctype WHERE value = 'Xe';
""")
    out, t = run_hql(pg, "select l.manufacturer, l.wavelength.value, l.type.value from Laser l", uid=BOB)
    assert out == [["Coherent", "488", "Gas"]]
    out, t = run_hql(pg, "select ls from LightSource ls order by ls.id", uid=ALICE)
    assert [r[1] for r in out] == ["Laser", "Arc"]
    out, t = run_hql(pg, "select ls from LightSource ls order by ls.id", uid=BOB)   # the arc is in alice's private group
    assert [r[1] for r in out] == ["Laser"]
    # subclass rows are filtered with their root row
    assert as_caller(pg, "SELECT count(*) FROM arc;", uid=BOB) == [["0"]]
    assert as_caller(pg, "SELECT count(*) FROM arc;", uid=ALICE) == [["1"]]


def test_hql_case(pg):
    out, _ = run_hql(pg, "select i.name, case when i.name like '%-priv' then 'private' else 'shared' end "
                         "from Image i where i.details.owner.id = :u order by case when i.name like '%-priv' "
                         "then 0 else 1 end, i.name", {"u": BOB}, uid=BOB)
    assert out == [["bob-priv", "private"], ["bob-ra", "shared"], ["bob-ro", "shared"], ["bob-rw", "shared"]]


def test_list_parameter_array_literal(pg):
    values = ["bob-rw", "a,b", 'say "hi"', "back\\slash", "{x}", "x' OR '1'='1"]
    arr = subprocess.run([HQLTOOL, "--array"] + values, capture_output=True, text=True, check=True).stdout.strip()
    out = rows(pg.psql("SELECT unnest(%s::text[]);" % lit(arr)).stdout)
    assert [r[0] for r in out] == values
    t = translate("select i.name from Image i where i.name in (:names)")
    assert t["params"] == [{"name": "names", "list": True}]
    sql = "PREPARE q AS %s;\nEXECUTE q(%s);" % (t["sql"], lit(arr))
    assert as_caller(pg, sql, uid=BOB) == [["bob-rw"]]
