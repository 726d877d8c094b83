"""JsonApi.handle (the JSON API bootstrap: versions, base URLs, servers, CSRF token, login, logout)
and IConfig, on a real PostgreSQL through omero-rpc, with the request shape the router sends."""
import json
import urllib.parse

import pytest

from test_blitz_support import Blitz, PgCluster, cleanup_all, failed, login, ok, root_password


@pytest.fixture(scope="module")
def env():
    cluster = PgCluster()
    b = None
    try:
        b = Blitz(cluster, config={"omero.client.viewer.roi_limit": "500",
                                   "omero.web.server_list": '[["omero.example.org", 4064, "lab"]]'}).start()
        root = ok(login(b, "root", root_password(b)))["session"]
        ok(b.call("IAdmin.createGroup", {"group": {"Name": "web-lab"}, "perms": "rwra--"}, session=root))
        ok(b.call("IAdmin.createUser", {"experimenter": {"UserName": "wendy", "FirstName": "W", "LastName": "Web"},
                                        "group": "web-lab", "password": "wendy-pw"}, session=root))
        yield {"cluster": cluster, "b": b, "root": root}
    finally:
        cleanup_all((b,), cluster)


def api(env, method, path, headers=None, cookies=None, body=b"", ctype=None):
    h = {"host": "omero.example.org"}
    h.update(headers or {})
    if ctype:
        h["content-type"] = ctype
    reply = env["b"].call("JsonApi.handle", {"method": method, "path": path, "query": "", "headers": h,
                                             "cookies": cookies or {}, "remote": "192.0.2.7"}, raw=body)
    r = ok(reply)
    assert r["headers"]["Content-Type"] == "application/json" and len(reply["raw"]) == 1
    return r["status"], json.loads(reply["raw"][0]), r["cookies"]


def cookie_value(cookies, name):
    for c in cookies:
        k, _, rest = c.partition("=")
        if k == name:
            return rest.split(";")[0]
    return None


def test_versions_base_and_servers(env):
    st, body, _ = api(env, "GET", "/api/")
    assert st == 200 and body == {"data": [{"version": "0", "url:base": "https://omero.example.org/api/v0/"}]}
    st, body, _ = api(env, "GET", "/api/v0/", headers={"x-forwarded-proto": "http"})
    assert st == 200
    assert body["url:login"] == "http://omero.example.org/api/v0/login/"
    assert body["url:projects"] == "http://omero.example.org/api/v0/m/projects/"
    assert body["url:schema"] == "http://www.openmicroscopy.org/Schemas/OME/2016-06"
    assert set(body) == {"url:login", "url:save", "url:projects", "url:plates", "url:datasets", "url:token",
                         "url:schema", "url:screens", "url:servers", "url:images"}
    st, body, _ = api(env, "GET", "/api/v0/servers/")
    assert body == {"data": [{"id": 1, "host": "omero.example.org", "port": 4064, "server": "lab"}]}
    st, body, _ = api(env, "GET", "/api/v0/nothing-here/")
    assert st == 404 and "message" in body
    st, body, _ = api(env, "POST", "/api/v0/servers/")
    assert st == 405


def test_token_sets_cookie(env):
    st, body, cookies = api(env, "GET", "/api/v0/token/")
    token = body["data"]
    assert st == 200 and len(token) == 32 and cookie_value(cookies, "csrftoken") == token
    assert any("SameSite=Lax" in c and "Path=/" in c for c in cookies)
    # An existing valid token is kept.
    st, body, cookies = api(env, "GET", "/api/v0/token/", cookies={"csrftoken": token})
    assert body["data"] == token


def _token(env):
    return api(env, "GET", "/api/v0/token/")[1]["data"]


def _form(**kw):
    return urllib.parse.urlencode(kw).encode()


def test_login_requires_csrf(env):
    token = _token(env)
    form = _form(server=1, username="wendy", password="wendy-pw")
    # No cookie, no token, mismatched token: 403 and no session.
    for cookies, headers in (({}, {}), ({"csrftoken": token}, {}), ({}, {"x-csrftoken": token}),
                             ({"csrftoken": token}, {"x-csrftoken": _token(env)})):
        st, body, set_cookies = api(env, "POST", "/api/v0/login/", headers=headers, cookies=cookies, body=form,
                                    ctype="application/x-www-form-urlencoded")
        assert st == 403 and "CSRF" in body["message"] and not cookie_value(set_cookies, "sessionid")
    assert env["cluster"].sql("SELECT count(*) FROM session s JOIN experimenter e ON e.id = s.owner "
                              "WHERE e.omename = 'wendy'") == [["0"]]


