#!/bin/sh
# Webgateway benchmark through a real grid (router + Blitz + PostgreSQL) over HTTPS, logged in
# through the JSON API as a browser is (sessionid cookie):
#   1. 256x256 JPEG tiles of a large pyramidal uint16 image (4096x4096, 5 levels) with wrk: tiles/s;
#   2. render_image of a 1024x1024 3-channel uint16 plane to JPEG: median time, next to the
#      engine alone (omero-rendertool bench: render+encode and the libjpeg-turbo floor, in process);
#   3. get_thumbnails with 50 ids in one call (after a first call that fills the cache): median time.
# Prints figures; asserts nothing. Environment: BUILD (build dir), SECONDS_PER_RUN (wrk, default 10),
# CONNS (wrk connections, default "8 32"), OMERO_DIST (an existing `make install` to use).
set -eu
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
REPO=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "webgateway_bench: wrk is not installed (apt-get install wrk)"; exit 0; }
[ -x "$BUILD/bin/omero-blitz" ] || { echo "webgateway_bench: build first ($BUILD/bin/omero-blitz missing)"; exit 0; }
OMERO_BUILD="$BUILD" SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}" CONNS="${CONNS:-8 32}" \
    exec /usr/bin/python3 - "$REPO" <<'EOF'
import os, statistics, subprocess, sys, tempfile, time, shutil
repo = sys.argv[1]
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
import numpy as np
import requests
import tifffile
from conftest import BUILD, Grid, take_prefix

secs = int(os.environ["SECONDS_PER_RUN"])
conns = [int(c) for c in os.environ["CONNS"].split()]
root = tempfile.mkdtemp(prefix="wg-bench-", dir="/tmp")
os.chmod(root, 0o755)
dist = os.environ.get("OMERO_DIST") or os.path.join(root, "dist")
if not os.environ.get("OMERO_DIST"):
    subprocess.run(["make", "-s", "install", "PREFIX=" + dist, "BUILD=" + BUILD], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)
