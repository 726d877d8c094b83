#!/bin/sh
# JSON API listing benchmark through a real grid (router + Blitz + PostgreSQL) over HTTPS, logged
# in through the JSON API as a browser is (sessionid cookie). One dataset of 10,000 images with
# Pixels (rows written with SQL, as bench_query_update.py does) among 100 datasets; then
#   1. GET /api/v0/m/images/?dataset=D&childCount=true&limit=10000 with omero.web.api.max_limit
#      raised to 10000: all 10,000 images in one response (aim <= 200 ms);
#   2. the same with the default paging (limit 500 = max_limit): one page, and all 20 pages;
#   3. a deep page (offset 9500) and GET /api/v0/m/datasets/?childCount=true (100 datasets);
#   4. the floor: the listing's SQL statements (count, page of ids, objects) run in psql.
# Prints medians of 5 runs; asserts nothing. Environment: BUILD (build dir), JSONAPI_BENCH_IMAGES
# (default 10000), OMERO_DIST (an existing `make install` to use).
set -eu
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$BUILD/bin/omero-blitz" ] || { echo "jsonapi_bench: build first ($BUILD/bin/omero-blitz missing)"; exit 0; }
OMERO_BUILD="$BUILD" N="${JSONAPI_BENCH_IMAGES:-10000}" exec /usr/bin/python3 - "$REPO" <<'EOF'
import os, re, shutil, statistics, subprocess, sys, tempfile, time
repo = sys.argv[1]
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
import requests
from conftest import BUILD, Grid, take_prefix
from qu_support import Api, make_group, make_user, ok

N = int(os.environ["N"])
root = tempfile.mkdtemp(prefix="jsonapi-bench-", dir="/tmp")
os.chmod(root, 0o755)
dist = os.environ.get("OMERO_DIST") or os.path.join(root, "dist")
if not os.environ.get("OMERO_DIST"):
    subprocess.run(["make", "-s", "install", "PREFIX=" + dist, "BUILD=" + BUILD], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)
prefix, lock = take_prefix()
g = Grid(dist, prefix, lock)


def db_props():
    props = {}
    for line in open(os.path.join(g.dir, "var", "master", "db.yaml")):
        m = re.match(r'\s*"?([\w.]+)"?\s*:\s*"?([^"]*)"?\s*$', line)
        if m:
            props[m.group(1)] = m.group(2)
    return props


def psql(script, timing=False):
    p = db_props()
    env = dict(os.environ, PGPASSWORD=p["omero.db.pass"])
    r = subprocess.run(["psql", "-X", "-q", "-h", p["omero.db.host"], "-p", p["omero.db.port"], "-U",
                        p["omero.db.user"], "-d", p["omero.db.name"], "-o", "/dev/null", "-v", "ON_ERROR_STOP=1"],
                       input=("\\timing on\n" if timing else "") + script, env=env, capture_output=True, text=True,
                       check=True)
    return [float(x) for x in re.findall(r"Time: ([\d.]+) ms", r.stdout + r.stderr)]


def median_time(fn, runs=5):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


