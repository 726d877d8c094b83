"""Helpers of the IQuery/IUpdate tests: one grid per test module (router + Blitz + embedded
PostgreSQL) and JSON calls through the router's /rpc/v1 with a session header."""
import os

import requests

from conftest import Grid, take_prefix

SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


class Api:
    """Calls /rpc/v1/<Service>/<method> over HTTPS as a logged-in user."""

    def __init__(self, grid):
        self.grid = grid
        self.base = "https://localhost:%d" % grid.port("ssl")
        self.ca = os.path.join(grid.dir, "etc", "certs", "ca.pem")
        self.http = requests.Session()

    def raw(self, service, method, body=None, session=None):
        headers = {"X-OMERO-Session": session} if session else {}
        r = self.http.post("%s/rpc/v1/%s/%s" % (self.base, service, method), json=body or {}, headers=headers,
                           verify=self.ca, timeout=60)
        return r.status_code, r.json()

    def login(self, user, password, group=None):
        body = {"username": user, "password": password}
        if group:
            body["group"] = group
        st, j = self.raw("ISession", "createSession", body)
        assert st == 200, j
        return j["session"]


def ok(reply):
    st, j = reply
    assert st == 200 and "error" not in j, j
    return j


def failed(reply, name, status=None):
    st, j = reply
    assert "error" in j, j
    assert j["error"]["name"] == name, j
    if status:
        assert st == status, j
    return j["error"]["message"]


def start_grid(installation):
    """A started grid with root logged in: (grid, api, root session, root password)."""
    prefix, lock = take_prefix()
    g = Grid(installation, prefix, lock)
    try:
        g.omero("admin", "start")
        pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
        api = Api(g)
        return g, api, api.login("root", pw), pw
    except BaseException:
        g.cleanup()
        raise


def make_group(api, root, name, perms):
    return ok(api.raw("IAdmin", "createGroup", {"group": {"Name": name}, "perms": perms}, root))["id"]


def make_user(api, root, name, group, password, others=()):
    uid = ok(api.raw("IAdmin", "createUser", {"experimenter": {"UserName": name, "FirstName": name.title(),
                                                               "LastName": "Test"},
                                              "group": group, "password": password}, root))["id"]
    if others:
        ok(api.raw("IAdmin", "addGroups", {"user": uid, "groups": list(others)}, root))
    return uid
