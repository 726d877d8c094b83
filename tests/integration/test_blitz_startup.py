"""omero-blitz start-up: waiting for the database, refusing a schema of another version, and
root's password from omero.db.root_pass (never a fixed default)."""
import os
import subprocess
import time

import pytest

from test_blitz_support import Blitz, PgCluster, cleanup_all, failed, free_port, login, ok


@pytest.fixture
def cluster():
    c = PgCluster()
    yield c
    c.stop()


def test_root_password_from_configuration(cluster):
    b = Blitz(cluster, config={"omero.db.root_pass": "configured-Root-9"})
    try:
        b.start()
        assert not os.path.exists(os.path.join(b.dir, "var", "master", "root_password"))
        ok(login(b, "root", "configured-Root-9"))
        failed(login(b, "root", "omero"), "PermissionDeniedException")
        assert "configured-Root-9" not in b.log() and "omero.db.root_pass" in b.log()
        # A restart keeps the stored password (omero.db.root_pass only fills an unset one).
        b.stop()
        with open(os.path.join(b.dir, "etc", "grid", "config.yaml"), "a") as f:
            f.write('omero.db.root_pass: "another-one"\n')
        b.start()
        ok(login(b, "root", "configured-Root-9"))
    finally:
        b.cleanup()


def test_refuses_other_schema_version(cluster):
    cluster.sql("UPDATE dbpatch SET currentversion = 'OMERO5.3'")
    b = Blitz(cluster)
    try:
        b.start(wait=False)
        assert b.proc.wait(timeout=60) != 0
        assert "OMERO5.3__0" in b.log() and "OMERO5.4__0" in b.log() and "upgrade" in b.log()
    finally:
        b.cleanup()
        cluster.sql("UPDATE dbpatch SET currentversion = 'OMERO5.4'")


def test_waits_for_database_then_gives_up_clearly(cluster):
    port = free_port()
    b = Blitz(cluster, config={"omero.db.port": str(port), "omero.db.connect_wait": "2500"})
    try:
        t0 = time.time()
        b.start(wait=False)
        assert b.proc.wait(timeout=60) != 0
        assert time.time() - t0 >= 2.0
        log = b.log()
        assert "retrying" in log and "cannot connect to the database" in log
    finally:
        b.cleanup()


def test_waits_for_database_that_comes_up(cluster):
    """Blitz started before PostgreSQL accepts connections serves once it does."""
    subprocess.run(cluster.as_pg + [os.path.join(cluster.bin, "pg_ctl"), "-D", cluster.data, "-m", "fast", "-w",
                                    "stop"], check=True, capture_output=True)
    b = Blitz(cluster)
    try:
        b.start(wait=False)
        time.sleep(1.5)
        assert b.proc.poll() is None
        subprocess.run(cluster.as_pg + [os.path.join(cluster.bin, "pg_ctl"), "-D", cluster.data, "-w", "-l",
                                        os.path.join(cluster.dir, "pg.log"), "-o",
                                        "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                                        % (cluster.port, cluster.sock), "start"], check=True, capture_output=True)
        b.wait_ready()
        assert "retrying" in b.log() and "connected to the database after" in b.log()
    finally:
        b.cleanup()


def test_waits_for_schema_to_be_loaded(cluster):
    from test_blitz_support import DB_PASS, SCHEMA
    cluster.psql_admin("CREATE DATABASE late OWNER omero ENCODING 'UTF8' TEMPLATE template0")
    cluster.psql_admin("CREATE DATABASE never OWNER omero ENCODING 'UTF8' TEMPLATE template0")
    b = Blitz(cluster, config={"omero.db.name": "late"})
    nb = Blitz(cluster, "Blitz-1", config={"omero.db.name": "never", "omero.db.connect_wait": "2000"})
    try:
        b.start(wait=False)
        nb.start(wait=False)
        time.sleep(1.0)
        assert b.proc.poll() is None and "no OMERO schema yet" in b.log()
        subprocess.run([os.path.join(cluster.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(cluster.port), "-U", "omero", "-d", "late", "-f", SCHEMA],
                       env=dict(os.environ, PGPASSWORD=DB_PASS), check=True, capture_output=True)
        b.wait_ready()
        assert nb.proc.wait(timeout=60) != 0
        assert "load share/omero/schema.sql" in nb.log()
    finally:
        cleanup_all((b, nb), None)


def test_ignore_case_user_names(cluster):
    b = Blitz(cluster, config={"omero.security.ignore_case": "true"})
    try:
        b.start()
        from test_blitz_support import root_password
        root = ok(login(b, "ROOT", root_password(b)))["session"]
        ok(b.call("IAdmin.createUser", {"experimenter": {"UserName": "MixedCase", "FirstName": "M", "LastName": "C"},
                                        "group": "user", "password": "mc-pw"}, session=root))
        assert cluster.sql("SELECT omename FROM experimenter WHERE omename ILIKE 'mixedcase'") == [["mixedcase"]]
        r = ok(login(b, "MIXEDcase", "mc-pw"))
        assert r["eventContext"]["userName"] == "mixedcase"
        assert ok(b.call("IAdmin.lookupExperimenter", {"name": "MixedCASE"}, session=root))["UserName"] == "mixedcase"
    finally:
        b.cleanup()


def test_failed_login_flood_does_not_stall_the_server(cluster):
    """OMERO delays failed logins; at most half of the workers wait at a time, and while they do,
    further attempts on the flooded name are refused without testing the password."""
    from concurrent.futures import ThreadPoolExecutor
    from test_blitz_support import root_password
    b = Blitz(cluster, config={"omero.threads.min_threads": "4",
                               "omero.security.login_failure_throttle_count": "1",
                               "omero.security.login_failure_throttle_time": "4000"})
    try:
        b.start()
        root = ok(login(b, "root", root_password(b)))["session"]
        for name in ("victim", "other"):
            ok(b.call("IAdmin.createUser", {"experimenter": {"UserName": name, "FirstName": "V", "LastName": "T"},
                                            "group": "user", "password": name + "-pw"}, session=root))
        failed(login(b, "victim", "guess-0"), "PermissionDeniedException")

        def attempt(i):
            t0 = time.time()
            r = login(b, "victim", "guess-%d" % i)
            return r, time.time() - t0

        with ThreadPoolExecutor(max_workers=8) as pool:
            flood = [pool.submit(attempt, i) for i in range(1, 9)]
            time.sleep(1.0)
            t0 = time.time()
            ok(login(b, "other", "other-pw"))
            ok(b.call("IConfig.getVersion"))
            served = time.time() - t0
            results = [f.result() for f in flood]
        assert served < 3.5, "other users waited %.1f s behind the throttle" % served
        for r, _ in results:
            failed(r, "PermissionDeniedException", 403)
        assert min(t for _, t in results) < 3.5 and max(t for _, t in results) >= 4.0
        assert "refused unchecked" in b.log()
        time.sleep(4.5)
        ok(login(b, "victim", "victim-pw"))
    finally:
        b.cleanup()
