"""omero-router (the Glacier2 role): TLS, HTTP/1.1, dispatch to the grid over ZeroMQ, sessions at
the edge, balancing and fail-over, limits, drain, access log and `omero certificates`.

The grid here is omero-fakegrid (tests/tools/fakegrid_main.c): a registry speaking the
protocol of docs/protocol.md (CURVE-authenticated, as the real one) and backend servers built on
libomero's omr_server, so the router runs exactly as the registry will launch it."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OMERO_BUILD", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout=15, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class FakeGrid:
    """An OMERODIR with a fake registry, fake backends and a real omero-router."""

    def __init__(self, config=None, backends=2, policy="round-robin"):
        self.root = tempfile.mkdtemp(prefix="omero-router-test-")
        self.dir = os.path.join(self.root, "OMERO.server")
        os.makedirs(os.path.join(self.dir, "etc", "grid"))
        self.keydir = os.path.join(self.dir, "etc", "grid", "keys")
        self.counts = os.path.join(self.root, "counts")
        os.makedirs(self.counts)
        self.ssl_port, self.tcp_port, self.reg_port = free_port(), free_port(), free_port()
        self.registry_ep = "tcp://127.0.0.1:%d" % self.reg_port
        cfg = {"omero.ports.ssl": str(self.ssl_port), "omero.ports.tcp": str(self.tcp_port),
               "omero.ports.registry": str(self.reg_port), "omero.router.host": "127.0.0.1",
               "omero.master.host": "127.0.0.1"}
        cfg.update(config or {})
        self.write_config(cfg)
        self.env = dict(os.environ, OMERODIR=self.dir, OMERO_KEYDIR=self.keydir, OMERO_REGISTRY=self.registry_ep,
                        FAKEGRID_COUNTS=self.counts)
        self.procs = {}
        self.policy = policy
        self.router = None
        try:
            self.start_registry()
            for i in range(backends):
                self.start_backend("Blitz-%d" % i)
        except BaseException:
            self.close()
            raise

    def write_config(self, cfg):
        with open(os.path.join(self.dir, "etc", "grid", "config.yaml"), "w") as f:
            for k, v in sorted(cfg.items()):
                f.write("%s: %s\n" % (json.dumps(k), json.dumps(v)))

    @property
    def ca(self):
        return os.path.join(self.dir, "etc", "certs", "ca.pem")

    def url(self, path, tls=True):
        return ("https://localhost:%d%s" % (self.ssl_port, path)) if tls else \
            ("http://127.0.0.1:%d%s" % (self.tcp_port, path))

    def spawn(self, name, args, env=None):
        log = open(os.path.join(self.root, name + ".out"), "w")
        p = subprocess.Popen(args, env=dict(self.env, **(env or {})), stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = p
        return p

    def start_registry(self):
        self.spawn("registry", [os.path.join(BIN, "omero-fakegrid"), "registry", "--endpoint", self.registry_ep,
                                "--keydir", self.keydir, "--policy", self.policy])
        assert wait_for(lambda: os.path.exists(os.path.join(self.keydir, "client.key_secret"))
                        and "ready" in self.output("registry"))

    def start_backend(self, sid, workers=4):
        self.spawn(sid, [os.path.join(BIN, "omero-fakegrid"), "backend"],
                   env={"OMERO_SERVER_ID": sid, "FAKEGRID_WORKERS": str(workers)})
        assert wait_for(lambda: sid in self.registered().get("ids", [])), self.output(sid)

    def registered(self):
        r = subprocess.run([os.path.join(BIN, "omero-fakegrid"), "call", "--endpoint", self.registry_ep, "--keydir",
                            self.keydir, "Fake.stats"], capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else {}

    def output(self, name):
        p = os.path.join(self.root, name + ".out")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def start_router(self, wait=True, check_ready=True):
        self.router = self.spawn("router", [os.path.join(BIN, "omero-router")],
                                 env={"OMERO_SERVER_ID": "OMERO.Glacier2",
                                      "OMERO_LOGFILE": os.path.join(self.root, "router.out")})
        if wait:
            ok = wait_for(lambda: self.router.poll() is not None or "ready" in self.output("router"))
            assert ok and self.router.poll() is None, self.output("router")
        return self.router

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(sig)
        p.wait(timeout=20)

    def close(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", self.root])


@pytest.fixture
def fakegrid():
    grids = []

    def make(**kw):
        g = FakeGrid(**kw)
        grids.append(g)
        return g

    yield make
    for g in grids:
        g.close()


@pytest.fixture
def grid(fakegrid):
    g = fakegrid()
    g.start_router()
    return g


def post(g, path, body=None, session="sess-alice", headers=None, **kw):
    h = {"X-OMERO-Session": session} if session else {}
    h.update(headers or {})
    return requests.post(g.url(path), json=body if body is not None else {}, headers=h, verify=g.ca, timeout=30, **kw)


# ---------------------------------------------------------------- TLS


def test_tls_verified_with_generated_ca(grid):
    r = requests.post(grid.url("/rpc/v1/IConfig/getVersion"), json={}, verify=grid.ca, timeout=10)
    assert r.status_code == 200 and r.json()["version"] == "5.6.10"
    c = subprocess.run(["curl", "-sS", "--cacert", grid.ca, "-X", "POST", "-d", "{}",
                        grid.url("/rpc/v1/IConfig/getVersion")], capture_output=True, text=True, timeout=20)
    assert c.returncode == 0, c.stderr
    assert json.loads(c.stdout)["version"] == "5.6.10"
    # Without the CA the certificate is not trusted (it really is verification that passes above).
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(grid.url("/rpc/v1/IConfig/getVersion"), json={}, timeout=10)
    key = os.path.join(grid.dir, "etc", "certs", "server.key")
    assert os.stat(key).st_mode & 0o777 == 0o600


def _handshake(port, minv, maxv, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = minv
    ctx.maximum_version = maxv
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return t.version()


def test_tls_12_13_only(grid):
    assert _handshake(grid.ssl_port, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert _handshake(grid.ssl_port, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError) as e:
            _handshake(grid.ssl_port, v, v, seclevel0=True)
        # The server's alert, not a client-side refusal.
        assert "PROTOCOL_VERSION" in str(e.value).upper().replace(" ", "_"), str(e.value)


def test_plain_http_only_when_configured(fakegrid):
    g = fakegrid(backends=1)
    g.start_router()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(g.url("/rpc/v1/IConfig/getVersion", tls=False), json={}, timeout=5)
    # Plain HTTP spoken to the TLS port gets no HTTP answer.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post("http://127.0.0.1:%d/rpc/v1/IConfig/getVersion" % g.ssl_port, json={}, timeout=5)
    g.kill("router", signal.SIGTERM)
    g2 = fakegrid(backends=1, config={"omero.router.insecure": "true"})
    g2.start_router()
    r = requests.post(g2.url("/rpc/v1/IConfig/getVersion", tls=False), json={}, timeout=5)
    assert r.status_code == 200 and r.json()["version"] == "5.6.10"


def test_keep_alive_reuses_the_connection(grid):
    ctx = ssl.create_default_context(cafile=grid.ca)
    conn = http.client.HTTPSConnection("localhost", grid.ssl_port, context=ctx, timeout=10)
    socks = set()
    for i in range(5):
        conn.request("POST", "/rpc/v1/IConfig/getVersion", body="{}",
                     headers={"Content-Type": "application/json", "X-OMERO-Session": "sess-alice"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["version"] == "5.6.10"
        assert r.getheader("Connection", "").lower() != "close"
        socks.add(id(conn.sock))
    assert len(socks) == 1
    conn.close()


# ---------------------------------------------------------------- dispatch


def test_rpc_dispatch_with_caller_context(grid):
    r = post(grid, "/rpc/v1/Echo/getThing", {"a": [1, 2], "s": "x"}, headers={"User-Agent": "pytest-agent"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    j = r.json()
    assert j["op"] == "Echo.getThing" and j["body"] == {"a": [1, 2], "s": "x"}
    ctx = j["ctx"]
    assert ctx["userName"] == "alice" and ctx["userId"] == 2 and ctx["groupIds"] == [1, 3]
    assert ctx["ip"] == "127.0.0.1" and ctx["agent"] == "pytest-agent" and ctx["session"] == "sess-alice"
    assert abs(j["deadline"] / 1000.0 - time.time() - 60) < 5      # omero.router.timeout, 60 s
    # An empty body is {}; the JSON API cookie carries a session too.
    r = requests.post(grid.url("/rpc/v1/Echo/getThing"), cookies={"sessionid": "sess-bob"}, verify=grid.ca)
    assert r.status_code == 200 and r.json()["body"] == {} and r.json()["ctx"]["userName"] == "bob"


def test_round_robin_over_replicas(grid):
    servers = [post(grid, "/rpc/v1/IConfig/getVersion").json()["server"] for _ in range(20)]
    assert set(servers) == {"Blitz-0", "Blitz-1"}
    assert abs(servers.count("Blitz-0") - 10) <= 2
    # Lookups are cached (~1 s), not one per request.
    assert grid.registered()["lookups"] < 10


def test_ordered_policy_and_fail_over(fakegrid):
    g = fakegrid(backends=2, policy="ordered")
    g.start_router()
    first = {post(g, "/rpc/v1/IConfig/getVersion").json()["server"] for _ in range(10)}
    assert first == {"Blitz-0"}
    g.kill("Blitz-0")
    after = [post(g, "/rpc/v1/IConfig/getVersion") for _ in range(10)]
    assert all(r.status_code == 200 for r in after)
    assert {r.json()["server"] for r in after} == {"Blitz-1"}


def test_sessions_at_the_edge(grid):
    r = post(grid, "/rpc/v1/Echo/getThing", session=None)
    assert r.status_code == 403 and r.json()["error"]["name"] == "SessionException"
    r = post(grid, "/rpc/v1/Echo/getThing", session="sess-unknown")
    assert r.status_code == 403 and r.json()["error"]["name"] == "SessionException"
    r = post(grid, "/rpc/v1/Echo/getThing", session="sess-alice" + "x" * 300)
    assert r.status_code == 403 and r.json()["error"]["name"] == "SessionException"
    r = post(grid, "/rpc/v1/Echo/getThing", session="sess-removed")
    assert r.status_code == 403 and r.json()["error"]["name"] == "RemovedSessionException"
    # Unauthenticated ops pass without a session, and with an invalid one, with only ip/agent.
    r = post(grid, "/rpc/v1/ISession/createSession", {"username": "alice", "password": "secret"}, session=None)
    assert r.status_code == 200 and r.json() == {"session": "sess-alice"}
    r = post(grid, "/rpc/v1/ISession/createSession", {"username": "alice", "password": "wrong"}, session=None)
    assert r.status_code == 403 and r.json()["error"]["name"] == "SecurityViolation"
    assert post(grid, "/rpc/v1/IConfig/getVersion", session="sess-unknown").status_code == 200


def test_session_resolve_is_cached(grid):
    for _ in range(30):
        assert post(grid, "/rpc/v1/Echo/getThing", session="sess-bob").status_code == 200
    n = sum(len(open(os.path.join(grid.counts, f)).read()) for f in os.listdir(grid.counts))
    assert 1 <= n <= 3


def test_invalidated_sessions_are_resolved_again(grid):
    def resolves():
        return sum(len(open(os.path.join(grid.counts, f)).read()) for f in os.listdir(grid.counts))

    assert post(grid, "/rpc/v1/Echo/getThing", session="sess-bob").status_code == 200
    assert post(grid, "/rpc/v1/Echo/getThing", session="sess-alice").status_code == 200
    before = resolves()
    assert post(grid, "/rpc/v1/Echo/getThing", session="sess-bob").status_code == 200
    assert resolves() == before
    # alice closes bob's session: the reply names it in "invalidate", so the router forgets it.
    r = post(grid, "/rpc/v1/ISession/closeSession", {"session": "sess-bob"}, session="sess-alice")
    assert r.status_code == 200 and r.json()["invalidate"] == ["sess-bob"]
    assert post(grid, "/rpc/v1/Echo/getThing", session="sess-bob").status_code == 200
    assert resolves() == before + 1


def test_raw_bytes_both_ways(grid):
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = requests.post(grid.url("/rpc/v1/Echo/readBack"), data=data, verify=grid.ca, timeout=30,
                      headers={"Content-Type": "application/octet-stream", "X-OMERO-Session": "sess-alice",
                               "X-OMERO-Args": json.dumps({"offset": 5})})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
    assert r.content == data
    result = json.loads(r.headers["X-OMERO-Result"])
    assert result["body"] == {"offset": 5} and result["raw"] == [len(data)]
    r = post(grid, "/rpc/v1/Big/get", {"size": 5000000})
    assert r.status_code == 200 and len(r.content) == 5000000
    assert r.content[:4] == bytes([3, 10, 17, 24]) and json.loads(r.headers["X-OMERO-Result"])["size"] == 5000000
    bad = requests.post(grid.url("/rpc/v1/Echo/readBack"), data=b"x", verify=grid.ca,
                        headers={"Content-Type": "application/octet-stream", "X-OMERO-Session": "sess-alice",
                                 "X-OMERO-Args": "{not json"})
    assert bad.status_code == 400 and bad.json()["error"]["name"] == "ApiUsageException"


def test_json_api_and_webgateway_families(grid):
    r = requests.get(grid.url("/api/v0/"), verify=grid.ca)      # no session needed
    assert r.status_code == 200 and r.headers["X-Fake-Server"].startswith("Blitz-")
    j = r.json()
    assert j["op"] == "JsonApi.handle" and j["request"]["method"] == "GET" and j["request"]["path"] == "/api/v0/"
    assert "session" not in j["ctx"] and j["ctx"]["ip"] == "127.0.0.1"
    r = requests.get(grid.url("/api/v0/m/projects/"), verify=grid.ca)    # OMERO.web's answer
    assert r.status_code == 403 and r.json() == {"message": "Not logged in"}
    r = requests.post(grid.url("/api/v0/login/"), data={"username": "alice", "password": "secret"}, verify=grid.ca)
    assert r.status_code == 200 and r.cookies.get("sessionid") == "sess-alice"
    assert r.json()["bodylen"] > 0 and r.json()["request"]["headers"]["content-type"].startswith(
        "application/x-www-form-urlencoded")
    s = requests.Session()
    s.trust_env = False     # REQUESTS_CA_BUNDLE would override verify
    s.verify = grid.ca
    s.cookies.set("sessionid", "sess-alice")
    s.cookies.set("csrftoken", "tok")
    r = s.get(grid.url("/api/v0/m/projects/?limit=2&owner=3"))
    j = r.json()
    assert r.status_code == 200 and j["request"]["query"] == "limit=2&owner=3"
    assert j["ctx"]["userName"] == "alice" and j["request"]["cookies"]["csrftoken"] == "tok"
    assert s.get(grid.url("/api/v0/m/missing/")).status_code == 404
    r = s.get(grid.url("/webgateway/render_image/1/0/0/?c=1|100:600$FF0000&m=c"))
    j = r.json()
    assert r.status_code == 200 and j["op"] == "Webgateway.handle"
    assert j["request"]["path"] == "/webgateway/render_image/1/0/0/" and j["request"]["query"] == "c=1%7C100:600$FF0000&m=c"
    assert requests.get(grid.url("/nothing/here"), verify=grid.ca).status_code == 404


def test_errors_are_json(grid):
    r = post(grid, "/rpc/v1/Fail/doIt", {"name": "SecurityViolation", "status": 403, "message": "not yours"})
    assert r.status_code == 403
    assert r.json() == {"error": {"name": "SecurityViolation", "message": "not yours"}}
    r = post(grid, "/rpc/v1/Fail/doIt", {"name": "ValidationException", "status": 400, "message": "bad"})
    assert r.status_code == 400 and r.json()["error"]["name"] == "ValidationException"
    r = requests.get(grid.url("/rpc/v1/IConfig/getVersion"), verify=grid.ca)
    assert r.status_code == 405 and "POST" in r.headers.get("Allow", "")
    r = requests.post(grid.url("/rpc/v1/IConfig/getVersion"), data="{oops", verify=grid.ca)
    assert r.status_code == 400 and r.json()["error"]["name"] == "ApiUsageException"
    r = post(grid, "/rpc/v1/NoSuch/getIt")
    assert r.status_code == 503 and r.json()["error"]["name"] == "ServiceUnavailable"


def test_request_timeout(fakegrid):
    g = fakegrid(backends=1, config={"omero.router.timeout": "800"})
    g.start_router()
    t0 = time.time()
    r = post(g, "/rpc/v1/Slow/doSlowly", {"ms": 3000})
    assert r.status_code == 504 and r.json()["error"]["name"] == "ServiceUnavailable"
    assert time.time() - t0 < 2.5
    # The router's loop was never blocked: a quick call right after is answered.
    assert post(g, "/rpc/v1/IConfig/getVersion").status_code == 200


def test_many_unknown_services_keep_the_router_bounded(grid):
    s = requests.Session()
    s.trust_env = False
    s.verify = grid.ca
    s.headers["X-OMERO-Session"] = "sess-alice"
    for i in range(1100):
        assert s.post(grid.url("/rpc/v1/Nope%d/getIt" % i), json={}).status_code == 503
    rss = int([l for l in open("/proc/%d/status" % grid.router.pid) if l.startswith("VmRSS")][0].split()[1])
    assert rss < 200 * 1024
    assert s.post(grid.url("/rpc/v1/IConfig/getVersion"), json={}).status_code == 200


def test_503_when_no_backend(fakegrid):
    g = fakegrid(backends=0)
    g.start_router()
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=g.ca, timeout=10)
    assert r.status_code == 503
    assert r.json()["error"]["name"] == "ServiceUnavailable" and "IConfig" in r.json()["error"]["message"]
    # And a registry that is down altogether.
    g.kill("registry")
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=g.ca, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["name"] == "ServiceUnavailable"


def test_killed_replica_is_invisible_to_reads(grid):
    errors, served = [], []
    stop = threading.Event()

    def client():
        s = requests.Session()
        s.trust_env = False     # REQUESTS_CA_BUNDLE would override verify
        s.verify = grid.ca
        s.headers["X-OMERO-Session"] = "sess-alice"
        while not stop.is_set():
            try:
                r = s.post(grid.url("/rpc/v1/Slow/getSlowly"), json={"ms": 20}, timeout=30)
                if r.status_code != 200:
                    errors.append(r.text)
                else:
                    served.append((time.time(), r.json()["server"]))
            except Exception as e:       # noqa: BLE001 - any client-visible failure counts
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    killed_at = time.time()
    grid.kill("Blitz-1")
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert any(s == "Blitz-1" for t, s in served if t < killed_at)
    after = [s for t, s in served if t > killed_at + 0.2]
    assert after and set(after) == {"Blitz-0"}
    assert "trying another instance" in grid.output("router")


def test_write_on_dying_replica_is_not_retried(fakegrid):
    g = fakegrid(backends=2)
    g.start_router()
    r = post(g, "/rpc/v1/Die/doIt")
    assert r.status_code == 503 and r.json()["error"]["name"] == "ServiceUnavailable"
    # The surviving replica still answers.
    assert post(g, "/rpc/v1/IConfig/getVersion").status_code == 200


# ---------------------------------------------------------------- limits


def test_oversized_headers_and_bodies(fakegrid):
    g = fakegrid(backends=1, config={"omero.router.max_header": "4096", "omero.router.max_body": "1048576"})
    g.start_router()
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, headers={"X-Big": "a" * 8000}, verify=g.ca)
    assert r.status_code == 431 and r.json()["error"]["message"].find("omero.router.max_header") > 0
    r = requests.post(g.url("/rpc/v1/Echo/readBack"), data=b"x" * (2 * 1048576), verify=g.ca,
                      headers={"Content-Type": "application/octet-stream", "X-OMERO-Session": "sess-alice"})
    assert r.status_code == 413
    r = requests.post(g.url("/rpc/v1/Echo/readBack"), data=b"x" * 1000, verify=g.ca,
                      headers={"Content-Type": "application/octet-stream", "X-OMERO-Session": "sess-alice"})
    assert r.status_code == 200 and r.content == b"x" * 1000


def _tls_socket(g):
    ctx = ssl.create_default_context(cafile=g.ca)
    s = socket.create_connection(("127.0.0.1", g.ssl_port), timeout=10)
    return ctx.wrap_socket(s, server_hostname="localhost")


def _closed(sock, within):
    """Whether the server closes sock within `within` seconds (data before the close is ignored)."""
    end = time.time() + within
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            if sock.recv(4096) == b"":
                return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


def test_slow_and_idle_clients_are_disconnected(fakegrid):
    g = fakegrid(backends=1, config={"omero.router.header_timeout": "1000", "omero.router.idle_timeout": "1500"})
    g.start_router()
    # A client trickling its request head, one byte every 200 ms.
    s = _tls_socket(g)
    start = time.time()
    closed = False
    for ch in b"POST /rpc/v1/IConfig/getVersion HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 200:
        try:
            s.send(bytes([ch]))
        except (OSError, ssl.SSLError):
            closed = True
            break
        time.sleep(0.2)
        if time.time() - start > 6:
            break
    if not closed:
        closed = _closed(s, 2)
    assert closed and time.time() - start < 5
    s.close()
    # A client trickling its body after a complete head.
    s = _tls_socket(g)
    s.send(b"POST /rpc/v1/Echo/readBack HTTP/1.1\r\nHost: localhost\r\nX-OMERO-Session: sess-alice\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
    start = time.time()
    closed = False
    while time.time() - start < 6:
        try:
            s.send(b"0123456789")
        except (OSError, ssl.SSLError):
            closed = True
            break
        if _closed(s, 0.2):
            closed = True
            break
    assert closed and time.time() - start < 5
    s.close()
    # An idle keep-alive connection is closed after omero.router.idle_timeout.
    s = _tls_socket(g)
    s.send(b"POST /rpc/v1/IConfig/getVersion HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
    reply = b""
    while b'"version"' not in reply:
        reply += s.recv(4096)
    assert b"200 OK" in reply
    t0 = time.time()
    assert _closed(s, 5) and 1.0 < time.time() - t0 < 4
    s.close()
    # A fast client on the same router is unaffected.
    assert requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=g.ca).status_code == 200


def test_max_connections(fakegrid):
    g = fakegrid(backends=1, config={"omero.router.max_connections": "3", "omero.router.threads": "1"})
    g.start_router()
    held = [_tls_socket(g) for _ in range(3)]
    time.sleep(0.5)
    # A fourth client waits in the accept queue while three connections are open ...
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=g.ca, timeout=1.5)
    assert "not accepting more" in g.output("router")
    # ... and is served once one of them closes.
    held.pop().close()
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=g.ca, timeout=10)
    assert r.status_code == 200
    for s in held:
        s.close()


def test_drain_on_sigterm(grid):
    result = {}

    def slow():
        result["r"] = post(grid, "/rpc/v1/Slow/getSlowly", {"ms": 1500})

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    grid.router.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # No new connections once draining.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(grid.url("/rpc/v1/IConfig/getVersion"), json={}, verify=grid.ca, timeout=3)
    t.join()
    assert result["r"].status_code == 200 and result["r"].json()["slept"] == 1500
    assert grid.router.wait(timeout=15) == 0
    assert "draining 1 request" in grid.output("router")


def test_access_log_has_no_secrets(grid):
    post(grid, "/rpc/v1/IConfig/getVersion")
    post(grid, "/rpc/v1/ISession/createSession", {"username": "alice", "password": "secret"}, session=None)
    requests.get(grid.url("/api/v0/m/projects/?bsession=sess-alice"), cookies={"sessionid": "sess-alice"},
                 verify=grid.ca)
    path = os.path.join(grid.dir, "var", "log", "OMERO.Glacier2-access.log")
    assert wait_for(lambda: os.path.exists(path) and "/api/v0/m/projects/" in open(path).read(), timeout=5)
    text = open(path).read()
    line = [l for l in text.splitlines() if "IConfig/getVersion" in l][0].split()
    assert line[1] == "127.0.0.1" and line[2] == "POST" and line[4] == "200" and line[7] == "OMERO.Glacier2"
    assert line[8].startswith("Blitz-") and line[6].endswith("ms")
    assert "sess-alice" not in text and "secret" not in text


def test_access_log_rotates(fakegrid):
    g = fakegrid(backends=1, config={"omero.logging.logsize": "2000", "omero.logging.lognum": "2"})
    g.start_router()
    s = requests.Session()
    s.trust_env = False
    s.verify = g.ca
    for _ in range(80):
        assert s.post(g.url("/rpc/v1/IConfig/getVersion"), json={}).status_code == 200
    base = os.path.join(g.dir, "var", "log", "OMERO.Glacier2-access.log")
    assert wait_for(lambda: os.path.exists(base + ".2"), timeout=5)
    assert not os.path.exists(base + ".3")
    for p in (base + ".1", base + ".2"):
        assert 1500 < os.path.getsize(p) < 2300
        assert all("IConfig/getVersion 200" in l for l in open(p).read().splitlines())


# ---------------------------------------------------------------- certificates


def _serial(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"], capture_output=True,
                          text=True).stdout


def test_omero_certificates_creates_renews_and_configures(fakegrid):
    g = fakegrid(backends=1)
    env = dict(g.env)
    omero = os.path.join(BIN, "omero")
    r = subprocess.run([omero, "certificates"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    certs = os.path.join(g.dir, "etc", "certs")
    assert "certificates created" in r.stdout and "Creating new key" in r.stdout
    cfg = open(os.path.join(g.dir, "etc", "grid", "config.yaml")).read()
    for k in ("omero.glacier2.IceSSL.CertFile", "omero.glacier2.IceSSL.CAs", "omero.glacier2.IceSSL.DefaultDir",
              "omero.certificates.commonname", "omero.certificates.owner", "omero.glacier2.IceSSL.Protocols"):
        assert k in cfg
    key1 = open(os.path.join(certs, "server.key")).read()
    ca1 = open(os.path.join(certs, "ca.pem")).read()
    serial1 = _serial(os.path.join(certs, "server.pem"))
    r = subprocess.run([omero, "certificates", "--days", "30"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Using existing key" in r.stdout and "Using existing CA" in r.stdout
    assert open(os.path.join(certs, "server.key")).read() == key1
    assert open(os.path.join(certs, "ca.pem")).read() == ca1
    assert _serial(os.path.join(certs, "server.pem")) != serial1
    v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(certs, "ca.pem"),
                        os.path.join(certs, "server.pem")], capture_output=True, text=True)
    assert v.returncode == 0
    # The router uses the configured certificate.
    g.start_router()
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=os.path.join(certs, "ca.pem"))
    assert r.status_code == 200
    # Bad input changes nothing.
    r = subprocess.run([omero, "certificates", "--days", "zero"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "--days" in r.stderr
    assert _serial(os.path.join(certs, "server.pem")) == _serial(os.path.join(certs, "server.pem"))


def test_configured_certificate_is_honoured(fakegrid):
    g = fakegrid(backends=1)
    d = os.path.join(g.root, "site")
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", os.path.join(d, "site.key"),
                    "-out", os.path.join(d, "site.pem")], check=True, capture_output=True)
    g.write_config({"omero.ports.ssl": str(g.ssl_port), "omero.ports.registry": str(g.reg_port),
                    "omero.router.host": "127.0.0.1", "omero.glacier2.IceSSL.DefaultDir": d,
                    "omero.glacier2.IceSSL.CertFile": "site.pem", "omero.glacier2.IceSSL.KeyFile": "site.key"})
    g.start_router()
    r = requests.post(g.url("/rpc/v1/IConfig/getVersion"), json={}, verify=os.path.join(d, "site.pem"))
    assert r.status_code == 200
    assert not os.path.exists(os.path.join(g.dir, "etc", "certs", "server.pem"))


def test_missing_configured_certificate_stops_the_router(fakegrid):
    g = fakegrid(backends=0)
    g.write_config({"omero.ports.ssl": str(g.ssl_port), "omero.ports.registry": str(g.reg_port),
                    "omero.router.host": "127.0.0.1", "omero.glacier2.IceSSL.CertFile": "/nonexistent/x.pem"})
    p = g.start_router(wait=False)
    assert p.wait(timeout=10) == 1
    assert "/nonexistent/x.pem" in g.output("router")