def test_login_with_header_form_field_and_json(env):
    token = _token(env)
    variants = [
        ({"x-csrftoken": token}, _form(server=1, username="wendy", password="wendy-pw"),
         "application/x-www-form-urlencoded"),
        ({}, _form(server=1, username="wendy", password="wendy-pw", csrfmiddlewaretoken=token),
         "application/x-www-form-urlencoded"),
        ({}, _form(username="wendy", password="wendy-pw", csrftoken=token), "application/x-www-form-urlencoded"),
        ({"x-csrftoken": token}, json.dumps({"server": 1, "username": "wendy", "password": "wendy-pw"}).encode(),
         "application/json"),
    ]
    for headers, body, ctype in variants:
        st, resp, cookies = api(env, "POST", "/api/v0/login/", headers=headers, cookies={"csrftoken": token},
                                body=body, ctype=ctype)
        assert st == 200 and resp["success"] is True, resp
        ec = resp["eventContext"]
        assert ec["userName"] == "wendy" and ec["groupName"] == "web-lab" and ec["isAdmin"] is False
        assert ec["eventType"] == "User" and ec["eventId"] == -1 and 1 in ec["memberOfGroups"]
        sid = cookie_value(cookies, "sessionid")
        assert sid == ec["sessionUuid"]
        assert any(c.startswith("sessionid=") and "HttpOnly" in c for c in cookies)
        # The cookie value is a live session the router can resolve.
        ctx = ok(env["b"].call("ISession.resolve", {"session": sid}))
        assert ctx["userName"] == "wendy" and ctx["ip"] == "192.0.2.7" and ctx["agent"] == "OMERO.api"


def test_login_failures(env):
    token = _token(env)
    hdr, ck = {"x-csrftoken": token}, {"csrftoken": token}
    ct = "application/x-www-form-urlencoded"
    st, body, cookies = api(env, "POST", "/api/v0/login/", hdr, ck, _form(server=1, username="wendy", password="no"), ct)
    assert st == 403 and "check your user name and password" in body["message"] and not cookies
    st, body2, _ = api(env, "POST", "/api/v0/login/", hdr, ck, _form(server=1, username="nobody", password="no"), ct)
    assert st == 403 and body2 == body
    st, body, _ = api(env, "POST", "/api/v0/login/", hdr, ck, _form(server=1), ct)
    assert st == 403 and "Username" in body["message"] and "Password" in body["message"]
    st, body, _ = api(env, "POST", "/api/v0/login/", hdr, ck, _form(server=7, username="wendy", password="wendy-pw"), ct)
    assert st == 403 and "Server" in body["message"]
    st, body, _ = api(env, "POST", "/api/v0/login/", hdr, ck, b"{not json", "application/json")
    assert st == 400
    st, body, _ = api(env, "GET", "/api/v0/login/")
    assert st == 405


def test_logout(env):
    token = _token(env)
    st, resp, cookies = api(env, "POST", "/api/v0/login/", {"x-csrftoken": token}, {"csrftoken": token},
                            _form(server=1, username="wendy", password="wendy-pw"), "application/x-www-form-urlencoded")
    sid = cookie_value(cookies, "sessionid")
    st, body, _ = api(env, "POST", "/api/v0/logout/", {}, {"sessionid": sid})
    assert st == 403
    st, body, cookies = api(env, "POST", "/api/v0/logout/", {"x-csrftoken": token}, {"csrftoken": token, "sessionid": sid})
    assert st == 200 and body == {"success": True}
    assert any(c.startswith("sessionid=;") and "Max-Age=0" in c for c in cookies)
    failed(env["b"].call("ISession.resolve", {"session": sid}), "RemovedSessionException")


def test_iconfig(env):
    b = env["b"]
    s = ok(login(b, "wendy", "wendy-pw"))["session"]
    assert ok(b.call("IConfig.getVersion"))["version"] == "5.6.10"
    t = ok(b.call("IConfig.getServerTime"))["time"]
    dbt = ok(b.call("IConfig.getDatabaseTime"))["time"]
    assert abs(t - dbt) < 60000
    u = ok(b.call("IConfig.getDatabaseUuid"))["uuid"]
    assert [[u]] == env["cluster"].sql("SELECT value FROM configuration WHERE name = 'omero.db.uuid'")
    vals = ok(b.call("IConfig.getClientConfigValues", {}, session=s))["values"]
    defs = ok(b.call("IConfig.getClientConfigDefaults", {}, session=s))["values"]
    assert vals["omero.client.viewer.roi_limit"] == "500" and defs["omero.client.viewer.roi_limit"] == "2000"
    assert all(k.startswith("omero.client.") for k in vals)
    r = ok(b.call("IConfig.getConfigValue", {"key": "omero.client.viewer.roi_limit"}, session=s))
    assert r["value"] == "500"
    failed(b.call("IConfig.getConfigValue", {"key": "omero.db.pass"}, session=s), "SecurityViolation", 403)
    failed(b.call("IConfig.getConfigValue", {"key": "omero.db.name"}, session=s), "SecurityViolation", 403)
    failed(b.call("IConfig.getConfigValue", {"key": "omero.db.pass"}, session=env["root"]), "SecurityViolation")
    assert ok(b.call("IConfig.getConfigValue", {"key": "omero.db.name"}, session=env["root"]))["value"] == "omero"
