"""ISession on a real PostgreSQL through omero-rpc: logins, failures that never reveal whether a
user exists, throttling, disabled accounts, expiry, closing, forged ids, replicas sharing
sessions, sudo and group switches."""
import os
import stat
import time
import uuid

import pytest

from test_blitz_support import Blitz, PgCluster, cleanup_all, failed, login, ok, root_password


@pytest.fixture(scope="module")
def env():
    cluster = PgCluster()
    b0 = b1 = None
    try:
        b0 = Blitz(cluster, "Blitz-0").start()
        # A replica on the same database with a strict login throttle.
        b1 = Blitz(cluster, "Blitz-1", {"omero.security.login_failure_throttle_count": "2",
                                        "omero.security.login_failure_throttle_time": "1500",
                                        "omero.sessions.timeout": "900000",
                                        "omero.sessions.maximum": "7200000"}).start()
        rootpw = root_password(b0)
        root = ok(login(b0, "root", rootpw))["session"]
        # Two users, a group each plus a shared one; carol is a group owner of shared.
        for g in ("lab-a", "lab-b", "shared"):
            ok(b0.call("IAdmin.createGroup", {"group": {"Name": g, "omero:details": {"permissions": {"perm": "rwr---"}}}},
                       session=root))
        for name, group in (("alice", "lab-a"), ("bob", "lab-b"), ("carol", "shared")):
            ok(b0.call("IAdmin.createUser", {"experimenter": {"UserName": name, "FirstName": name.title(),
                                                              "LastName": "Test"}, "group": group,
                                             "password": name + "-pw"}, session=root))
        ok(b0.call("IAdmin.addGroups", {"user": "alice", "groups": ["shared"]}, session=root))
        ok(b0.call("IAdmin.setGroupOwner", {"group": "shared", "user": "carol"}, session=root))
        yield {"cluster": cluster, "b0": b0, "b1": b1, "rootpw": rootpw, "root": root}
    finally:
        cleanup_all((b0, b1), cluster)


