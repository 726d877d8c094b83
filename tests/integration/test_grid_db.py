"""The grid with a site PostgreSQL (omero.db.* configured): the schema from `omero db script`,
never started or stopped by the grid; and the default descriptor's servers answering through the
router once the grid is up."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests

PGBIN = "/usr/lib/postgresql/15/bin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def site_pg():
    """A PostgreSQL cluster of the 'site' (not the grid's), run as the postgres user."""
    root = tempfile.mkdtemp(prefix="omero-sitepg-", dir="/tmp")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    os.makedirs(data)
    shutil.chown(data, "postgres", "postgres")
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    asu = ["runuser", "-u", "postgres", "--"]
    subprocess.run(asu + [PGBIN + "/initdb", "-D", data, "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256"], check=True, capture_output=True)
    subprocess.run(asu + [PGBIN + "/pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                          "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, root), "start"],
                   check=True, capture_output=True)
    psql = asu + ["psql", "-X", "-q", "-h", root, "-p", str(port), "-U", "postgres"]
    subprocess.run(psql + ["-c", "CREATE ROLE site_user LOGIN PASSWORD 'sitepw'"], check=True, capture_output=True)
    subprocess.run(psql + ["-c", "CREATE DATABASE site_omero OWNER site_user"], check=True, capture_output=True)
    info = {"port": port, "root": root, "psql": psql}
    yield info
    subprocess.run(asu + [PGBIN + "/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def postmaster_pid(site):
    with open(os.path.join(site["root"], "data", "postmaster.pid")) as f:
        return int(f.readline())


def test_site_database_from_db_script(grid, site_pg):
    g = grid
    # The sysadmin's way: omero db script, loaded with psql as the database owner.
    script = os.path.join(g.root, "db.sql")
    r = g.omero("db", "script", "--password", "rootpw", "-f", script)
    assert "Using OMERO5.4 for version" in r.stdout and "Saving to" in r.stdout
    out = subprocess.run(site_pg["psql"][:-2] + ["-U", "site_user", "-d", "site_omero", "-v", "ON_ERROR_STOP=1",
                                                 "-f", "-"], input=open(script).read(), capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    for k, v in [("omero.db.host", "127.0.0.1"), ("omero.db.port", str(site_pg["port"])),
                 ("omero.db.name", "site_omero"), ("omero.db.user", "site_user"), ("omero.db.pass", "sitepw")]:
        g.omero("config", "set", k, v)
    pm = postmaster_pid(site_pg)
    g.omero("admin", "start")
    assert not os.path.exists(os.path.join(g.dir, "var", "db"))
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
    base = "https://localhost:%d" % g.port("ssl")
    v = requests.post(base + "/rpc/v1/IConfig/getVersion", json={}, verify=ca, timeout=10)
    assert v.status_code == 200 and v.json()["version"].startswith("5.6")
    r = g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", "rootpw")
    assert "Created session for root@localhost" in r.stdout + r.stderr
    g.omero("admin", "stop")
    # The site's server is never stopped by the grid.
    assert postmaster_pid(site_pg) == pm
    os.kill(pm, 0)


def test_db_password_statement(grid):
    r = grid.omero("db", "password", "secret")
    assert r.stdout.startswith("UPDATE password SET hash = '$pbkdf2-sha256$")
    assert "secret" not in r.stdout
    assert r.stdout.rstrip().endswith("WHERE experimenter_id = 0;")
    r = grid.omero("db", "password", check=False)
    assert r.returncode != 0 and "--password" in r.stderr


def test_default_grid_answers_through_router(grid):
    g = grid
    t0 = time.time()
    g.omero("admin", "start")
    assert g.omero("admin", "status").returncode == 0
    ids = g.omero("admin", "ice", "server", "list").stdout.split()
    assert ids == ["OMERO.Glacier2", "Blitz-0", "Tables-0"]
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
    r = requests.get("https://localhost:%d/api/" % g.port("ssl"), verify=ca, timeout=10)
    assert r.status_code == 200 and r.json()["data"][0]["version"] == "0"
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    assert oct(os.stat(os.path.join(g.dir, "var", "master", "root_password")).st_mode & 0o777) == "0o600"
    r = g.omero("login", "-s", "localhost", "-p", str(g.port("ssl")), "-u", "root", "-w", pw)
    assert "Current group: system" in r.stdout + r.stderr
    # The generated password appears in no log.
    logdir = os.path.join(g.dir, "var", "log")
    for name in os.listdir(logdir):
        assert pw not in open(os.path.join(logdir, name), errors="replace").read(), name
    # Servers accept only holders of the grid's keys: nobody else can send a forged caller context.
    import json
    lk = json.loads(g.gridcall("registry", "Registry.lookup", '{"service":"IAdmin"}').stdout)["servers"][0]
    assert lk["curve"] is True
    forged = '{"userId":0,"userName":"root","groupId":0,"groupIds":[0,1],"admin":true}'
    ok = g.gridcall("--ctx", forged, "--timeout", "2000", "endpoint", lk["endpoint"], "IConfig.getVersion")
    assert ok.returncode == 0 and "5.6" in ok.stdout
    r = subprocess.run([os.path.join(os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "build")), "bin", "omero-gridcall"), "--ctx", forged,
        "--timeout", "1500", "endpoint", lk["endpoint"], "IAdmin.lookupExperimenters", "{}"],
        env=dict(g.env, OMERO_GRIDCALL_NOKEYS="1"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r.stdout     # no answer without the keys
    # A warm restart is quick (figure printed by bench/grid_bench.sh; here only that it works).
    g.omero("admin", "restart")
    assert g.omero("admin", "status").returncode == 0
    assert time.time() - t0 < 300
