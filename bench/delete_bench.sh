#!/bin/sh
# delete_bench.sh: time Delete2 of a dataset of N images (default 1000 and 10000), each with two
# annotations (a comment and a long annotation), through a real grid; print the time, the peak
# resident memory of Blitz during the delete (VmHWM of /proc/<pid>/status, reset before each run
# through clear_refs) and the ratio to hand-written SQL deleting the same rows (links,
# annotations, images, dataset) in one transaction, the floor.
#
#   bench/delete_bench.sh [N ...]        (OMERO_BUILD=build dir, OMERO_DIST=existing installation)
#
# The images are cloned in SQL from one image saved through IUpdate (fast set-up); the delete goes
# through Command.submit over HTTPS like any client. Figures are printed, not asserted.
set -e
HERE=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 - "$HERE" "$@" <<'EOF'
import json, os, subprocess, sys, tempfile, time, shutil
import requests

repo = sys.argv[1]
sizes = [int(a) for a in sys.argv[2:]] or [1000, 10000]
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
from conftest import Grid, take_prefix, BUILD

inst_root = None
dist = os.environ.get("OMERO_DIST")
if not dist:
    inst_root = tempfile.mkdtemp(prefix="omero-inst-", dir="/tmp")
    os.chmod(inst_root, 0o755)
    dist = os.path.join(inst_root, "dist")
    subprocess.run(["make", "-s", "install", "PREFIX=" + dist, "BUILD=" + BUILD], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)
prefix, lock = take_prefix()
g = Grid(dist, prefix, lock)


def psql(sql, timed=False):
    db = {}
    for line in open(os.path.join(g.dir, "var", "master", "db.yaml")):
        k, _, v = line.partition(":")
        db[k.strip().strip('"')] = v.strip().strip('"')
    env = dict(os.environ, PGPASSWORD=db["omero.db.pass"])
    head = ("SELECT set_config('omero.admin', 'true', false), set_config('omero.group', '-1', false), "
            "set_config('omero.uid', '0', false);\n")
    t0 = time.time()
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", db["omero.db.host"], "-p",
                        db["omero.db.port"], "-U", db["omero.db.user"], db["omero.db.name"]],
                       input=head + sql, env=env, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode:
        raise RuntimeError(r.stderr)
    out = [l for l in r.stdout.splitlines() if l.strip() and "|" not in l]
    return (out, dt) if timed else out


CLONE = """
CREATE FUNCTION pg_temp.cols(t text, skip text[]) RETURNS text LANGUAGE sql AS $f$
  SELECT string_agg(quote_ident(column_name::text), ',' ORDER BY ordinal_position) FROM information_schema.columns
   WHERE table_schema = current_schema() AND table_name = t AND NOT (column_name::text = ANY (skip))
$f$;
CREATE FUNCTION pg_temp.clone(n int, d0 int8, i0 int8) RETURNS int8 LANGUAGE plpgsql AS $f$
DECLARE newd int8 := nextval('seq_dataset'); c text; l record;
BEGIN
  c := pg_temp.cols('dataset', '{id}');
  EXECUTE format('INSERT INTO dataset (id,%s) SELECT $1,%s FROM dataset WHERE id = $2', c, c) USING newd, d0;
  CREATE TEMP TABLE bi ON COMMIT DROP AS SELECT nextval('seq_image') AS id FROM generate_series(1, n);
  c := pg_temp.cols('image', '{id}');
  EXECUTE format('INSERT INTO image (id,%s) SELECT bi.id,%s FROM image t, bi WHERE t.id = $1', c, c) USING i0;
  c := pg_temp.cols('datasetimagelink', '{id,parent,child}');
  EXECUTE format('INSERT INTO datasetimagelink (id,parent,child,%s) SELECT nextval(''seq_datasetimagelink''), $1, bi.id,%s '
                 'FROM datasetimagelink t, bi WHERE t.child = $2', c, c) USING newd, i0;
  FOR l IN SELECT id, child FROM imageannotationlink WHERE parent = i0 LOOP
    CREATE TEMP TABLE ba ON COMMIT DROP AS SELECT bi.id AS img, nextval('seq_annotation') AS id FROM bi;
    c := pg_temp.cols('annotation', '{id}');
    EXECUTE format('INSERT INTO annotation (id,%s) SELECT ba.id,%s FROM annotation t, ba WHERE t.id = $1', c, c) USING l.child;
    c := pg_temp.cols('imageannotationlink', '{id,parent,child}');
    EXECUTE format('INSERT INTO imageannotationlink (id,parent,child,%s) SELECT nextval(''seq_imageannotationlink''), '
                   'ba.img, ba.id,%s FROM imageannotationlink t, ba WHERE t.id = $1', c, c) USING l.id;
    DROP TABLE ba;
  END LOOP;
  RETURN newd;
END $f$;
BEGIN;
SELECT pg_temp.clone(@N@, @D0@, @I0@);
COMMIT;
"""