prefix, lock = take_prefix()
g = Grid(dist, prefix, lock)
try:
    g.omero("admin", "start", timeout=300)
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", pw)

    def imp(path):
        r = g.omero("import", path, timeout=600)
        return [int(l.split(":")[1]) for l in r.stdout.split() if l.startswith("Image:")]

    data_dir = os.path.join(root, "in")
    os.makedirs(data_dir)
    # 1. a 4096x4096 uint16 pyramid, 256x256 deflate tiles, 5 levels
    n = 4096
    yy, xx = np.mgrid[0:n, 0:n]
    base = (((np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 16 + 40).astype(np.uint16)) * 400
    del yy, xx
    levels = [base[::1 << k, ::1 << k] for k in range(5)]
    pyr = os.path.join(data_dir, "pyramid.ome.tiff")
    opts = dict(tile=(256, 256), compression="zlib", photometric="minisblack")
    with tifffile.TiffWriter(pyr, ome=True, bigtiff=True) as tw:
        tw.write(levels[0], subifds=len(levels) - 1, metadata={"axes": "YX"}, **opts)
        for lv in levels[1:]:
            tw.write(lv, subfiletype=1, metadata=None, **opts)
    pyr_id = imp(pyr)[0]
    # 2. a 1024x1024 3-channel uint16 plane
    rng = np.random.default_rng(3)
    p3 = os.path.join(data_dir, "three.ome.tiff")
    # smooth structures plus noise, as microscopy planes are (random noise alone makes JPEG huge)
    yy, xx = np.mgrid[0:1024, 0:1024]
    three = np.stack([(np.sin(xx / (19.0 + 7 * k)) * np.cos(yy / (23.0 + 5 * k)) * 1500 + 2000
                       + rng.normal(0, 60, (1024, 1024))).clip(0, 4095).astype(np.uint16) for k in range(3)])
    tifffile.imwrite(p3, three, ome=True, metadata={"axes": "CYX"})
    three_id = imp(p3)[0]
    # 3. 50 small images for thumbnails
    tdir = os.path.join(data_dir, "thumbs")
    os.makedirs(tdir)
    for i in range(50):
        tifffile.imwrite(os.path.join(tdir, "t%02d.tif" % i), rng.integers(0, 255, size=(256, 256), dtype=np.uint8))
    thumb_ids = imp(tdir)

    base_url = "https://localhost:%d" % g.port("ssl")
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
    s = requests.Session()
    tok = s.get(base_url + "/api/v0/token/", verify=ca).json()["data"]
    r = s.post(base_url + "/api/v0/login/", data={"username": "root", "password": pw, "server": 1},
               headers={"X-CSRFToken": tok}, verify=ca)
    assert r.status_code == 200, r.text
    sid = s.cookies.get("sessionid")

    # tiles with wrk: every 256x256 tile of levels 0..2, cycled
    paths = []
    for lv in range(3):
        w = n >> lv
        for ty in range(w // 256):
            for tx in range(w // 256):
                paths.append("/webgateway/render_image_region/%d/0/0/?tile=%d,%d,%d,256,256" % (pyr_id, lv, tx, ty))
    r = s.get(base_url + paths[0], verify=ca)
    print("tile check: HTTP %d, %s, %d bytes" % (r.status_code, r.headers.get("Content-Type"), len(r.content)))
    lua = os.path.join(root, "tiles.lua")
    with open(lua, "w") as f:
        f.write('wrk.headers["Cookie"] = "sessionid=%s"\nlocal paths = {\n' % sid)
        for p in paths:
            f.write('  "%s",\n' % p)
        f.write('}\nlocal i = 0\nrequest = function()\n  i = i + 1\n'
                '  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
                'done = function(summary, latency, requests)\n'
                '  io.write(string.format("errors: status %d, connect %d, read %d, timeout %d\\n",\n'
                '    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.timeout))\nend\n')
    # CPU time of the grid's router and Blitz per request: steadier than tiles/s on a machine
    # shared with other work (the database's time is not included).
    def grid_cpu():
        ticks = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")[0].decode()
                if not cmd.startswith(g.dir) or not (cmd.endswith("omero-router") or cmd.endswith("omero-blitz")):
                    continue
                f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
                name = os.path.basename(cmd)
                ticks[name] = ticks.get(name, 0) + int(f[11]) + int(f[12])
            except (OSError, IndexError, ValueError):
                pass
        return ticks
    hz = os.sysconf("SC_CLK_TCK")
    for c in conns:
        before = grid_cpu()
        out = subprocess.run(["wrk", "-t2", "-c%d" % c, "-d%ds" % secs, "--latency", "-s", lua, base_url],
                             capture_output=True, text=True).stdout
        after = grid_cpu()
        rps = [l for l in out.splitlines() if "Requests/sec" in l or "errors" in l or "Non-2xx" in l or "50%" in l
               or "99%" in l]
        nreq = [int(l.split()[0]) for l in out.splitlines() if " requests in " in l]
        cpu = ""
        if nreq and nreq[0]:
            cpu = "; CPU per tile: " + ", ".join("%s %.2f ms" % (k, (after.get(k, 0) - before.get(k, 0)) * 1000.0 / hz
                                                               / nreq[0]) for k in sorted(after))
        print("tiles 256x256 JPEG (%d distinct, levels 0-2), %d connections: %s%s"
              % (len(paths), c, "; ".join(x.strip() for x in rps), cpu))

    # render of the 1024x1024 3-channel plane
    url = base_url + "/webgateway/render_image/%d/0/0/?c=1|0:4095$FF0000,2|0:4095$00FF00,3|0:4095$0000FF&q=0.9" % three_id
    times = []
    for i in range(21):
        t0 = time.perf_counter()
        r = s.get(url, verify=ca)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    print("render_image 1024x1024 3-channel uint16 -> JPEG through the router: median %.1f ms (min %.1f, %d bytes)"
          % (statistics.median(times[1:]), min(times), len(r.content)))
    tool = os.path.join(BUILD, "bin", "omero-rendertool")
    if os.path.exists(tool):
        out = subprocess.run([tool, "bench", "--size", "1024", "--reps", "20"], capture_output=True, text=True)
        print("engine alone (omero-rendertool bench): " + " ".join(out.stdout.split()))

    # 50 thumbnails in one get_thumbnails call
    q = "&".join("id=%d" % i for i in thumb_ids)
    r = s.get(base_url + "/webgateway/get_thumbnails/?" + q, verify=ca)
    if r.status_code != 200:
        print("get_thumbnails: HTTP %d (%s)" % (r.status_code, r.text[:200]))
    else:
        times = []
        for i in range(21):
            t0 = time.perf_counter()
            r = s.get(base_url + "/webgateway/get_thumbnails/?" + q, verify=ca)
            times.append((time.perf_counter() - t0) * 1000)
        print("get_thumbnails with %d cached thumbnails: median %.1f ms (min %.1f), %d bytes"
              % (len(thumb_ids), statistics.median(times), min(times), len(r.content)))
finally:
    g.cleanup()
    shutil.rmtree(root, ignore_errors=True)
EOF
