"""OMERO's permission matrix through the real API (router -> Blitz -> PostgreSQL row-level
security): the four group levels x {owner, other member, group owner, administrator, restricted
administrators holding WriteOwned and DeleteOwned, only one of them, or none, non-member} x {read,
annotate, edit, link, delete}. Every cell is checked twice: the action itself (IQuery/IUpdate
succeed or fail with SecurityViolation) and, for readers, the canX flag of omero:details."""
import pytest

from qu_support import make_group, make_user, ok, start_grid

LEVELS = {"private": "rw----", "read-only": "rwr---", "read-annotate": "rwra--", "read-write": "rwrw--"}
ACTORS = ["owner", "member", "pi", "admin", "radmin", "rwrite", "rdelete", "rnone", "outsider"]
PW = {a: "%s-Pw-9" % a for a in ACTORS}

Y, N = True, False
# OMERO's matrix (api-model.md 3.4 with the own-data rules): expected[actor][level] =
# (read, annotate, edit, link, delete)
EXPECTED = {
    "owner": {lvl: (Y, Y, Y, Y, Y) for lvl in LEVELS},
    "member": {"private": (N, N, N, N, N), "read-only": (Y, N, N, N, N),
               "read-annotate": (Y, Y, N, N, N), "read-write": (Y, Y, Y, Y, Y)},
    "pi": {"private": (Y, N, Y, N, Y), "read-only": (Y, Y, Y, Y, Y),
           "read-annotate": (Y, Y, Y, Y, Y), "read-write": (Y, Y, Y, Y, Y)},
    "admin": {"private": (Y, N, Y, N, Y), "read-only": (Y, Y, Y, Y, Y),
              "read-annotate": (Y, Y, Y, Y, Y), "read-write": (Y, Y, Y, Y, Y)},
    "radmin": {"private": (Y, N, Y, N, Y), "read-only": (Y, Y, Y, Y, Y),
               "read-annotate": (Y, Y, Y, Y, Y), "read-write": (Y, Y, Y, Y, Y)},
    # WriteOwned alone: annotate, edit and link as an administrator, but no deleting.
    "rwrite": {"private": (Y, N, Y, N, N), "read-only": (Y, Y, Y, Y, N),
               "read-annotate": (Y, Y, Y, Y, N), "read-write": (Y, Y, Y, Y, N)},
    # DeleteOwned alone: delete others' data, but create nothing in groups it is not a member of.
    "rdelete": {lvl: (Y, N, N, N, Y) for lvl in LEVELS},
    "rnone": {lvl: (Y, N, N, N, N) for lvl in LEVELS},
    "outsider": {lvl: (N, N, N, N, N) for lvl in LEVELS},
}


@pytest.fixture(scope="module")
def env(installation):
    g, api, root, _ = start_grid(installation)
    try:
        gids = {lvl: make_group(api, root, "m-" + lvl, perms) for lvl, perms in LEVELS.items()}
        elsewhere = make_group(api, root, "m-elsewhere", "rwr---")
        names = ["m-" + lvl for lvl in LEVELS]
        uids = {}
        uids["owner"] = make_user(api, root, "owner", names[0], PW["owner"], names[1:])
        uids["member"] = make_user(api, root, "member", names[0], PW["member"], names[1:])
        uids["pi"] = make_user(api, root, "pi", names[0], PW["pi"], names[1:])
        for gid in gids.values():
            ok(api.raw("IAdmin", "setGroupOwner", {"group": gid, "user": uids["pi"]}, root))
        uids["outsider"] = make_user(api, root, "outsider", "m-elsewhere", PW["outsider"])
        ok(api.raw("IAdmin", "createSystemUser", {"experimenter": {"UserName": "admin", "FirstName": "A",
                                                                   "LastName": "Dmin"}, "password": PW["admin"]}, root))
        for name, privs in (("radmin", ["WriteOwned", "DeleteOwned"]), ("rwrite", ["WriteOwned"]),
                            ("rdelete", ["DeleteOwned"]), ("rnone", [])):
            ok(api.raw("IAdmin", "createLightSystemUser", {"experimenter": {"UserName": name, "FirstName": "R",
                                                                            "LastName": "Admin"},
                                                           "privileges": privs, "password": PW[name]}, root))
        ok(api.raw("IAdmin", "createLightSystemUser", {"experimenter": {"UserName": "rfile", "FirstName": "R",
                                                                        "LastName": "File"},
                                                       "privileges": ["WriteFile", "DeleteFile"],
                                                       "password": "rfile-Pw-9"}, root))
        s = {a: api.login(a, PW[a]) for a in ACTORS}
        s["rfile"] = api.login("rfile", "rfile-Pw-9")
        # The owner's objects: one project per level to read/annotate/edit/link, one per actor to delete.
        objs = {}
        for lvl, gid in gids.items():
            objs[lvl] = ok(api.raw("IUpdate", "saveAndReturnObject", {
                "object": {"@type": "Project", "Name": "shared-" + lvl}, "group": gid}, s["owner"]))["data"]["@id"]
            for a in ACTORS:
                objs[(lvl, a)] = ok(api.raw("IUpdate", "saveAndReturnIds", {
                    "objects": [{"@type": "Project", "Name": "del-%s-%s" % (lvl, a)}], "group": gid},
                    s["owner"]))["data"][0]
        assert elsewhere > 0
        yield {"api": api, "s": s, "gids": gids, "objs": objs, "root": root}
    finally:
        g.cleanup()


