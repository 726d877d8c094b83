"""IAdmin on a real PostgreSQL through omero-rpc: users, groups, membership and owners, passwords
(slow salted hashes, never logged), default groups, group permission levels with OMERO's rules,
and every refusal: non-admins, group owners outside their group, the last administrator, renaming
root or guest, restricted administrators."""
import pytest

from test_blitz_support import Blitz, PgCluster, cleanup_all, failed, login, ok, root_password

SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
PASSWORDS = {"ann": "ann-Secret-1", "ben": "ben-Secret-2", "pi": "pi-Secret-3", "adm2": "adm2-Secret-4"}


@pytest.fixture(scope="module")
def env():
    cluster = PgCluster()
    b = None
    try:
        b = Blitz(cluster).start()
        rootpw = root_password(b)
        root = ok(login(b, "root", rootpw))["session"]
        ids = {}
        for g, perm in (("grp-a", "rwr---"), ("grp-b", "rw----")):
            ids[g] = ok(b.call("IAdmin.createGroup", {"group": {"Name": g, "Description": "group " + g,
                                                                "omero:details": {"permissions": {"perm": perm}}}},
                               session=root))["id"]
        for name, group in (("ann", "grp-a"), ("ben", "grp-b"), ("pi", "grp-a")):
            ids[name] = ok(b.call("IAdmin.createUser", {"experimenter": {
                "UserName": name, "FirstName": name.title(), "LastName": "Lab", "Email": name + "@example.org",
                "Institution": "Dundee"}, "group": group, "password": PASSWORDS[name]}, session=root))["id"]
        ok(b.call("IAdmin.setGroupOwner", {"group": "grp-a", "user": "pi"}, session=root))
        ids["adm2"] = ok(b.call("IAdmin.createSystemUser", {"experimenter": {"UserName": "adm2", "FirstName": "A",
                                                                             "LastName": "Two"},
                                                            "password": PASSWORDS["adm2"]}, session=root))["id"]
        sessions = {"root": root}
        for name in PASSWORDS:
            sessions[name] = ok(login(b, name, PASSWORDS[name]))["session"]
        yield {"cluster": cluster, "b": b, "rootpw": rootpw, "s": sessions, "ids": ids}
    finally:
        cleanup_all((b,), cluster)


def call(env, who, op, body=None):
    return env["b"].call(op, body or {}, session=env["s"][who])


def test_security_roles(env):
    r = ok(call(env, "ann", "IAdmin.getSecurityRoles"))
    assert r == {"rootId": 0, "rootName": "root", "guestId": 1, "guestName": "guest", "systemGroupId": 0,
                 "systemGroupName": "system", "userGroupId": 1, "userGroupName": "user", "guestGroupId": 2,
                 "guestGroupName": "guest"}


def test_experimenter_json_and_lookups(env):
    e = ok(call(env, "ann", "IAdmin.lookupExperimenter", {"name": "ann"}))
    assert e["@type"] == SCHEMA + "#Experimenter" and e["@id"] == env["ids"]["ann"]
    assert e["UserName"] == "ann" and e["FirstName"] == "Ann" and e["Email"] == "ann@example.org"
    assert e["omero:details"]["@type"] == "TBD#Details" and "MiddleName" not in e
    assert ok(call(env, "ann", "IAdmin.getExperimenter", {"id": e["@id"]})) == e
    names = [x["UserName"] for x in ok(call(env, "ann", "IAdmin.lookupExperimenters"))["data"]]
    assert names[:2] == ["root", "guest"] and {"ann", "ben", "pi", "adm2"} <= set(names)
    failed(call(env, "ann", "IAdmin.lookupExperimenter", {"name": "nobody"}), None, 404)
    failed(call(env, "ann", "IAdmin.getExperimenter", {"id": 99999}), "NotFoundException", 404)


