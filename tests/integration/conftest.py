"""Shared fixtures of the integration tests: a real installation and real grids.

Every grid lives in its own OMERODIR (a copy of one `make install` per test session) with its own
omero.ports.prefix, taken under a lock so that two test runs on one machine never collide, and is
stopped (with every process it started) when the test ends.
"""
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OMERO_BUILD", os.path.join(REPO, "build"))
if "OMERO_SAN" not in os.environ and BUILD.rstrip("/").endswith("-asan"):
    os.environ["OMERO_SAN"] = "1"
LOCKDIR = "/tmp/omero-test-locks"
# omero.ports.prefix is prepended to the port numbers as text (4064 -> 14064), so single digits
# are the prefixes that keep every port valid.
PREFIXES = ["1", "2", "3", "4", "5", "6"]
PORT_KEYS = {"registry": 4061, "tcp": 4063, "ssl": 4064, "db": 4060, "ws": 4065}


def _ports_free(prefix):
    for base in PORT_KEYS.values():
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(prefix + str(base))))
        except OSError:
            return False
        finally:
            s.close()
    return True


def take_prefix(timeout=600):
    """Lock a free port prefix; returns (prefix, lock file object)."""
    os.makedirs(LOCKDIR, exist_ok=True)
    os.chmod(LOCKDIR, 0o777)
    end = time.time() + timeout
    while time.time() < end:
        for p in PREFIXES:
            f = open(os.path.join(LOCKDIR, "prefix-%s.lock" % p), "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            if _ports_free(p):
                return p, f
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        time.sleep(0.5)
    raise RuntimeError("no free omero.ports.prefix within %d s" % timeout)


@pytest.fixture(scope="session")
def installation(tmp_path_factory):
    """One `make install` per session into a directory the database user can reach
    (OMERO_DIST names an existing installation to use instead)."""
    if os.environ.get("OMERO_DIST"):
        yield os.environ["OMERO_DIST"]
        return
    root = tempfile.mkdtemp(prefix="omero-inst-", dir="/tmp")
    os.chmod(root, 0o755)
    dist = os.path.join(root, "dist")
    subprocess.run(["make", "-s", "install", "PREFIX=" + dist, "BUILD=" + BUILD,
                    "SAN=" + os.environ.get("OMERO_SAN", "")], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    yield dist
    shutil.rmtree(root, ignore_errors=True)


def _pids_of(root):
    """Processes whose OMERODIR or command line lies under root (an installation or a test's dir)."""
    pids = []
    key = root.rstrip("/").encode() + b"/"
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        omerodir = [e[9:] + b"/" for e in env.split(b"\0") if e.startswith(b"OMERODIR=")]
        if (omerodir and omerodir[0].startswith(key)) or key in cmd:
            pids.append(int(d))
    return pids


class Grid:
    """One OMERODIR with its own port prefix; `omero` runs against it."""

    def __init__(self, installation, prefix, lock):
        self.root = tempfile.mkdtemp(prefix="omero-grid-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.dir = os.path.join(self.root, "OMERO.server")
        shutil.copytree(installation, self.dir, symlinks=True)
        self.prefix = prefix
        self._lock = lock
        self.bin = os.path.join(self.dir, "bin")
        self.env = dict(os.environ)
        self.env["OMERODIR"] = self.dir
        self.env["OMERO_SESSIONDIR"] = os.path.join(self.root, "sessions")
        self.env["HOME"] = self.root
        self.env.pop("OMERO_NODE", None)
        self.data = os.path.join(self.root, "data")
        self.omero("config", "set", "omero.ports.prefix", prefix)
        self.omero("config", "set", "omero.data.dir", self.data)
        self.omero("config", "set", "omero.master.host", "127.0.0.1")
        self.omero("config", "set", "omero.router.host", "127.0.0.1")
        self.omero("config", "set", "omero.test.server", os.path.join(BUILD, "bin", "omero-testserver"))

    def port(self, name):
        return int(self.prefix + str(PORT_KEYS[name]))

    def omero(self, *args, check=True, input=None, timeout=180, env=None):
        e = dict(self.env)
        if env:
            e.update(env)
        r = subprocess.run([os.path.join(self.bin, "omero")] + list(args), env=e, input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("omero %s failed (%d):\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def gridcall(self, *args, timeout=30):
        return subprocess.run([os.path.join(BUILD, "bin", "omero-gridcall")] + list(args), env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def use_descriptor(self, path):
        shutil.copy(path, os.path.join(self.dir, "etc", "grid", "default.yaml"))

    def log(self, name):
        p = os.path.join(self.dir, "var", "log", name)
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def pids(self):
        return _pids_of(self.dir)

    def cleanup(self):
        try:
            subprocess.run([os.path.join(self.bin, "omero"), "admin", "stop"], env=self.env,
                           capture_output=True, timeout=120)
        except Exception:
            pass
        for name in os.listdir(os.path.join(self.dir, "var")) if os.path.isdir(os.path.join(self.dir, "var")) else []:
            if name not in ("master", "db", "log"):
                subprocess.run([os.path.join(self.bin, "omero"), "node", name, "stop"], env=self.env,
                               capture_output=True, timeout=60)
        for pid in _pids_of(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pg = os.path.join(self.dir, "var", "db", "data", "postmaster.pid")
        if os.path.exists(pg):
            try:
                os.kill(int(open(pg).readline()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        deadline = time.time() + 10
        while _pids_of(self.root) and time.time() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


@pytest.fixture
def new_grid(installation):
    """Factory of fresh (not started) grids, each cleaned up at the end of the test."""
    grids = []

    def make():
        prefix, lock = take_prefix()
        g = Grid(installation, prefix, lock)
        grids.append(g)
        return g

    yield make
    for g in grids:
        g.cleanup()


@pytest.fixture
def grid(new_grid):
    """A fresh grid, not started."""
    return new_grid()


# ---- a started grid and HTTPS calls as one user, shared by the grid test modules ----------------
import contextlib  # noqa: E402

import requests  # noqa: E402


class Api:
    """HTTPS calls to /rpc/v1/ through the grid's router as one logged-in user (in one group when
    given); call() asserts the HTTP status and returns the JSON reply."""

    timeout = 60

    def __init__(self, g, user, password, group=None):
        self.g = g
        self.base = "https://localhost:%d/rpc/v1/" % g.port("ssl")
        self.ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
        body = {"username": user, "password": password}
        if group:
            body["group"] = group
        r = requests.post(self.base + "ISession/createSession", json=body, verify=self.ca, timeout=30)
        assert r.status_code == 200, r.text
        self.session = r.json()["session"]

    def call(self, service, method, status=200, **args):
        r = requests.post(self.base + "%s/%s" % (service, method), json=args, verify=self.ca, timeout=self.timeout,
                          headers={"X-OMERO-Session": self.session})
        assert r.status_code == status, "%s.%s: %d %s" % (service, method, r.status_code, r.text)
        return r.json()


@contextlib.contextmanager
def started_grid(installation, configure=None, cli_login=True, api=Api):
    """A grid of its own: configure(grid) runs before `omero admin start`; root's password is in
    grid.root_pw; with cli_login the CLI is logged in as root and grid.api is an `api` (class) as
    root. The grid is stopped and removed when the block ends, however it ends."""
    prefix, lock = take_prefix()
    grid = Grid(installation, prefix, lock)
    try:
        if configure:
            configure(grid)
        grid.omero("admin", "start", timeout=300)
        grid.root_pw = open(os.path.join(grid.dir, "var", "master", "root_password")).read().strip()
        if cli_login:
            grid.omero("login", "-s", "localhost", "-p", str(grid.port("ssl")), "-u", "root", "-w", grid.root_pw)
            grid.api = api(grid, "root", grid.root_pw)
        yield grid
    finally:
        grid.cleanup()


def sanitizer_report(g, own_files):
    """Stop the grid, then report sanitizer findings in its logs (under `make asan` the servers
    write them there): any memory or undefined-behaviour error, and leaks whose stack passes
    through one of own_files (leaks elsewhere belong to other modules' tests); None when clean."""
    g.omero("admin", "stop", check=False, timeout=180)
    logdir = os.path.join(g.dir, "var", "log")
    for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
        text = g.log(name)
        for marker in ("ERROR: AddressSanitizer", "runtime error:"):
            if marker in text:
                i = text.index(marker)
                return "%s reported a sanitizer error:\n%s" % (name, text[max(0, i - 200):i + 6000])
        if "ERROR: LeakSanitizer" in text:
            for leak in text[text.index("ERROR: LeakSanitizer"):].split("\n\n"):
                if any(f in leak for f in own_files):
                    return "%s reported a leak:\n%s" % (name, leak[:6000])
    return None
