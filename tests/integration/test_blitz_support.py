"""Support for the Blitz integration tests (no tests here): a private PostgreSQL cluster with the
generated schema loaded by a non-superuser role, omero-blitz processes started directly with the
environment omr_server expects, and `omero-rpc` (tests/tools/rpc_main.c) to call them over ZeroMQ.

PostgreSQL runs as the `postgres` OS user (initdb through `runuser`) in a temporary directory
(chmod 755), on a free port on 127.0.0.1 with password (scram) authentication, so Blitz's
omero.db.pass is exercised; the role `omero` owns the tables, so row-level security applies.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OMERO_BUILD", os.path.join(REPO, "build"))
SCHEMA = os.path.join(BUILD, "gen", "share", "schema.sql")
BLITZ = os.path.join(BUILD, "bin", "omero-blitz")
RPC = os.path.join(BUILD, "bin", "omero-rpc")
DB_PASS = "db-secret-7f3a"


def pg_bin():
    base = "/usr/lib/postgresql"
    if not os.path.isdir(base):
        return None
    for v in sorted(os.listdir(base), key=lambda s: int(s) if s.isdigit() else 0, reverse=True):
        b = os.path.join(base, v, "bin")
        if os.path.exists(os.path.join(b, "initdb")):
            return b
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgCluster:
    """A throw-away PostgreSQL cluster holding database `omero` owned by role `omero`."""

    def __init__(self):
        self.bin = pg_bin()
        if not self.bin:
            pytest.skip("PostgreSQL server binaries are not installed")
        if not os.path.exists(SCHEMA):
            pytest.fail("no generated schema at %s: run make" % SCHEMA)
        pg = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="omero-blitz-test-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "pgdata")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        os.chown(self.sock, pg.pw_uid, pg.pw_gid)
        os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        self.port = free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False
        subprocess.run(self.as_pg + [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "-E",
                                     "UTF8", "--locale=C.UTF-8", "--auth-local=trust",
                                     "--auth-host=scram-sha-256"], check=True, capture_output=True)
        subprocess.run(self.as_pg + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-l",
                                     os.path.join(self.dir, "pg.log"), "-o",
                                     "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off"
                                     % (self.port, self.sock), "start"], check=True, capture_output=True)
        self.started = True
        self.psql_admin("CREATE ROLE omero LOGIN PASSWORD '%s'" % DB_PASS)
        self.psql_admin("CREATE DATABASE omero OWNER omero ENCODING 'UTF8' TEMPLATE template0")
        r = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "omero", "-d", "omero", "-f", SCHEMA],
                           env=dict(os.environ, PGPASSWORD=DB_PASS), capture_output=True, text=True)
        if r.returncode != 0:
            self.stop()
            pytest.fail("loading schema.sql failed: %s" % r.stderr[-2000:])

    def psql_admin(self, sql, db="postgres"):
        r = subprocess.run(self.as_pg + [os.path.join(self.bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                                         "-h", self.sock, "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (sql, r.stderr))
        return r.stdout

    def sql(self, sql):
        """Run SQL as the superuser on database omero (sees every row) and return rows of text."""
        out = self.psql_admin(sql, db="omero")
        return [line.split("|") for line in out.splitlines() if line]

    def stop(self):
        if self.started:
            subprocess.run(self.as_pg + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                         "stop"], capture_output=True)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def rpc(endpoint, op, body=None, session=None, ctx=None, repeat=1, timeout=60, raw=None):
    """Call op on endpoint through omero-rpc; returns {"status","error","body","raw","ms"}.
    raw (bytes) travels as raw frame 0."""
    cmd = [RPC, "-t", "30000"]
    rawfile = None
    if raw is not None:
        fd, rawfile = tempfile.mkstemp(prefix="omero-rpc-raw-")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        cmd += ["-r", rawfile]
    if session:
        cmd += ["-s", session]
    if ctx is not None:
        cmd += ["-c", json.dumps(ctx)]
    if repeat > 1:
        cmd += ["-n", str(repeat)]
    cmd += [endpoint, op, json.dumps(body if body is not None else {})]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        if rawfile:
            os.unlink(rawfile)
    if r.returncode != 0:
        raise AssertionError("omero-rpc %s failed (%d): %s" % (op, r.returncode, r.stderr))
    return json.loads(r.stdout)


class Blitz:
    """One omero-blitz process in its own OMERODIR, configured for the cluster."""

    def __init__(self, cluster, server_id="Blitz-0", config=None):
        self.cluster = cluster
        self.id = server_id
        self.dir = tempfile.mkdtemp(prefix="omero-blitz-dir-")
        os.makedirs(os.path.join(self.dir, "etc", "grid"))
        os.makedirs(os.path.join(self.dir, "var", "log"))
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        cfg = {
            "omero.db.host": "127.0.0.1", "omero.db.port": str(cluster.port), "omero.db.name": "omero",
            "omero.db.user": "omero", "omero.db.pass": DB_PASS, "omero.server.port": str(self.port),
            "omero.threads.min_threads": "3", "omero.security.login_failure_throttle_count": "1000",
            "omero.logging.level": "DEBUG",
        }
        cfg.update(config or {})
        with open(os.path.join(self.dir, "etc", "grid", "config.yaml"), "w") as f:
            for k, v in cfg.items():
                f.write("%s: %s\n" % (k, json.dumps(str(v))))
        self.logfile = os.path.join(self.dir, "var", "log", "%s.log" % server_id)
        self.proc = None

    def start(self, wait=True):
        env = dict(os.environ, OMERODIR=self.dir, OMERO_SERVER_ID=self.id,
                   OMERO_REGISTRY="tcp://127.0.0.1:%d" % free_port(), OMERO_LOGFILE=self.logfile,
                   OMERO_NODE="master")
        self.out = open(self.logfile, "ab")
        self.proc = subprocess.Popen([BLITZ], env=env, stdout=self.out, stderr=self.out)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("omero-blitz exited with %d:\n%s" % (self.proc.returncode, self.log()))
            if "serving on" in self.log():
                r = rpc(self.endpoint, "IConfig.getVersion")
                if r["status"] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("omero-blitz did not start:\n" + self.log())

    def log(self):
        try:
            return open(self.logfile, errors="replace").read()
        except OSError:
            return ""

    def call(self, op, body=None, session=None, **kw):
        return rpc(self.endpoint, op, body, session=session, **kw)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.out.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        # Under `make asan` the sanitizers report into the log: any report fails the test.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in log:
                fd, keep = tempfile.mkstemp(prefix="blitz-sanitizer-", suffix=".log")
                with os.fdopen(fd, "w") as f:
                    f.write(log)
                raise AssertionError("%s reported a sanitizer error (full log in %s):\n%s"
                                     % (self.id, keep, log[log.index(marker) - 200:][:6000]))


def cleanup_all(blitzes, cluster):
    """Stop every Blitz and the cluster, then report the first sanitizer error, if any."""
    first = None
    for b in blitzes:
        if b is None:
            continue
        try:
            b.cleanup()
        except AssertionError as e:
            first = first or e
    if cluster is not None:
        cluster.stop()
    if first:
        raise first


def root_password(blitz):
    with open(os.path.join(blitz.dir, "var", "master", "root_password")) as f:
        return f.read().strip()


def login(blitz, user, password, **extra):
    body = {"username": user, "password": password}
    body.update(extra)
    return blitz.call("ISession.createSession", body)


def ok(reply):
    assert reply["status"] == 200 and reply["error"] is None, reply
    return reply["body"]


def failed(reply, name=None, status=None):
    assert reply["error"] is not None, reply
    if name:
        assert reply["error"]["name"] == name, reply
    if status:
        assert reply["status"] == status, reply
    return reply["error"]