def test_group_json_levels_and_lookups(env):
    g = ok(call(env, "ann", "IAdmin.lookupGroup", {"name": "grp-a"}))
    assert g["@type"] == SCHEMA + "#ExperimenterGroup" and g["Name"] == "grp-a" and g["Description"] == "group grp-a"
    assert g["omero:details"]["permissions"]["perm"] == "rwr---"
    assert ok(call(env, "ann", "IAdmin.getGroup", {"id": g["@id"]})) == g
    names = [x["Name"] for x in ok(call(env, "ann", "IAdmin.lookupGroups"))["data"]]
    assert names[:3] == ["system", "user", "guest"]
    root = env["s"]["root"]
    expected = {"rw----": -120, "rwr---": -56, "rwra--": -40, "rwrw--": -8}
    for perm, bits in expected.items():
        gid = ok(env["b"].call("IAdmin.createGroup", {"group": {"Name": "lvl-" + perm}, "perms": perm},
                               session=root))["id"]
        assert env["cluster"].sql("SELECT permissions FROM experimentergroup WHERE id = %d" % gid) == [[str(bits)]]
    gid = ok(env["b"].call("IAdmin.createGroup", {"group": {"Name": "default-level"}}, session=root))["id"]
    assert ok(call(env, "ann", "IAdmin.getGroup", {"id": gid}))["omero:details"]["permissions"]["perm"] == "rw----"
    failed(env["b"].call("IAdmin.createGroup", {"group": {"Name": "bad"}, "perms": "rwx---"}, session=root),
           "ApiUsageException", 400)
    failed(env["b"].call("IAdmin.createGroup", {"group": {"Name": "grp-a"}}, session=root), "ValidationException", 409)
    failed(env["b"].call("IAdmin.createGroup", {"group": {"Name": ""}}, session=root), "ValidationException", 400)


def test_create_user_validation_and_rights(env):
    root = env["s"]["root"]
    b = env["b"]
    failed(b.call("IAdmin.createUser", {"experimenter": {"UserName": "ann", "FirstName": "x", "LastName": "y"},
                                        "group": "grp-a"}, session=root), "ValidationException", 409)
    failed(b.call("IAdmin.createUser", {"experimenter": {"UserName": "nofirst", "LastName": "y"}, "group": "grp-a"},
                  session=root), "ValidationException", 400)
    failed(b.call("IAdmin.createUser", {"experimenter": {"UserName": "x1", "FirstName": "x", "LastName": "y"},
                                        "group": "no-such-group"}, session=root), "NotFoundException", 404)
    assert env["cluster"].sql("SELECT count(*) FROM experimenter WHERE omename IN ('nofirst', 'x1')") == [["0"]]
    for who in ("ann", "pi"):
        f = failed(call(env, who, "IAdmin.createUser", {"experimenter": {"UserName": "x2", "FirstName": "x",
                                                                         "LastName": "y"}, "group": "grp-a"}),
                   "SecurityViolation", 403)
        assert "administrators" in f["message"]
        failed(call(env, who, "IAdmin.createGroup", {"group": {"Name": "mine"}}), "SecurityViolation", 403)
    # createExperimenter: exactly the groups given, default first.
    uid = ok(b.call("IAdmin.createExperimenter", {"experimenter": {"UserName": "multi", "FirstName": "M",
                                                                   "LastName": "G"},
                                                  "defaultGroup": "grp-b", "groups": ["grp-a", "user"],
                                                  "password": "multi-pw"}, session=root))["id"]
    groups = ok(b.call("IAdmin.containedGroups", {"user": uid}, session=root))["data"]
    assert [g["Name"] for g in groups] == ["grp-b", "grp-a", "user"]
    assert ok(login(b, "multi", "multi-pw"))["eventContext"]["groupName"] == "grp-b"