FLOOR = """
BEGIN;
CREATE TEMP TABLE di ON COMMIT DROP AS SELECT child AS id FROM datasetimagelink WHERE parent = @D@;
CREATE TEMP TABLE da ON COMMIT DROP AS SELECT l.child AS id FROM imageannotationlink l JOIN di ON di.id = l.parent;
DELETE FROM imageannotationlink WHERE parent IN (SELECT id FROM di);
DELETE FROM annotation WHERE id IN (SELECT id FROM da);
DELETE FROM datasetimagelink WHERE parent = @D@;
DELETE FROM image WHERE id IN (SELECT id FROM di);
DELETE FROM dataset WHERE id = @D@;
COMMIT;
"""


def clone_sql(n, d0, i0):
    return CLONE.replace("@N@", str(n)).replace("@D0@", str(d0)).replace("@I0@", str(i0))


def blitz_pid():
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0")[0].decode()
            except OSError:
                continue
            if cmd == os.path.join(g.dir, "bin", "omero-blitz"):
                return int(d)
    raise RuntimeError("no Blitz process")


def status_kb(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


try:
    g.omero("admin", "start", timeout=300)
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    base = "https://localhost:%d/rpc/v1/" % g.port("ssl")
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")

    def session(user, password):
        r = requests.post(base + "ISession/createSession", json={"username": user, "password": password}, verify=ca)
        r.raise_for_status()
        return r.json()["session"]

    def call(s, svc, m, **a):
        r = requests.post(base + "%s/%s" % (svc, m), json=a, verify=ca, headers={"X-OMERO-Session": s}, timeout=3600)
        if r.status_code != 200:
            raise RuntimeError(r.text)
        return r.json()

    root = session("root", pw)
    call(root, "IAdmin", "createGroup", group={"Name": "bench"}, perms="rwra--")
    call(root, "IAdmin", "createUser", experimenter={"UserName": "bench", "FirstName": "B", "LastName": "B"},
         group="bench", password="bench-pw")
    s = session("bench", "bench-pw")
    d0 = call(s, "IUpdate", "saveAndReturnObject", object={
        "@type": "Dataset", "Name": "template", "ImageLinks": [{"@type": "DatasetImageLink", "child": {
            "@type": "Image", "Name": "img", "AnnotationLinks": [
                {"@type": "ImageAnnotationLink", "child": {"@type": "CommentAnnotation", "TextValue": "a comment"}},
                {"@type": "ImageAnnotationLink", "child": {"@type": "LongAnnotation", "LongValue": 42}}]}}]})["data"]
    i0 = d0["ImageLinks"][0]["Child"]["@id"]
    d0 = d0["@id"]
    pid = blitz_pid()
    print("%8s %10s %12s %14s %10s %8s" % ("images", "rows", "Delete2 s", "Blitz peak MB", "SQL s", "ratio"))
    for n in sizes:
        d = int(psql(clone_sql (n, d0, i0))[-1])
        open("/proc/%d/clear_refs" % pid, "w").write("5")     # reset VmHWM to the current RSS
        rss0 = status_kb(pid, "VmRSS")
        t0 = time.time()
        h = call(s, "Command", "submit", request={"@type": "omero.cmd.Delete2", "targetObjects": {"Dataset": [d]}})["handle"]
        while call(s, "Command", "status", handle=h)["state"] == "RUNNING":
            time.sleep(0.02)
        resp = call(s, "Command", "response", handle=h)
        t_api = time.time() - t0
        peak = status_kb(pid, "VmHWM")
        if resp.get("@type") != "omero.cmd.Delete2Response":
            raise RuntimeError(json.dumps(resp)[:500])
        nrows = sum(len(v) for v in resp["deletedObjects"].values())
        d2 = int(psql(clone_sql (n, d0, i0))[-1])
        _, t_sql = psql(FLOOR.replace("@D@", str(d2)), timed=True)
        print("%8d %10d %12.2f %14.1f %10.2f %8.1f" % (n, nrows, t_api, peak / 1024.0, t_sql, t_api / t_sql))
        print("         (Blitz resident before %.1f MB, peak above it %.1f MB)" % (rss0 / 1024.0, (peak - rss0) / 1024.0))
finally:
    g.cleanup()
    if inst_root:
        shutil.rmtree(inst_root, ignore_errors=True)
EOF
