"""Blitz in a real grid: `omero admin start` (registry, embedded PostgreSQL, router, Blitz), then
sessions, users and groups through the `omero` CLI and the JSON API through the router, as a user
would reach them. Also checks that no password reaches a log."""
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest


@pytest.fixture
def started(grid):
    r = grid.omero("admin", "start", timeout=300, check=False)
    if r.returncode != 0:
        pytest.fail("omero admin start failed:\n%s\n%s\n%s" % (r.stdout, r.stderr, grid.log("master.err")))
    with open(os.path.join(grid.dir, "var", "master", "root_password")) as f:
        grid.rootpw = f.read().strip()
    return grid


def _opener():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    jar = CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                       urllib.request.HTTPCookieProcessor(jar)), jar


def _req(opener, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_cli_and_json_api_through_the_router(started):
    g = started
    server = "localhost:%d" % g.port("ssl")
    r = g.omero("login", "root@" + server, "-w", g.rootpw)
    assert "Current group: system" in r.stdout + r.stderr
    g.omero("group", "add", "gridlab", "--type=read-annotate")
    g.omero("user", "add", "gina", "Gina", "Grid", "gridlab", "-P", "gina-Secret-1")
    out = g.omero("user", "list").stdout
    assert "gina" in out
    g.omero("logout")
    r = g.omero("login", "gina@" + server, "-w", "gina-Secret-1")
    assert "Current group: gridlab" in r.stdout + r.stderr
    bad = g.omero("login", "-C", "gina@" + server, "-w", "wrong", check=False)
    assert bad.returncode != 0
    # The JSON API bootstrap through the router: token, login with CSRF, the session cookie works.
    opener, jar = _opener()
    base = "https://%s/api/" % server
    st, body = _req(opener, base)
    assert st == 200 and body["data"][0]["version"] == "0"
    st, body = _req(opener, base + "v0/token/")
    token = body["data"]
    form = urllib.parse.urlencode({"server": 1, "username": "gina", "password": "gina-Secret-1"}).encode()
    st, body = _req(opener, base + "v0/login/", form)
    assert st == 403 and "CSRF" in body["message"]
    st, body = _req(opener, base + "v0/login/", form, {"X-CSRFToken": token})
    assert st == 200 and body["success"] and body["eventContext"]["userName"] == "gina"
    assert any(c.name == "sessionid" for c in jar)
    st, ec = _req(opener, "https://%s/rpc/v1/IAdmin/getEventContext" % server, b"{}",
                  {"Content-Type": "application/json"})
    assert st == 200 and ec["userName"] == "gina" and ec["groupName"] == "gridlab"
    for log in os.listdir(os.path.join(g.dir, "var", "log")):
        text = g.log(log)
        assert "gina-Secret-1" not in text and g.rootpw not in text, log