def test_update_experimenter_rules(env):
    b, root = env["b"], env["s"]["root"]
    ok(b.call("IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ben"], "FirstName": "Benjamin",
                                                             "MiddleName": "Q"}}, session=root))
    e = ok(call(env, "ben", "IAdmin.getExperimenter", {"id": env["ids"]["ben"]}))
    assert e["FirstName"] == "Benjamin" and e["MiddleName"] == "Q" and e["LastName"] == "Lab"
    failed(call(env, "ann", "IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ben"],
                                                                            "FirstName": "Hacked"}}),
           "SecurityViolation", 403)
    failed(call(env, "pi", "IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ann"],
                                                                           "LastName": "Hacked"}}), "SecurityViolation")
    ok(call(env, "ann", "IAdmin.updateSelf", {"experimenter": {"LastName": "Lab-Renamed"}}))
    assert ok(call(env, "ann", "IAdmin.getExperimenter", {"id": env["ids"]["ann"]}))["LastName"] == "Lab-Renamed"
    failed(call(env, "ann", "IAdmin.updateSelf", {"experimenter": {"UserName": "annie"}}), "SecurityViolation")
    for special in (0, 1):
        f = failed(b.call("IAdmin.updateExperimenter", {"experimenter": {"@id": special, "UserName": "renamed"}},
                          session=root), "SecurityViolation", 403)
        assert "cannot be renamed" in f["message"]
    assert env["cluster"].sql("SELECT omename FROM experimenter WHERE id IN (0, 1) ORDER BY id") == [["root"], ["guest"]]
    # Renaming a normal user is allowed for administrators; a taken name is refused.
    ok(b.call("IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ben"], "UserName": "benny"}},
              session=root))
    failed(b.call("IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ben"], "UserName": "ann"}},
                  session=root), "ValidationException", 409)
    ok(b.call("IAdmin.updateExperimenter", {"experimenter": {"@id": env["ids"]["ben"], "UserName": "ben"}},
              session=root))


def test_update_group_rules(env):
    b, root = env["b"], env["s"]["root"]
    ok(call(env, "pi", "IAdmin.updateGroup", {"group": {"@id": env["ids"]["grp-a"], "Description": "PI's lab"}}))
    assert ok(call(env, "ann", "IAdmin.getGroup", {"id": env["ids"]["grp-a"]}))["Description"] == "PI's lab"
    failed(call(env, "pi", "IAdmin.updateGroup", {"group": {"@id": env["ids"]["grp-b"], "Description": "mine"}}),
           "SecurityViolation", 403)
    failed(call(env, "ann", "IAdmin.updateGroup", {"group": {"@id": env["ids"]["grp-a"], "Description": "x"}}),
           "SecurityViolation", 403)
    for builtin in (0, 1, 2):
        f = failed(b.call("IAdmin.updateGroup", {"group": {"@id": builtin, "Name": "renamed"}}, session=root),
                   "SecurityViolation", 403)
        assert "cannot be renamed" in f["message"]
    gid = ok(b.call("IAdmin.createGroup", {"group": {"Name": "to-rename"}}, session=root))["id"]
    ok(b.call("IAdmin.updateGroup", {"group": {"@id": gid, "Name": "renamed-group"}}, session=root))
    assert ok(call(env, "ann", "IAdmin.lookupGroup", {"name": "renamed-group"}))["@id"] == gid


def test_membership_by_admin_and_group_owner(env):
    b, root, ids = env["b"], env["s"]["root"], env["ids"]
    # The owner of grp-a manages grp-a's members …
    ok(call(env, "pi", "IAdmin.addGroups", {"user": "ben", "groups": ["grp-a"]}))
    assert ids["grp-a"] in ok(call(env, "ben", "IAdmin.getMemberOfGroupIds"))["data"]
    members = [e["UserName"] for e in ok(call(env, "pi", "IAdmin.containedExperimenters", {"group": "grp-a"}))["data"]]
    assert {"ann", "pi", "ben"} <= set(members)
    ok(call(env, "pi", "IAdmin.removeGroups", {"user": "ben", "groups": ["grp-a"]}))
    assert ids["grp-a"] not in ok(call(env, "ben", "IAdmin.getMemberOfGroupIds"))["data"]
    # … but not another group's, nor the built-in groups.
    f = failed(call(env, "pi", "IAdmin.addGroups", {"user": "ann", "groups": ["grp-b"]}), "SecurityViolation", 403)
    assert "owners of group" in f["message"]
    failed(call(env, "pi", "IAdmin.removeGroups", {"user": "ben", "groups": ["grp-b"]}), "SecurityViolation")
    failed(call(env, "pi", "IAdmin.addGroups", {"user": "pi", "groups": ["system"]}), "SecurityViolation")
    failed(call(env, "pi", "IAdmin.removeGroups", {"user": "ann", "groups": ["user"]}), "SecurityViolation")
    # A plain member manages nothing.
    failed(call(env, "ann", "IAdmin.addGroups", {"user": "ben", "groups": ["grp-a"]}), "SecurityViolation", 403)
    failed(call(env, "ann", "IAdmin.setGroupOwner", {"group": "grp-a", "user": "ann"}), "SecurityViolation", 403)
    # Owners: set, list, unset; addGroupOwners for several.
    ok(call(env, "pi", "IAdmin.setGroupOwner", {"group": "grp-a", "user": "ann"}))
    assert ok(call(env, "ann", "IAdmin.getLeaderOfGroupIds"))["data"] == [ids["grp-a"]]
    ok(call(env, "pi", "IAdmin.unsetGroupOwner", {"group": "grp-a", "user": "ann"}))
    assert ok(call(env, "ann", "IAdmin.getLeaderOfGroupIds"))["data"] == []
    ok(b.call("IAdmin.addGroupOwners", {"group": "grp-b", "users": ["ann", "ben"]}, session=root))
    assert ids["grp-b"] in ok(call(env, "ann", "IAdmin.getMemberOfGroupIds"))["data"]
    assert ok(b.call("IAdmin.getLeaderOfGroupIds", {"user": "ben"}, session=root))["data"] == [ids["grp-b"]]
    ok(b.call("IAdmin.removeGroupOwners", {"group": "grp-b", "users": ["ann", "ben"]}, session=root))
    ok(b.call("IAdmin.removeGroups", {"user": "ann", "groups": ["grp-b"]}, session=root))
    # Every change is an Event by the caller with EventLog rows.
    rows = env["cluster"].sql("SELECT e.experimenter, l.action FROM eventlog l JOIN event e ON e.id = l.event "
                              "WHERE l.entitytype = 'ome.model.meta.GroupExperimenterMap'")
    assert [str(ids["pi"]), "INSERT"] in rows and [str(ids["pi"]), "DELETE"] in rows and ["0", "UPDATE"] in rows


