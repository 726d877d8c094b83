"""The public client library (libomero/omero.h) against an HTTPS server speaking the router's
protocol: logins, sessions, JSON calls, octet-stream uploads and downloads, error mapping,
certificate verification and reuse of one TLS connection per client. Driven through
omero-clientcall (tests/tools/clientcall_main.c), which runs a list of steps on one client."""
import hashlib
import json
import os
import subprocess

import pytest

from cli_fake_server import FakeServer, make_cert

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
TOOL = os.path.join(BUILD, "bin", "omero-clientcall")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    srv = FakeServer(str(tmp_path_factory.mktemp("certs")))
    yield srv
    srv.stop()


def run(fake, *steps, ca=True, env=None, host="127.0.0.1"):
    e = {k: v for k, v in os.environ.items() if k not in ("OMERO_CA", "OMERODIR")}
    if ca:
        e["OMERO_CA"] = fake.cert
    e.update(env or {})
    r = subprocess.run([TOOL, host, str(fake.port)] + list(steps), capture_output=True, text=True, env=e,
                       timeout=60)
    return r.returncode, r.stdout.splitlines(), r.stderr


def test_login_sends_credentials_and_uses_session_header(fake):
    fake.clear()
    rc, out, err = run(fake, "login", "root", "omero", "-", "ec")
    assert rc == 0, (out, err)
    key = out[0]
    assert len(key) == 36
    ec = json.loads(out[1])
    assert ec["userName"] == "root" and ec["sessionUuid"] == key and ec["groupName"] == "system"
    login, getec = fake.requests()
    assert login["path"] == "/rpc/v1/ISession/createSession"
    assert login["headers"]["Content-Type"] == "application/json"
    assert "X-OMERO-Session" not in login["headers"]
    body = json.loads(login["body"])
    assert body["username"] == "root" and body["password"] == "omero" and "group" not in body
    assert getec["path"] == "/rpc/v1/IAdmin/getEventContext"
    assert getec["headers"]["X-OMERO-Session"] == key


def test_one_connection_for_many_calls(fake):
    fake.clear()
    steps = ["login", "root", "omero", "-"] + ["call", "IAdmin", "lookupGroups", "{}"] * 5 + ["keepalive"]
    rc, out, err = run(fake, *steps)
    assert rc == 0, (out, err)
    reqs = fake.requests()
    assert len(reqs) == 7
    # Keep-alive: every request came over the same TCP connection (same client port).
    assert len({r["port"] for r in reqs}) == 1
    assert reqs[-1]["path"] == "/rpc/v1/ISession/keepAlive"


def test_connection_closed_by_server_is_replaced(fake):
    fake.clear()
    rc, out, err = run(fake, "login", "root", "omero", "-", "call", "Test", "drop", "{}", "ec",
                       "call", "Test", "drop", "{}", "keepalive")
    assert rc == 0, (out, err)
    assert out[-1] == "alive"
    ports = [r["port"] for r in fake.requests()]
    assert len(ports) == 5 and ports[0] == ports[1] and ports[2] != ports[1] and ports[4] != ports[3]


def test_group_login_and_switch(fake):
    rc, out, err = run(fake, "login", "root", "omero", "user", "ec", "group", "0", "ec")
    assert rc == 0, (out, err)
    assert json.loads(out[1])["groupName"] == "user"
    assert out[2] == "switched"
    assert json.loads(out[3])["groupName"] == "system"


def test_errors_carry_omero_exception_names(fake):
    rc, out, _ = run(fake, "login", "root", "wrong", "-")
    assert rc == 1
    assert out[-1].startswith("ERROR PermissionDeniedException 403 Password check failed")
    rc, out, _ = run(fake, "login", "root", "omero", "-", "call", "IAdmin", "noSuchMethod", "{}")
    assert out[-1] == "ERROR ApiUsageException 404 no method IAdmin.noSuchMethod"
    # A body that is not OMERO's error JSON still gives a usable error.
    rc, out, _ = run(fake, "login", "root", "omero", "-", "call", "Test", "html500", "{}")
    assert out[-1].startswith("ERROR InternalException 502 <h1>Bad gateway</h1>")
    rc, out, _ = run(fake, "login", "root", "omero", "-", "call", "Test", "garbage", "{}")
    assert out[-1].startswith("ERROR ClientError 0 server sent invalid JSON")
    # No session at all.
    rc, out, _ = run(fake, "call", "IAdmin", "getEventContext", "{}")
    assert out[-1].startswith("ERROR SessionException 403")


def test_join_and_logout(fake):
    rc, out, _ = run(fake, "login", "root", "omero", "-")
    key = out[0]
    rc, out, err = run(fake, "join", key, "ec", "keepalive")
    assert rc == 0, (out, err)
    assert out[0] == key and json.loads(out[1])["sessionUuid"] == key and out[2] == "alive"
    rc, out, _ = run(fake, "join", key, "logout", "session")
    assert out[1:] == ["closed", "(none)"]
    assert fake.state.sessions[key]["closed"]
    rc, out, _ = run(fake, "join", key)
    assert rc == 1 and out[-1].startswith("ERROR RemovedSessionException 403")
    rc, out, _ = run(fake, "join", "00000000-0000-0000-0000-000000000000")
    assert rc == 1 and out[-1].startswith("ERROR SessionException 403")