def attempt(env, actor, service, method, body):
    st, j = env["api"].raw(service, method, body, env["s"][actor])
    if st == 200:
        return True
    assert j["error"]["name"] == "SecurityViolation", (actor, method, body, j)
    return False


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("actor", ACTORS)
def test_matrix(env, actor, level):
    read, annotate, edit, link, delete = EXPECTED[actor][level]
    gid, pid = env["gids"][level], env["objs"][level]
    api, s = env["api"], env["s"][actor]
    got = ok(api.raw("IQuery", "find", {"type": "Project", "id": pid, "group": -1}, s))["data"]
    assert (got is not None) == read, (actor, level, got)
    if got is not None:
        p = got["omero:details"]["permissions"]
        assert p["perm"] == LEVELS[level]
        assert (p["canAnnotate"], p["canEdit"], p["canLink"], p["canDelete"]) == (annotate, edit, link, delete), \
            (actor, level, p)
    # annotate: a new comment of the actor's, linked to the owner's project, in that group
    did = attempt(env, actor, "IUpdate", "saveObject", {"group": gid, "object": {
        "@type": "ProjectAnnotationLink", "parent": "Project:%d" % pid,
        "child": {"@type": "CommentAnnotation", "Value": "by " + actor}}})
    assert did == annotate, ("annotate", actor, level)
    # edit: rename the owner's project
    did = attempt(env, actor, "IUpdate", "saveObject", {"group": -1, "object": {
        "@type": "Project", "@id": pid, "Description": "edited by " + actor}})
    assert did == edit, ("edit", actor, level)
    # link (mix data): put a new dataset of the actor's into the owner's project
    did = attempt(env, actor, "IUpdate", "saveObject", {"group": gid, "object": {
        "@type": "ProjectDatasetLink", "parent": {"@type": "Project", "@id": pid},
        "child": {"@type": "Dataset", "Name": "of " + actor}}})
    assert did == link, ("link", actor, level)
    # delete: the owner's project kept for this actor
    did = attempt(env, actor, "IUpdate", "deleteObject", {"group": -1,
                                                          "object": "Project:%d" % env["objs"][(level, actor)]})
    assert did == delete, ("delete", actor, level)
    still = ok(api.raw("IQuery", "find", {"type": "Project", "id": env["objs"][(level, actor)], "group": -1},
                       env["s"]["owner"]))["data"]
    assert (still is None) == delete


def test_refused_changes_left_nothing(env):
    """Refused annotations and links created nothing (each call is one transaction)."""
    api, s = env["api"], env["s"]["admin"]
    rows = ok(api.raw("IQuery", "projection", {"query": "select c.textValue from CommentAnnotation c", "group": -1},
                      s))["data"]
    authors = sorted(r[0][3:] for r in rows)
    expected = sorted(a for a in ACTORS for lvl in LEVELS if EXPECTED[a][lvl][1])
    assert authors == expected


def test_original_files_follow_file_privileges(env):
    """Restricted administrators change others' OriginalFiles with WriteFile/DeleteFile, not with
    WriteOwned/DeleteOwned."""
    api, s = env["api"], env["s"]
    gid = env["gids"]["read-annotate"]
    fids = ok(api.raw("IUpdate", "saveAndReturnIds", {"group": gid, "objects": [
        {"@type": "OriginalFile", "Name": "f%d.txt" % i, "Path": "/x/", "Size": 1, "Hash": "h"} for i in range(2)]},
        s["owner"]))["data"]
    for who, can in (("radmin", False), ("rfile", True), ("admin", True)):
        did = attempt(env, who, "IUpdate", "saveObject", {"group": -1, "object": {
            "@type": "OriginalFile", "@id": fids[0], "Name": "renamed-by-" + who}})
        assert did == can, who
    assert not attempt(env, "radmin", "IUpdate", "deleteObject", {"group": -1, "object": "OriginalFile:%d" % fids[1]})
    assert attempt(env, "rfile", "IUpdate", "deleteObject", {"group": -1, "object": "OriginalFile:%d" % fids[1]})
    # WriteFile gives no rights on other objects
    assert not attempt(env, "rfile", "IUpdate", "saveObject", {"group": -1, "object": {
        "@type": "Project", "@id": env["objs"]["read-annotate"], "Name": "nope"}})


def test_restrictions_in_experimenter_config(env):
    """Restrictions of administrators live in Experimenter.config (omero obj map-set ... false):
    nobody clears a restriction that applies to themselves, and root is never restricted."""
    api, root = env["api"], env["root"]
    ok(api.raw("IAdmin", "createLightSystemUser", {"experimenter": {"UserName": "rmod", "FirstName": "R",
                                                                    "LastName": "Mod"},
                                                   "privileges": ["ModifyUser"], "password": "rmod-Pw-9"}, root))
    rmod = api.login("rmod", "rmod-Pw-9")
    target = ok(api.raw("IAdmin", "lookupExperimenter", {"name": "radmin"}, root))["@id"]

    def set_config(session, uid, pairs):
        st, j = api.raw("IUpdate", "saveObject", {"object": {"@type": "Experimenter", "@id": uid,
                                                              "Config": pairs}}, session)
        return j.get("error", {}).get("name", "ok")

    current = ok(api.raw("IQuery", "get", {"type": "Experimenter", "id": target}, root))["data"]["Config"]
    assert ["AdminPrivilege:Chgrp", "false"] in current
    # rmod may add a restriction, but not clear Chgrp (rmod lacks Chgrp too)
    assert set_config(rmod, target, current + [["AdminPrivilege:Sudo", "false"]]) == "ok"
    cleared = [p for p in current if p[0] != "AdminPrivilege:Chgrp"] + [["AdminPrivilege:Sudo", "false"]]
    assert set_config(rmod, target, cleared) == "SecurityViolation"
    assert set_config(root, target, cleared) == "ok"
    assert set_config(root, 0, [["AdminPrivilege:Sudo", "false"]]) == "SecurityViolation"
    assert set_config(env["s"]["member"], target, []) == "SecurityViolation"