def test_last_admin_and_root_stay_admins(env):
    b, root = env["b"], env["s"]["root"]
    f = failed(b.call("IAdmin.removeGroups", {"user": "root", "groups": ["system"]}, session=root),
               "SecurityViolation", 403)
    assert "root" in f["message"]
    failed(b.call("IAdmin.removeGroups", {"user": "root", "groups": ["user"]}, session=root), "SecurityViolation")
    failed(b.call("IAdmin.removeGroups", {"user": "guest", "groups": ["guest"]}, session=root), "SecurityViolation")
    # Two administrators: one may be removed, not both (root always remains).
    ok(b.call("IAdmin.removeGroups", {"user": "adm2", "groups": ["system"]}, session=root))
    assert ok(b.call("IAdmin.containedExperimenters", {"group": "system"}, session=root))["data"][0]["UserName"] \
        == "root"
    ok(b.call("IAdmin.addGroups", {"user": "adm2", "groups": ["system"]}, session=root))
    assert env["cluster"].sql("SELECT count(*) FROM groupexperimentermap WHERE parent = 0") == [["2"]]


def test_restricted_administrator(env):
    b, cluster = env["b"], env["cluster"]
    root = env["s"]["root"]
    everything = ok(b.call("IAdmin.getAdminPrivileges", {"user": "root"}, session=root))["data"]
    assert len(everything) == 15
    ok(b.call("IAdmin.setAdminPrivileges", {"user": "adm2", "privileges": [p for p in everything if p != "ModifyUser"]},
              session=root))
    assert cluster.sql("SELECT name, value FROM experimenter_config WHERE experimenter_id = %d" % env["ids"]["adm2"]) \
        == [["AdminPrivilege:ModifyUser", "false"]]
    failed(b.call("IAdmin.setAdminPrivileges", {"user": "root", "privileges": []}, session=root), "SecurityViolation")
    failed(b.call("IAdmin.setAdminPrivileges", {"user": "adm2", "privileges": ["Fly"]}, session=root),
           "ApiUsageException")
    holders = ok(b.call("IAdmin.getAdminsWithPrivileges", {"privileges": ["ModifyUser"]}, session=root))["data"]
    assert [e["UserName"] for e in holders] == ["root"]
    s = ok(login(b, "adm2", PASSWORDS["adm2"]))["session"]
    ec = ok(b.call("IAdmin.getEventContext", {}, session=s))
    assert ec["isAdmin"] is True and "ModifyUser" not in ec["adminPrivileges"] and "ModifyGroup" in ec["adminPrivileges"]
    f = failed(b.call("IAdmin.createUser", {"experimenter": {"UserName": "r1", "FirstName": "r", "LastName": "r"},
                                            "group": "grp-a"}, session=s), "SecurityViolation", 403)
    assert "ModifyUser" in f["message"]
    ok(b.call("IAdmin.createGroup", {"group": {"Name": "by-adm2"}}, session=s))
    # No escalation: a restricted administrator cannot make administrators or sudo to a full one.
    failed(b.call("IAdmin.addGroups", {"user": "ann", "groups": ["system"]}, session=s), "SecurityViolation")
    failed(b.call("ISession.createSessionWithTimeout", {"principal": {"name": "root"}}, session=s), "SecurityViolation")
    r = ok(b.call("ISession.createSessionWithTimeout", {"principal": {"name": "ann"}}, session=s))
    assert r["ctx"]["sudoer"]["userName"] == "adm2"
    assert ok(b.call("IAdmin.getAdminPrivileges", {"user": "adm2"}, session=s))["data"] == ec["adminPrivileges"]
    # Only full administrators set privileges; a restricted one cannot lift its own restriction.
    failed(b.call("IAdmin.setAdminPrivileges", {"user": "adm2", "privileges": everything}, session=s),
           "SecurityViolation", 403)
    # A restricted administrator created in one call (the Importer role: Sudo only).
    lid = ok(b.call("IAdmin.createLightSystemUser", {"experimenter": {"UserName": "importer", "FirstName": "I",
                                                                       "LastName": "Mp"},
                                                     "privileges": ["Sudo"], "password": "imp-Secret-6"},
                    session=root))["id"]
    ec = ok(login(b, "importer", "imp-Secret-6"))["eventContext"]
    assert ec["isAdmin"] is True and ec["adminPrivileges"] == ["Sudo"] and ec["userId"] == lid
    ok(b.call("IAdmin.setAdminPrivileges", {"user": "adm2", "privileges": everything}, session=root))
    assert cluster.sql("SELECT count(*) FROM experimenter_config WHERE experimenter_id = %d" % env["ids"]["adm2"]) \
        == [["0"]]