try:
    g.omero("config", "set", "omero.web.api.max_limit", "10000")
    g.omero("admin", "start", timeout=300)
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    api = Api(g)
    rootsess = api.login("root", pw)
    gid = make_group(api, rootsess, "bench", "rwr---")
    uid = make_user(api, rootsess, "bencher", "bench", "bench-Pw-1")
    s = api.login("bencher", "bench-Pw-1")
    ds = ok(api.raw("IUpdate", "saveAndReturnObject", {"object": {"@type": "Dataset", "Name": "big"}}, s))["data"]["@id"]
    ok(api.raw("IUpdate", "saveArray", {"objects": [{"@type": "Dataset", "Name": "small-%02d" % i}
                                                    for i in range(99)]}, s))
    ev = ok(api.raw("IQuery", "projection", {"query": "select d.details.creationEvent.id from Dataset d where d.id = :id",
                                             "params": {"id": ds}}, s))["data"][0][0]
    psql("SELECT set_config('omero.admin', 'true', false);\n"
         "INSERT INTO image (id, permissions, owner_id, group_id, creation_id, update_id, name, series, acquisitiondate) "
         "SELECT nextval('seq_image'), -56, %(u)d, %(g)d, %(e)d, %(e)d, 'img-' || lpad(n::text, 5, '0'), 0, now() "
         "FROM generate_series(1, %(n)d) n;\n"
         "INSERT INTO pixels (id, permissions, owner_id, group_id, creation_id, update_id, image, dimensionorder, "
         "pixelstype, sha1, sizex, sizey, sizez, sizec, sizet, physicalsizex, physicalsizexunit, significantbits) "
         "SELECT nextval('seq_pixels'), -56, %(u)d, %(g)d, %(e)d, %(e)d, i.id, "
         "(SELECT id FROM dimensionorder WHERE value = 'XYZCT'), (SELECT id FROM pixelstype WHERE value = 'uint16'), "
         "'0000', 512, 512, 1, 3, 1, 0.5, 'µm', 16 FROM image i WHERE i.owner_id = %(u)d;\n"
         "INSERT INTO datasetimagelink (id, permissions, owner_id, group_id, creation_id, update_id, parent, child) "
         "SELECT nextval('seq_datasetimagelink'), -56, %(u)d, %(g)d, %(e)d, %(e)d, %(d)d, id FROM image "
         "WHERE owner_id = %(u)d;\nANALYZE;\n" % {"u": uid, "g": gid, "e": ev, "n": N, "d": ds})
    http = requests.Session()
    tok = http.get(api.base + "/api/v0/token/", verify=api.ca).json()["data"]
    r = http.post(api.base + "/api/v0/login/", data={"server": 1, "username": "bencher", "password": "bench-Pw-1"},
                  headers={"X-CSRFToken": tok}, verify=api.ca)
    assert r.status_code == 200, r.text
    size = [0]

    def get(path, expect=None):
        r = http.get(api.base + "/api/v0/m/" + path, verify=api.ca, timeout=300)
        assert r.status_code == 200, r.text[:300]
        size[0] = len(r.content)
        if expect is not None:
            n = len(r.json()["data"])
            assert n == expect, (path, n)

    one = "images/?dataset=%d&childCount=true&limit=%d" % (ds, N)
    get(one, N)
    t_all = median_time(lambda: get(one))
    all_size = size[0]
    page = "images/?dataset=%d&childCount=true" % ds
    t_page = median_time(lambda: get(page + "&limit=500"))
    t_deep = median_time(lambda: get(page + "&limit=500&offset=%d" % max(0, N - 500)))

    def all_pages():
        for off in range(0, N, 500):
            get(page + "&limit=500&offset=%d" % off)

    t_pages = median_time(all_pages, runs=3)
    t_ds = median_time(lambda: get("datasets/?childCount=true&limit=500", 100))
    ctx = ("BEGIN;\nSELECT set_config('omero.uid', '%d', true), set_config('omero.gids', '%d,1', true), "
           "set_config('omero.owned_gids', '', true), set_config('omero.admin', 'false', true), "
           "set_config('omero.group', '-1', true), set_config('omero.privileges', '', true);\n" % (uid, gid))
    floor_sql = ("SELECT count(*) FROM image i WHERE i.id IN (SELECT child FROM datasetimagelink WHERE parent = %(d)d);\n"
                 "SELECT i.id FROM image i WHERE i.id IN (SELECT child FROM datasetimagelink WHERE parent = %(d)d) "
                 "ORDER BY lower(i.name), i.id LIMIT %(n)d;\n"
                 "SELECT i.*, p.* FROM image i LEFT JOIN pixels p ON p.image = i.id WHERE i.id IN "
                 "(SELECT child FROM datasetimagelink WHERE parent = %(d)d) ORDER BY lower(i.name), i.id;\n"
                 % {"d": ds, "n": N})
    floors = []
    for _ in range(5):
        t = psql(ctx + floor_sql + "ROLLBACK;\n", timing=True)
        floors.append(sum(t[1:4]) / 1000.0)
    floor = statistics.median(floors)
    print("BENCH JSON API: %d images of one dataset with Pixels, childCount=true, through the router over HTTPS" % N)
    print("BENCH   all %d in one response (max_limit 10000): median %.0f ms, %.1f MB (aim <= 200 ms)"
          % (N, t_all * 1000, all_size / 1e6))
    print("BENCH   the same SQL statements in psql (count, page of ids, objects): %.0f ms; ratio %.1f"
          % (floor * 1000, t_all / floor))
    print("BENCH   one page of 500: median %.0f ms; the page at offset %d: %.0f ms; all %d pages of 500: %.0f ms"
          % (t_page * 1000, max(0, N - 500), t_deep * 1000, (N + 499) // 500, t_pages * 1000))
    print("BENCH   100 datasets with childCount (one of %d images): median %.0f ms" % (N, t_ds * 1000))
finally:
    g.cleanup()
    shutil.rmtree(root, ignore_errors=True)
EOF