def test_sudo_login(fake):
    st = fake.state
    with st.lock:
        st.users[50] = {"UserName": "sudoee", "FirstName": "S", "LastName": "U"}
        st.members[(50, 1)] = False
        st.passwords[50] = "theirs"
    fake.clear()
    rc, out, err = run(fake, "sudo", "root", "omero", "sudoee", "ec")
    assert rc == 0, (out, err)
    assert json.loads(out[1])["userName"] == "sudoee"
    body = json.loads(fake.requests("createSession")[0]["body"])
    assert body["sudo"] == "root" and body["username"] == "sudoee" and body["password"] == "omero"
    rc, out, _ = run(fake, "sudo", "root", "theirs", "sudoee")
    assert rc == 1 and "PermissionDeniedException" in out[-1]


def test_upload_bytes(fake, tmp_path):
    data = os.urandom(300000) + b"\r\n\0end"
    f = tmp_path / "blob"
    f.write_bytes(data)
    fake.clear()
    rc, out, err = run(fake, "login", "root", "omero", "-", "upload", "Test", "echo",
                       '{"name": "caf\u00e9 \\n x", "n": 3}', str(f))
    assert rc == 0, (out, err)
    rep = json.loads(out[1])
    assert rep["len"] == len(data) and rep["sha1"] == hashlib.sha1(data).hexdigest()
    assert rep["args"] == {"name": "caf\u00e9 \n x", "n": 3}
    up = fake.requests("Test/echo")[0]
    assert up["headers"]["Content-Type"] == "application/octet-stream"
    assert json.loads(up["headers"]["X-OMERO-Args"]) == {"name": "caf\u00e9 \n x", "n": 3}


def test_streamed_upload(fake, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 17)
    f = tmp_path / "big"
    f.write_bytes(data)
    fake.clear()
    rc, out, err = run(fake, "login", "root", "omero", "-", "stream", "Test", "echo", '{"k": 1}', str(f))
    assert rc == 0, (out, err)
    rep = json.loads(out[1])
    assert rep["len"] == len(data) and rep["sha1"] == hashlib.sha1(data).hexdigest()
    up = fake.requests("Test/echo")[0]
    assert up["headers"]["Content-Length"] == str(len(data))
    assert up["headers"]["Content-Type"] == "application/octet-stream"
    # A source that ends before the length it promised aborts with a clear error.
    rc, out, err = run(fake, "login", "root", "omero", "-", "stream", "Test", "echo", "{}", str(f),
                       str(len(data) + 10))
    assert rc == 1 and out[-1].startswith("ERROR ClientError 0 upload aborted: the source gave %d of %d bytes"
                                          % (len(data), len(data) + 10))


def test_download_bytes(fake, tmp_path):
    out_file = tmp_path / "down"
    n = 1234567
    rc, out, err = run(fake, "login", "root", "omero", "-", "download", "Test", "bytes", '{"n": %d}' % n,
                       str(out_file))
    assert rc == 0, (out, err)
    assert json.loads(out[1]) == {"n": n}
    assert out_file.read_bytes() == bytes((i * 7) & 0xFF for i in range(n))
    # A method answering JSON through the download call: no bytes, the JSON is the result.
    rc, out, err = run(fake, "login", "root", "omero", "-", "download", "IConfig", "getVersion", "{}",
                       str(out_file))
    assert rc == 0 and json.loads(out[1]) == {"version": "5.6.10"}
    assert out_file.read_bytes() == b""


def test_certificate_verification(fake, tmp_path):
    # Without our CA the self-signed certificate is refused: verification is on by default.
    rc, out, _ = run(fake, "login", "root", "omero", "-", ca=False)
    assert rc == 1 and out[-1].startswith("ERROR SSLException 0")
    # A different CA is refused too.
    other, _ = make_cert(str(tmp_path), cn="other")
    rc, out, _ = run(fake, "login", "root", "omero", "-", ca=False, env={"OMERO_CA": other})
    assert rc == 1 and "SSLException" in out[-1]
    # $OMERODIR/etc/certs/ca.pem is used when OMERO_CA is not set.
    certs = tmp_path / "omerodir" / "etc" / "certs"
    certs.mkdir(parents=True)
    (certs / "ca.pem").write_bytes(open(fake.cert, "rb").read())
    rc, out, _ = run(fake, "login", "root", "omero", "-", ca=False, env={"OMERODIR": str(tmp_path / "omerodir")})
    assert rc == 0, out
    # An explicit CA file and explicit insecure mode.
    rc, out, _ = run(fake, "--ca", fake.cert, "login", "root", "omero", "-", ca=False)
    assert rc == 0, out
    rc, out, _ = run(fake, "--insecure", "login", "root", "omero", "-", ca=False)
    assert rc == 0, out
    # The certificate names localhost too.
    rc, out, _ = run(fake, "login", "root", "omero", "-", host="localhost")
    assert rc == 0, out


def test_connection_refused():
    r = subprocess.run([TOOL, "127.0.0.1", "1", "login", "root", "omero", "-"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stdout.startswith("ERROR ConnectionRefusedException 0 127.0.0.1:1 isn't running")