def test_passwords(env):
    b, cluster = env["b"], env["cluster"]
    f = failed(call(env, "ann", "IAdmin.changePassword", {"oldPassword": "wrong", "newPassword": "x-new-1"}),
               "SecurityViolation", 403)
    assert "old password" in f["message"]
    ok(call(env, "ann", "IAdmin.changePassword", {"oldPassword": PASSWORDS["ann"], "newPassword": "ann-New-5"}))
    failed(login(b, "ann", PASSWORDS["ann"]), "PermissionDeniedException")
    ok(login(b, "ann", "ann-New-5"))
    failed(call(env, "ann", "IAdmin.changeUserPassword", {"user": "ben", "password": "owned"}), "SecurityViolation")
    failed(call(env, "pi", "IAdmin.changeUserPassword", {"user": "ann", "password": "owned"}), "SecurityViolation")
    failed(b.call("IAdmin.changeUserPassword", {"user": "ann", "password": ""}, session=env["s"]["root"]),
           "ValidationException", 400)
    ok(b.call("IAdmin.changeUserPassword", {"user": "ann", "password": PASSWORDS["ann"]}, session=env["s"]["root"]))
    ok(login(b, "ann", PASSWORDS["ann"]))
    # Stored as slow salted hashes: never the password, never twice the same.
    rows = cluster.sql("SELECT e.omename, p.hash FROM password p JOIN experimenter e ON e.id = p.experimenter_id "
                       "WHERE e.omename IN ('ann', 'ben', 'pi', 'adm2')")
    assert len(rows) == 4
    for name, h in rows:
        assert h.startswith("$pbkdf2-sha256$i=100000$") and PASSWORDS[name] not in h
    assert len({h for _, h in rows}) == 4
    # Never in the log, nor the generated root password (only where it is stored).
    log = b.log()
    for pw in list(PASSWORDS.values()) + ["ann-New-5", env["rootpw"]]:
        assert pw not in log


