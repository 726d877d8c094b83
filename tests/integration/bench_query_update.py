"""Benchmark (figures printed, nothing asserted): IQuery.findAllByQuery of 10,000 images of one
dataset with owner and group fetched, through the router, against the floor of the same SQL
(as the HQL translator writes it) run directly with psql under the same caller context; and
the HQL translation rate. Run: bench/query_bench.sh (or pytest -s on this file)."""
import json
import os
import re
import statistics
import subprocess
import time

from qu_support import make_group, make_user, ok, start_grid

N = int(os.environ.get("QUERY_BENCH_IMAGES", "10000"))
HQL = ("select i from Image i join fetch i.details.owner join fetch i.details.group "
       "join i.datasetLinks l where l.parent.id = :did")


def db_props(g):
    props = {}
    for line in open(os.path.join(g.dir, "var", "master", "db.yaml")):
        m = re.match(r'\s*"?([\w.]+)"?\s*:\s*"?([^"]*)"?\s*$', line)
        if m:
            props[m.group(1)] = m.group(2)
    return props


def psql(g, sql, user_id, gids):
    p = db_props(g)
    env = dict(os.environ, PGPASSWORD=p["omero.db.pass"])
    script = ("\\timing on\nBEGIN;\nSELECT set_config('omero.uid', '%d', true), set_config('omero.gids', '%s', true), "
              "set_config('omero.owned_gids', '', true), set_config('omero.admin', 'false', true), "
              "set_config('omero.group', '-1', true), set_config('omero.privileges', '', true);\n%s;\nROLLBACK;\n"
              % (user_id, gids, sql))
    r = subprocess.run(["psql", "-X", "-q", "-h", p["omero.db.host"], "-p", p["omero.db.port"], "-U",
                        p["omero.db.user"], "-d", p["omero.db.name"], "-o", "/dev/null", "-v", "ON_ERROR_STOP=1"],
                       input=script, env=env, capture_output=True, text=True, check=True)
    times = [float(x) for x in re.findall(r"Time: ([\d.]+) ms", r.stdout + r.stderr)]
    return times[-2] / 1000.0     # the query (the last one is ROLLBACK)


def test_benchmark_find_all_by_query(installation):
    g, api, root, _ = start_grid(installation)
    try:
        gid = make_group(api, root, "bench", "rwr---")
        uid = make_user(api, root, "bencher", "bench", "bench-Pw-1")
        s = api.login("bencher", "bench-Pw-1")
        ds = ok(api.raw("IUpdate", "saveAndReturnObject", {"object": {"@type": "Dataset", "Name": "big"}}, s))["data"]
        ev = ok(api.raw("IQuery", "projection", {"query": "select d.details.creationEvent.id from Dataset d "
                                                  "where d.id = :id", "params": {"id": ds["@id"]}}, s))["data"][0][0]
        p = db_props(g)
        env = dict(os.environ, PGPASSWORD=p["omero.db.pass"])
        fill = ("SELECT set_config('omero.admin', 'true', false);\n"
                "INSERT INTO image (id, permissions, owner_id, group_id, creation_id, update_id, name, series) "
                "SELECT nextval('seq_image'), -56, %d, %d, %d, %d, 'img-' || n, 0 FROM generate_series(1, %d) n;\n"
                "INSERT INTO datasetimagelink (id, permissions, owner_id, group_id, creation_id, update_id, parent, child) "
                "SELECT nextval('seq_datasetimagelink'), -56, %d, %d, %d, %d, %d, id FROM image WHERE owner_id = %d;\n"
                "ANALYZE;\n" % (uid, gid, ev, ev, N, uid, gid, ev, ev, ds["@id"], uid))
        subprocess.run(["psql", "-X", "-q", "-h", p["omero.db.host"], "-p", p["omero.db.port"], "-U",
                        p["omero.db.user"], "-d", p["omero.db.name"], "-v", "ON_ERROR_STOP=1"], input=fill, env=env,
                       capture_output=True, text=True, check=True)
        api_times, wire_times, size = [], [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            r = api.http.post(api.base + "/rpc/v1/IQuery/findAllByQuery",
                              json={"query": HQL, "params": {"did": ds["@id"]}},
                              headers={"X-OMERO-Session": s}, verify=api.ca, timeout=120)
            body = r.content
            t1 = time.perf_counter()
            j = json.loads(body)
            api_times.append(time.perf_counter() - t0)
            wire_times.append(t1 - t0)
            size = len(body)
            assert r.status_code == 200 and len(j["data"]) == N, j if r.status_code != 200 else len(j["data"])
        tool = os.path.join(os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(__file__), "..", "..",
                                                                       "build")), "bin", "omero-hqltool")
        sql = json.loads(subprocess.run([tool, "--perms", HQL], capture_output=True, text=True,
                                        check=True).stdout)["sql"].replace("$1", str(ds["@id"]))
        floor = [psql(g, sql, uid, "%d,1" % gid) for _ in range(5)]
        a, f = statistics.median(api_times), statistics.median(floor)
        w = statistics.median(wire_times)
        print("\nBENCH IQuery.findAllByQuery, %d images with owner and group fetched, through the router: "
              "median %.3f s (%.3f s until the last byte of %.1f MB, the rest parsing JSON in Python); "
              "the same SQL in psql: %.3f s; ratio %.2f (%.2f to the last byte; aim <= 2)"
              % (N, a, w, size / 1e6, f, a / f, w / f))
        rate = json.loads(subprocess.run([tool, "--bench", "20000", HQL], capture_output=True, text=True,
                                         check=True).stdout)
        print("BENCH HQL translation of that query: %.0f/s (%.0f per CPU second; aim >= 50000/s)"
              % (rate["queries_per_second"], rate["queries_per_cpu_second"]))
    finally:
        g.cleanup()