def test_root_password_generated_and_private(env):
    b0 = env["b0"]
    path = os.path.join(b0.dir, "var", "master", "root_password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(env["rootpw"]) >= 20
    assert "root_password" in b0.log()
    # The second replica found the password set and kept it.
    assert not os.path.exists(os.path.join(env["b1"].dir, "var", "master", "root_password"))
    hashes = env["cluster"].sql("SELECT hash FROM password WHERE experimenter_id = 0")
    assert hashes[0][0].startswith("$pbkdf2-sha256$i=")
    assert env["rootpw"] not in hashes[0][0]


def test_login_success_returns_event_context(env):
    r = ok(login(env["b0"], "alice", "alice-pw", agent="OMERO.cli", ip="10.1.2.3"))
    ec, ctx = r["eventContext"], r["ctx"]
    uuid.UUID(r["session"])
    assert ec["userName"] == "alice" and ec["groupName"] == "lab-a" and ec["isAdmin"] is False
    assert ec["sessionUuid"] == r["session"] and isinstance(ec["sessionId"], int)
    assert 1 in ec["memberOfGroups"] and ec["groupId"] in ec["memberOfGroups"]
    assert ec["groupPermissions"]["perm"] == "rwr---"
    assert ctx["userName"] == "alice" and ctx["admin"] is False and ctx["privileges"] == []
    assert ctx["sudoer"] is None and ctx["ip"] == "10.1.2.3" and ctx["agent"] == "OMERO.cli"
    assert r["timeToIdle"] == 600000
    row = env["cluster"].sql("SELECT s.owner, s.useragent, s.userip FROM session s JOIN blitz_session b "
                             "ON b.session_id = s.id WHERE s.uuid = '%s'" % r["session"])
    assert row[0][1:] == ["OMERO.cli", "10.1.2.3"]
    # The login is recorded as an Event (type Sessions) with an EventLog row for the session.
    ev = env["cluster"].sql("SELECT t.value, l.action FROM eventlog l JOIN event e ON e.id = l.event "
                            "JOIN eventtype t ON t.id = e.type WHERE l.entitytype = 'ome.model.meta.Session' "
                            "AND l.entityid = %d" % ec["sessionId"])
    assert ["Sessions", "INSERT"] in ev


def test_configured_session_timeouts(env):
    r = ok(login(env["b1"], "alice", "alice-pw"))
    assert r["timeToIdle"] == 900000 and r["timeToLive"] == 7200000
    s = ok(env["b0"].call("ISession.getSession", {"session": r["session"]}))
    assert s["timeToIdle"] == 900000 and s["timeToLive"] == 7200000
    # A user asking for more than omero.sessions.max_user_time_to_idle gets that maximum.
    r = ok(login(env["b0"], "alice", "alice-pw", timeToIdle=10 ** 9))
    assert r["timeToIdle"] == 6000000


def test_login_with_group_and_omero_principal_form(env):
    r = ok(env["b0"].call("ISession.createSession", {"principal": {"name": "alice", "group": "shared"},
                                                     "credentials": "alice-pw"}))
    assert r["eventContext"]["groupName"] == "shared"
    f = failed(login(env["b0"], "alice", "alice-pw", group="lab-b"), "SecurityViolation", 403)
    assert "not a member" in f["message"]


def test_wrong_password_and_unknown_user_look_the_same(env):
    b0 = env["b0"]
    wrong = [login(b0, "alice", "not-her-password") for _ in range(4)]
    unknown = [login(b0, "no-such-user-%d" % i, "whatever") for i in range(4)]
    for r in wrong + unknown:
        failed(r, "PermissionDeniedException", 403)
    assert {r["error"]["message"] for r in wrong} == {r["error"]["message"] for r in unknown}
    # The hash runs for unknown users too: the times are of the same order (a login that skipped
    # the hash would be tens of times faster).
    t_wrong = sorted(r["ms"] for r in wrong)[1]
    t_unknown = sorted(r["ms"] for r in unknown)[1]
    print("failed login: wrong password %.0f ms, unknown user %.0f ms" % (t_wrong, t_unknown))
    assert t_unknown > t_wrong / 3 and t_wrong > t_unknown / 3


def test_login_benchmark(env):
    """Benchmark figure: a login with the slow hash (omero-rpc round trip, mean of 5)."""
    r = env["b0"].call("ISession.createSession", {"username": "bob", "password": "bob-pw"}, repeat=5)
    ok(r)
    print("\nBENCH login with PBKDF2-SHA256 (100000 iterations): mean %.1f ms, min %.1f ms per createSession"
          % (r["ms"], r["ms_min"]))
    r = env["b0"].call("ISession.resolve", {"session": r["body"]["session"]}, repeat=100)
    ok(r)
    print("BENCH ISession.resolve (what a router does per uncached request): mean %.2f ms" % r["ms"])


def test_throttling_after_repeated_failures(env):
    b1 = env["b1"]
    t0 = time.time()
    failed(login(b1, "bob", "bad-1"), "PermissionDeniedException")
    first = time.time() - t0
    failed(login(b1, "bob", "bad-2"))
    t0 = time.time()
    failed(login(b1, "bob", "bad-3"), "PermissionDeniedException")
    third = time.time() - t0
    assert third >= 1.5 and first < third
    # Unknown names are throttled the same way (nothing tells them apart).
    for i in range(2):
        failed(login(b1, "ghost", "x"))
    t0 = time.time()
    failed(login(b1, "ghost", "x"))
    assert time.time() - t0 >= 1.5
    # The right password still works and resets the count.
    ok(login(b1, "bob", "bob-pw"))
    assert env["cluster"].sql("SELECT count(*) FROM blitz_login_failure WHERE name = 'bob'") == [["0"]]


def test_disabled_account_refused(env):
    b0, root = env["b0"], env["root"]
    ok(b0.call("IAdmin.createUser", {"experimenter": {"UserName": "dave", "FirstName": "D", "LastName": "T"},
                                     "group": "lab-a", "password": "dave-pw"}, session=root))
    s = ok(login(b0, "dave", "dave-pw"))["session"]
    ok(b0.call("IAdmin.removeGroups", {"user": "dave", "groups": ["user"]}, session=root))
    f = failed(login(b0, "dave", "dave-pw"), "SecurityViolation", 403)
    assert "disabled" in f["message"]
    # Existing sessions of a disabled user stop working too.
    failed(b0.call("ISession.resolve", {"session": s}), "RemovedSessionException")
    ok(b0.call("IAdmin.addGroups", {"user": "dave", "groups": ["user"]}, session=root))
    ok(login(b0, "dave", "dave-pw"))


def test_guest_and_root_without_password_cannot_log_in(env):
    failed(login(env["b0"], "guest", ""), None, None)
    failed(login(env["b0"], "guest", "guest"), "PermissionDeniedException")


def test_sessions_are_shared_by_replicas(env):
    r = ok(login(env["b0"], "alice", "alice-pw"))
    ctx = ok(env["b1"].call("ISession.resolve", {"session": r["session"]}))
    assert ctx["userName"] == "alice" and ctx["session"] == r["session"] and ctx["groupId"] == r["ctx"]["groupId"]
    ok(env["b1"].call("ISession.closeSession", {"session": r["session"]}))
    failed(env["b0"].call("ISession.resolve", {"session": r["session"]}), "RemovedSessionException", 401)


def test_close_session_and_join(env):
    b0 = env["b0"]
    r = ok(login(b0, "alice", "alice-pw"))
    j = ok(b0.call("ISession.joinSession", {"session": r["session"]}))
    assert j["session"] == r["session"] and j["eventContext"]["userName"] == "alice"
    # OMERO: the uuid given as the password joins the session (the principal is ignored).
    j = ok(env["b1"].call("ISession.createSession", {"username": "whoever", "password": r["session"]}))
    assert j["session"] == r["session"]
    c = ok(b0.call("ISession.closeSession", {"session": r["session"]}))
    assert c["invalidate"] == [r["session"]]
    ev = env["cluster"].sql("SELECT e.experimenter, e.\"session\" FROM eventlog l JOIN event e ON e.id = l.event "
                            "WHERE l.entitytype = 'ome.model.meta.Session' AND l.action = 'UPDATE' "
                            "AND l.entityid = %d" % r["sessionId"])
    assert ev == [[str(r["ctx"]["userId"]), str(r["sessionId"])]]
    failed(b0.call("ISession.resolve", {"session": r["session"]}), "RemovedSessionException")
    failed(b0.call("ISession.joinSession", {"session": r["session"]}), "RemovedSessionException")
    failed(b0.call("ISession.closeSession", {"session": r["session"]}), "RemovedSessionException")
    failed(b0.call("IAdmin.getEventContext", {}, session=r["session"]), "RemovedSessionException")


def test_forged_session_ids(env):
    b0 = env["b0"]
    for forged in (str(uuid.uuid4()), "BOOTSTRAP", "PREVIOUSITEMS", "' OR 1=1 --", "x" * 300, ""):
        r = b0.call("ISession.resolve", {"session": forged})
        assert r["error"]["name"] in ("SessionException", "RemovedSessionException"), (forged, r)
        assert r["status"] == 401
    # No ctx at all: services that need a session refuse.
    failed(b0.call("IAdmin.getEventContext", {}), "SessionException", 401)


def test_idle_timeout_expires_session(env):
    b0, cluster = env["b0"], env["cluster"]
    r = ok(login(b0, "alice", "alice-pw", timeToIdle=2000))
    assert r["timeToIdle"] == 2000
    ok(b0.call("ISession.keepAlive", {"session": r["session"]}))
    time.sleep(0.8)
    ok(b0.call("ISession.keepAlive", {"session": r["session"]}))
    time.sleep(1.0)   # about 2 s since login but only 1 s idle
    ok(b0.call("ISession.resolve", {"session": r["session"]}))
    time.sleep(2.5)
    f = failed(b0.call("ISession.resolve", {"session": r["session"]}), "RemovedSessionException", 401)
    assert "expired" in f["message"]
    assert cluster.sql("SELECT closed IS NOT NULL FROM session WHERE uuid = '%s'" % r["session"]) == [["t"]]


def test_maximum_lifetime(env):
    b0 = env["b0"]
    t0 = time.time()
    r = ok(login(b0, "alice", "alice-pw", timeToLive=3000))
    for _ in range(3):
        if time.time() - t0 < 2.0:
            ok(b0.call("ISession.keepAlive", {"session": r["session"]}))
        time.sleep(0.3)
    time.sleep(max(0.0, t0 + 3.3 - time.time()))
    f = failed(b0.call("ISession.keepAlive", {"session": r["session"]}), "RemovedSessionException")
    assert "lifetime" in f["message"]


def test_last_access_written_at_most_every_few_seconds(env):
    b0, cluster = env["b0"], env["cluster"]
    r = ok(login(b0, "alice", "alice-pw"))
    q = "SELECT b.last_access FROM blitz_session b JOIN session s ON s.id = b.session_id WHERE s.uuid = '%s'" \
        % r["session"]
    before = cluster.sql(q)
    for _ in range(5):
        ok(b0.call("ISession.resolve", {"session": r["session"]}))
    assert cluster.sql(q) == before
    time.sleep(0.05)
    ok(b0.call("ISession.keepAlive", {"session": r["session"]}))
    assert cluster.sql(q) != before


def test_get_session(env):
    r = ok(login(env["b0"], "alice", "alice-pw", agent="pytest"))
    s = ok(env["b0"].call("ISession.getSession", {}, session=r["session"]))
    assert s["uuid"] == r["session"] and s["owner"]["UserName"] == "alice" and s["userAgent"] == "pytest"
    assert s["timeToIdle"] == 600000 and s["sudoer"] is None


def test_sudo_by_admin(env):
    b0, root = env["b0"], env["root"]
    r = ok(b0.call("ISession.createSessionWithTimeout",
                   {"principal": {"name": "alice", "group": "shared", "eventType": "User"}, "timeout": 180000},
                   session=root))
    assert r["eventContext"]["userName"] == "alice" and r["eventContext"]["groupName"] == "shared"
    assert r["eventContext"]["sudoerName"] == "root"
    assert r["ctx"]["sudoer"] == {"id": 0, "userName": "root"} and r["timeToIdle"] == 180000
    ctx = ok(b0.call("ISession.resolve", {"session": r["session"]}))
    assert ctx["userName"] == "alice" and ctx["sudoer"]["userName"] == "root"
    # The CLI's --sudo: the administrator's name and password open a session as the user.
    r = ok(login(b0, "bob", env["rootpw"], sudo="root"))
    assert r["ctx"]["userName"] == "bob" and r["ctx"]["sudoer"]["userName"] == "root"
    # Wrong sudoer password: the usual login failure.
    failed(login(b0, "bob", "bob-pw", sudo="root"), "PermissionDeniedException")


def test_sudo_refused_for_non_admins(env):
    b0 = env["b0"]
    alice = ok(login(b0, "alice", "alice-pw"))["session"]
    f = failed(b0.call("ISession.createSessionWithTimeout", {"principal": {"name": "bob"}, "timeout": 60000},
                       session=alice), "SecurityViolation", 403)
    assert "may not" in f["message"]
    failed(login(b0, "bob", "alice-pw", sudo="alice"), "SecurityViolation", 403)
    failed(b0.call("ISession.createSessionWithTimeout", {"principal": {"name": "root"}}, session=alice),
           "SecurityViolation")
    # A user may open another session as themselves.
    r = ok(b0.call("ISession.createSessionWithTimeout", {"principal": {"name": "alice"}, "timeout": 60000},
                   session=alice))
    assert r["ctx"]["sudoer"] is None and r["session"] != alice


def test_group_owner_may_sudo_to_members_of_their_group(env):
    b0 = env["b0"]
    carol = ok(login(b0, "carol", "carol-pw"))["session"]
    r = ok(b0.call("ISession.createSessionWithTimeout", {"principal": {"name": "alice"}}, session=carol))
    assert r["ctx"]["userName"] == "alice" and r["ctx"]["sudoer"]["userName"] == "carol"
    failed(b0.call("ISession.createSessionWithTimeout", {"principal": {"name": "bob"}}, session=carol),
           "SecurityViolation")


def test_group_switch(env):
    b0 = env["b0"]
    r = ok(login(b0, "alice", "alice-pw"))
    s = r["session"]
    assert r["eventContext"]["groupName"] == "lab-a"
    sw = ok(b0.call("ISession.setSecurityContext", {"group": "shared"}, session=s))
    assert sw["eventContext"]["groupName"] == "shared" and sw["invalidate"] == [s]
    ctx = ok(env["b1"].call("ISession.resolve", {"session": s}))
    assert ctx["groupId"] == sw["ctx"]["groupId"]
    f = failed(b0.call("ISession.setSecurityContext", {"group": "lab-b"}, session=s), "SecurityViolation", 403)
    assert "not a member" in f["message"]
    failed(b0.call("ISession.setSecurityContext", {"group": "no-such-group"}, session=s), "NotFoundException", 404)
    ec = ok(b0.call("IAdmin.getEventContext", {}, session=s))
    assert ec["groupName"] == "shared"


def test_update_session_timeout(env):
    b0 = env["b0"]
    a = ok(login(b0, "alice", "alice-pw"))["session"]
    bob = ok(login(b0, "bob", "bob-pw"))["session"]
    s = ok(b0.call("ISession.updateSessionTimeout", {"session": a, "timeToIdle": 120000}, session=a))
    assert s["timeToIdle"] == 120000 and s["uuid"] == a
    f = failed(b0.call("ISession.updateSessionTimeout", {"session": a, "timeToIdle": 1}, session=bob),
               "SecurityViolation", 403)
    assert "owner" in f["message"]
    ok(b0.call("ISession.updateSessionTimeout", {"session": a, "timeToLive": 3600000}, session=env["root"]))
    s = ok(b0.call("ISession.getSession", {"session": a}))
    assert s["timeToIdle"] == 120000 and s["timeToLive"] == 3600000
    # Users cannot ask for more than omero.sessions.max_user_time_to_idle (6000000 ms).
    s = ok(b0.call("ISession.updateSessionTimeout", {"session": a, "timeToIdle": 0}, session=a))
    assert s["timeToIdle"] == 6000000


def test_current_sessions(env):
    b0 = env["b0"]
    a = ok(login(b0, "alice", "alice-pw"))["session"]
    mine = ok(b0.call("ISession.currentSessions", {}, session=a))
    assert mine["sessions"] and all(s["owner"]["UserName"] == "alice" for s in mine["sessions"])
    assert a in [s["uuid"] for s in mine["sessions"]]
    assert [c["userName"] for c in mine["contexts"]] == ["alice"] * len(mine["sessions"])
    every = ok(b0.call("ISession.currentSessions", {}, session=env["root"]))
    names = {s["owner"]["UserName"] for s in every["sessions"]}
    assert {"root", "alice", "bob"} <= names
    closed = ok(login(b0, "alice", "alice-pw"))["session"]
    ok(b0.call("ISession.closeSession", {"session": closed}))
    assert closed not in [s["uuid"] for s in ok(b0.call("ISession.currentSessions", {}, session=a))["sessions"]]


def test_reconnects_after_database_connections_are_lost(env):
    b0, cluster = env["b0"], env["cluster"]
    s = ok(login(b0, "alice", "alice-pw"))["session"]
    killed = cluster.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = 'omero-blitz' AND pid <> pg_backend_pid()")
    assert int(killed[0][0]) >= 2
    # Every worker finds its connection gone and opens a new one; no call fails.
    for _ in range(8):
        assert ok(b0.call("IAdmin.getEventContext", {}, session=s))["userName"] == "alice"
    ok(login(b0, "bob", "bob-pw"))


def test_concurrent_logins_and_calls(env):
    """Workers share nothing but the database: parallel logins, resolves and admin reads from
    many clients on both replicas all succeed and see their own session."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        b = env["b0"] if i % 2 else env["b1"]
        user = ("alice", "bob", "carol")[i % 3]
        r = ok(login(b, user, user + "-pw"))
        ctx = ok(b.call("ISession.resolve", {"session": r["session"]}))
        ec = ok(b.call("IAdmin.getEventContext", {}, session=r["session"]))
        ok(b.call("ISession.closeSession", {"session": r["session"]}))
        return ctx["userName"] == user and ec["userName"] == user and ec["sessionUuid"] == r["session"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(24)))
    assert all(results)