def test_default_group_and_event_context(env):
    b, ids = env["b"], env["ids"]
    ok(env["b"].call("IAdmin.addGroups", {"user": "ann", "groups": ["grp-b"]}, session=env["s"]["root"]))
    assert ok(call(env, "ann", "IAdmin.getDefaultGroup"))["Name"] == "grp-a"
    ok(call(env, "ann", "IAdmin.setDefaultGroup", {"group": "grp-b"}))
    assert ok(call(env, "ann", "IAdmin.getDefaultGroup"))["Name"] == "grp-b"
    assert ok(login(b, "ann", PASSWORDS["ann"]))["eventContext"]["groupName"] == "grp-b"
    failed(call(env, "ann", "IAdmin.setDefaultGroup", {"group": "system"}), "ValidationException")
    failed(call(env, "ben", "IAdmin.setDefaultGroup", {"user": "ann", "group": "grp-a"}), "SecurityViolation")
    ok(call(env, "ann", "IAdmin.setDefaultGroup", {"group": "grp-a"}))
    ec = ok(call(env, "pi", "IAdmin.getEventContext"))
    assert ec["userName"] == "pi" and ec["leaderOfGroups"] == [ids["grp-a"]] and ec["isAdmin"] is False
    assert ok(call(env, "ann", "IAdmin.getCurrentAdminPrivileges"))["data"] == []


def _cross_owner_link(cluster, gid, a, b):
    cluster.sql("INSERT INTO project (id, permissions, creation_id, owner_id, group_id, update_id, name) "
                "VALUES (900, -56, 0, %d, %d, 0, 'p')" % (a, gid))
    cluster.sql("INSERT INTO dataset (id, permissions, creation_id, owner_id, group_id, update_id, name) "
                "VALUES (900, -56, 0, %d, %d, 0, 'd')" % (b, gid))
    cluster.sql("INSERT INTO projectdatasetlink (id, permissions, creation_id, owner_id, group_id, update_id, "
                "parent, child) VALUES (900, -56, 0, %d, %d, 0, 900, 900)" % (a, gid))


def test_change_permissions_rules(env):
    b, root, ids, cluster = env["b"], env["s"]["root"], env["ids"], env["cluster"]
    perm = lambda: ok(call(env, "ann", "IAdmin.getGroup", {"id": ids["grp-a"]}))["omero:details"]["permissions"]["perm"]
    ok(call(env, "pi", "IAdmin.changePermissions", {"group": "grp-a", "perms": "rwra--"}))
    assert perm() == "rwra--"
    f = failed(call(env, "pi", "IAdmin.changePermissions", {"group": "grp-a", "perms": "rwrw--"}),
               "SecurityViolation", 403)
    assert "only an administrator" in f["message"]
    failed(call(env, "ann", "IAdmin.changePermissions", {"group": "grp-a", "perms": "rwr---"}), "SecurityViolation")
    failed(call(env, "pi", "IAdmin.changePermissions", {"group": "grp-b", "perms": "rwr---"}), "SecurityViolation")
    failed(b.call("IAdmin.changePermissions", {"group": "user", "perms": "rw----"}, session=root), "SecurityViolation")
    failed(b.call("IAdmin.changePermissions", {"group": "grp-a", "perms": "rwrwrw"}, session=root), "ApiUsageException")
    ok(b.call("IAdmin.changePermissions", {"group": "grp-a", "perms": "read-write"}, session=root))
    assert perm() == "rwrw--"
    # Downgrades to read-only are allowed; to private not while members' data are linked.
    _cross_owner_link(cluster, ids["grp-a"], ids["ann"], ids["pi"])
    ok(call(env, "pi", "IAdmin.changePermissions", {"group": "grp-a", "perms": "rwr---"}))
    f = failed(b.call("IAdmin.changePermissions", {"group": "grp-a", "perms": "rw----"}, session=root),
               "ValidationException", 409)
    assert "private" in f["message"]
    assert perm() == "rwr---"
    cluster.sql("DELETE FROM projectdatasetlink WHERE id = 900")
    ok(b.call("IAdmin.changePermissions", {"group": "grp-a", "perms": "rw----"}, session=root))
    assert perm() == "rw----"
    ok(b.call("IAdmin.changePermissions", {"group": "grp-a", "perms": "rwr---"}, session=root))
    rows = cluster.sql("SELECT count(*) FROM eventlog WHERE entitytype = 'ome.model.meta.ExperimenterGroup' "
                       "AND action = 'UPDATE' AND entityid = %d" % ids["grp-a"])
    assert int(rows[0][0]) >= 5
