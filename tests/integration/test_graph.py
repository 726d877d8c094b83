"""Graph operations through a real grid: Delete2, Chgrp2, Chown2, SkipHead and DiskUsage2 submitted
with Command.submit over HTTPS (/rpc/v1/) and through `omero delete|chgrp|chown`, `omero fs usage`
and `omero admin cleanse`. Data belong to two users (alice, bob) in groups of every permission
level; every test checks the database afterwards as root, and the files on disk where there are
any (one real import of a two-image OME-TIFF for filesets).
"""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import requests
import tifffile

import conftest
from conftest import started_grid

LEVELS = {"private": "rw----", "read-only": "rwr---", "read-annotate": "rwra--", "read-write": "rwrw--"}
PW = "secret-pw"


class Api(conftest.Api):
    """HTTPS calls through the router as one logged-in user (in one group), graph requests waited for."""

    timeout = 120

    def save(self, obj):
        return self.call("IUpdate", "saveAndReturnObject", object=obj)["data"]

    def graph(self, req):
        """Submit a request, wait for its handle, return the response."""
        h = self.call("Command", "submit", request=req)["handle"]
        for _ in range(1200):
            st = self.call("Command", "status", handle=h)
            if st["state"] != "RUNNING":
                break
            time.sleep(0.05)
        assert st["state"] in ("FINISHED", "FAILURE", "CANCELLED"), st
        return self.call("Command", "response", handle=h)


@pytest.fixture(scope="module")
def g(installation):
    with started_grid(installation, cli_login=False) as grid:
        root = grid.rootapi = Api(grid, "root", grid.root_pw)
        grid.gid = {}
        for name, perms in list(LEVELS.items()) + [("dest", "rwra--"), ("elsewhere", "rwra--")]:
            grid.gid[name] = root.call("IAdmin", "createGroup", group={"Name": name}, perms=perms)["id"]
        grid.uid = {}
        for user in ("alice", "bob", "carol", "dave"):
            grid.uid[user] = root.call("IAdmin", "createUser", experimenter={"UserName": user, "FirstName": user,
                                                                             "LastName": "T"},
                                       group="read-annotate", password=PW)["id"]
        for user in ("alice", "bob"):
            root.call("IAdmin", "addGroups", user=user, groups=list(LEVELS) + ["dest"])
        grid.uid["erin"] = root.call("IAdmin", "createUser", experimenter={"UserName": "erin", "FirstName": "erin",
                                                                           "LastName": "T"},
                                     group="elsewhere", password=PW)["id"]
        root.call("IAdmin", "addGroups", user="carol", groups=["dest"])
        root.call("IAdmin", "addGroupOwners", group="read-annotate", users=["carol"])
        grid.api = {}
        yield grid
        report = stop_and_check_sanitizers(grid)
        assert report is None, report


OWN_FILES = ("services/blitz/graph.c", "services/blitz/graph_rules.c", "cli/graph.c")


def stop_and_check_sanitizers(g):
    """Stop the grid and report sanitizer findings in its logs (under `make asan`): any memory or
    undefined-behaviour error, and leaks whose stack passes through the graph code."""
    return conftest.sanitizer_report(g, OWN_FILES)


def api(g, user, group="read-annotate"):
    key = (user, group)
    if key not in g.api:
        g.api[key] = Api(g, user, g.root_pw if user == "root" else PW, group)
    return g.api[key]


def cli(g, user, *args, check=True):
    """`omero …` logged in as user (a session per user, reused)."""
    pw = g.root_pw if user == "root" else PW
    r = g.omero(*args, "-s", "localhost", "-p", str(g.port("ssl")), "-u", user, "-w", pw, check=check)
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in r.stderr, r.stderr
    return r


def rows(g, hql):
    """An HQL projection as root across all groups."""
    return g.rootapi.call("IQuery", "projection", query=hql, group=-1)["data"]


def exists(g, cls, *ids):
    found = rows(g, "select x.id from %s x where x.id in (%s)" % (cls, ",".join(str(i) for i in ids)))
    return sorted(r[0] for r in found)


def details(g, cls, i):
    r = rows(g, "select x.details.owner.id, x.details.group.id from %s x where x.id = %d" % (cls, i))
    return tuple(r[0]) if r else None


def new_image(a, name, **extra):
    return a.save(dict({"@type": "Image", "Name": name}, **extra))["@id"]


def link(a, cls, parent_cls, parent, child_cls, child):
    return a.save({"@type": cls, "parent": {"@type": parent_cls, "@id": parent},
                   "child": {"@type": child_cls, "@id": child}})["@id"]


def project_tree(a, tag):
    """Project -> Dataset d1 -> images i1, i2; returns ids."""
    p = a.save({"@type": "Project", "Name": "p-" + tag, "DatasetLinks": [
        {"@type": "ProjectDatasetLink", "child": {"@type": "Dataset", "Name": "d1-" + tag, "ImageLinks": [
            {"@type": "DatasetImageLink", "child": {"@type": "Image", "Name": "i1-" + tag}},
            {"@type": "DatasetImageLink", "child": {"@type": "Image", "Name": "i2-" + tag}}]}}]})
    d1 = p["DatasetLinks"][0]["Child"]
    imgs = {l["Child"]["Name"]: l["Child"]["@id"] for l in d1["ImageLinks"]}
    return p["@id"], d1["@id"], imgs["i1-" + tag], imgs["i2-" + tag]


# ---- delete ------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", list(LEVELS))
def test_delete_project_keeps_images_shared_with_another_dataset(g, level):
    alice = api(g, "alice", level)
    p, d1, i1, i2 = project_tree(alice, "share-" + level)
    # the second dataset: bob's where the group lets him link alice's image, else alice's own
    other = api(g, "bob", level) if level == "read-write" else alice
    d2 = other.save({"@type": "Dataset", "Name": "d2-" + level})["@id"]
    l2 = link(other, "DatasetImageLink", "Dataset", d2, "Image", i2)
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Project": [p]}})
    assert r["@type"] == "omero.cmd.Delete2Response", r
    deleted = r["deletedObjects"]
    assert deleted["ome.model.containers.Project"] == [p]
    assert deleted["ome.model.containers.Dataset"] == [d1]
    assert deleted["ome.model.core.Image"] == [i1]
    assert len(deleted["ome.model.containers.DatasetImageLink"]) == 2
    assert exists(g, "Project", p) == [] and exists(g, "Dataset", d1) == [] and exists(g, "Image", i1) == []
    assert exists(g, "Image", i2) == [i2] and exists(g, "Dataset", d2) == [d2]
    assert exists(g, "DatasetImageLink", l2) == [l2]


def test_delete_tag_used_by_others(g):
    alice, bob = api(g, "alice"), api(g, "bob")
    tag = alice.save({"@type": "TagAnnotation", "TextValue": "shared-tag"})["@id"]
    ia, ib = new_image(alice, "tagged-a"), new_image(bob, "tagged-b")
    la = link(alice, "ImageAnnotationLink", "Image", ia, "TagAnnotation", tag)
    lb = link(bob, "ImageAnnotationLink", "Image", ib, "TagAnnotation", tag)
    # deleting alice's image unlinks the tag: bob still uses it
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Image": [ia]}})
    assert "ome.model.annotations.ImageAnnotationLink" in r["deletedObjects"]
    assert "ome.model.annotations.TagAnnotation" not in r["deletedObjects"]
    assert exists(g, "Image", ia) == [] and exists(g, "ImageAnnotationLink", la) == []
    assert exists(g, "TagAnnotation", tag) == [tag] and exists(g, "ImageAnnotationLink", lb) == [lb]
    # alice may not delete the tag bob uses
    out = cli(g, "alice", "delete", "TagAnnotation:%d" % tag, "-g", "read-annotate", check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "failed" in out.stdout and "used by another user" in out.stderr
    assert exists(g, "TagAnnotation", tag) == [tag] and exists(g, "ImageAnnotationLink", lb) == [lb]
    # the group's owner may: the tag and bob's link go, bob's image stays
    r = api(g, "carol").graph({"@type": "omero.cmd.Delete2", "targetObjects": {"TagAnnotation": [tag]}})
    assert r["deletedObjects"]["ome.model.annotations.TagAnnotation"] == [tag], r
    assert exists(g, "TagAnnotation", tag) == [] and exists(g, "ImageAnnotationLink", lb) == []
    assert exists(g, "Image", ib) == [ib]


def test_delete_keeps_tags_and_takes_comments_unless_included(g):
    alice = api(g, "alice")
    img = new_image(alice, "annotated")
    tag = alice.save({"@type": "TagAnnotation", "TextValue": "mine"})["@id"]
    com = alice.save({"@type": "CommentAnnotation", "TextValue": "note"})["@id"]
    link(alice, "ImageAnnotationLink", "Image", img, "TagAnnotation", tag)
    link(alice, "ImageAnnotationLink", "Image", img, "CommentAnnotation", com)
    out = cli(g, "alice", "delete", "Image:%d" % img, "--report", "-g", "read-annotate")
    assert "omero.cmd.Delete2 Image %d... ok" % img in out.stdout
    assert "CommentAnnotation:%d" % com in out.stdout and "TagAnnotation" not in out.stdout
    assert exists(g, "TagAnnotation", tag) == [tag] and exists(g, "CommentAnnotation", com) == []
    img2 = new_image(alice, "annotated-2")
    link(alice, "ImageAnnotationLink", "Image", img2, "TagAnnotation", tag)
    cli(g, "alice", "delete", "Image:%d" % img2, "--include", "TagAnnotation", "-g", "read-annotate")
    assert exists(g, "TagAnnotation", tag) == []


def test_child_options_by_namespace(g):
    alice = api(g, "alice")
    img = new_image(alice, "ns")
    keep = alice.save({"@type": "CommentAnnotation", "TextValue": "k", "Namespace": "keep.ns"})["@id"]
    drop = alice.save({"@type": "CommentAnnotation", "TextValue": "d", "Namespace": "drop.ns"})["@id"]
    tag = alice.save({"@type": "TagAnnotation", "TextValue": "t", "Namespace": "drop.ns"})["@id"]
    for a in (keep, drop):
        link(alice, "ImageAnnotationLink", "Image", img, "CommentAnnotation", a)
    link(alice, "ImageAnnotationLink", "Image", img, "TagAnnotation", tag)
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Image": [img]}, "childOptions": [
        {"excludeType": ["CommentAnnotation"], "includeNs": ["keep.ns"]},
        {"includeType": ["TagAnnotation"], "excludeNs": ["keep.ns"]}]})
    assert sorted(r["deletedObjects"]["ome.model.annotations.CommentAnnotation"]) == [drop], r
    assert r["deletedObjects"]["ome.model.annotations.TagAnnotation"] == [tag], r
    assert exists(g, "CommentAnnotation", keep, drop) == [keep] and exists(g, "TagAnnotation", tag) == []


def test_delete_path_and_exclude(g):
    alice = api(g, "alice")
    p, d1, i1, i2 = project_tree(alice, "path")
    out = cli(g, "alice", "delete", "Project/Dataset/Image:%d" % p, "--report", "-g", "read-annotate")
    assert "ok" in out.stdout and "Image:%d,%d" % tuple(sorted((i1, i2))) in out.stdout
    assert exists(g, "Image", i1, i2) == [] and exists(g, "Project", p) == [p] and exists(g, "Dataset", d1) == [d1]
    extra = alice.save({"@type": "Dataset", "Name": "extra"})["@id"]
    out = cli(g, "alice", "delete", "Project:%d" % p, "Dataset:%d" % extra, "--exclude", "Dataset", "--report",
              "-g", "read-annotate")
    assert "Project %d Dataset %d... ok" % (p, extra) in out.stdout
    assert exists(g, "Project", p) == [] and exists(g, "Dataset", d1) == [d1] and exists(g, "Dataset", extra) == []
    assert rows(g, "select l.id from ProjectDatasetLink l where l.child.id = %d" % d1) == []


def test_deleting_links_orphans_children(g):
    alice = api(g, "alice")
    p, d1, i1, i2 = project_tree(alice, "links")
    out = cli(g, "alice", "delete", "Dataset/DatasetImageLink:%d" % d1, "--report", "-g", "read-annotate")
    assert "DatasetImageLink:" in out.stdout and "Image:" not in out.stdout.replace("DatasetImageLink:", "")
    assert exists(g, "Image", i1, i2) == sorted([i1, i2]) and exists(g, "Dataset", d1) == [d1]
    assert rows(g, "select l.id from DatasetImageLink l where l.parent.id = %d" % d1) == []
    # SkipHead as a client builds it: the images under the project, not the project
    r = alice.graph({"@type": "omero.cmd.SkipHead", "targetObjects": {"Project": [p]}, "startFrom": ["Dataset"],
                     "request": {"@type": "omero.cmd.Delete2"}})
    assert r["deletedObjects"]["ome.model.containers.Dataset"] == [d1], r
    assert exists(g, "Project", p) == [p] and exists(g, "Dataset", d1) == []


def test_types_to_ignore_and_cancel(g):
    alice = api(g, "alice")
    img = new_image(alice, "ignore")
    com = alice.save({"@type": "CommentAnnotation", "TextValue": "kept"})["@id"]
    link(alice, "ImageAnnotationLink", "Image", img, "CommentAnnotation", com)
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Image": [img]},
                     "typesToIgnore": ["CommentAnnotation"]})
    assert "ome.model.annotations.CommentAnnotation" not in r["deletedObjects"], r
    assert exists(g, "Image", img) == [] and exists(g, "CommentAnnotation", com) == [com]
    # a finished request cannot be cancelled; its status says so
    h = alice.call("Command", "submit", request={"@type": "omero.cmd.Delete2",
                                                 "targetObjects": {"CommentAnnotation": [com]}})["handle"]
    for _ in range(600):
        st = alice.call("Command", "status", handle=h)
        if st["state"] != "RUNNING":
            break
        time.sleep(0.05)
    assert st["state"] == "FINISHED" and st["currentStep"] == st["steps"] and "finishTime" in st
    assert alice.call("Command", "cancel", handle=h) == {"cancelled": False}
    assert exists(g, "CommentAnnotation", com) == []


def test_dry_run_changes_nothing(g):
    alice = api(g, "alice")
    p, d1, i1, i2 = project_tree(alice, "dry")
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Project": [p]}, "dryRun": True})
    assert sorted(r["deletedObjects"]["ome.model.core.Image"]) == sorted([i1, i2])
    assert exists(g, "Project", p) == [p] and exists(g, "Image", i1, i2) == sorted([i1, i2])
    out = cli(g, "alice", "delete", "Dataset:%d-%d" % (d1, d1), "-g", "read-annotate")   # a range without --force
    assert "Using '--dry-run'" in out.stderr and "ok" in out.stdout
    assert exists(g, "Dataset", d1) == [d1]
    cli(g, "alice", "chgrp", "dest", "Project:%d" % p, "--dry-run", "-g", "read-annotate")
    assert details(g, "Project", p)[1] == g.gid["read-annotate"]


def test_failure_in_the_middle_leaves_everything(g):
    alice, bob = api(g, "alice"), api(g, "bob")
    p, d1, i1, i2 = project_tree(alice, "atomic")
    theirs = new_image(bob, "bobs")
    # alice's project is fine, bob's image is not hers to delete: nothing is deleted
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Project": [p], "Image": [theirs]}})
    assert r["@type"] == "omero.cmd.ERR" and r["name"] == "SecurityViolation", r
    assert "Image:%d" % theirs in r["message"]
    assert exists(g, "Project", p) == [p] and exists(g, "Image", i1, i2, theirs) == sorted([i1, i2, theirs])
    # the same through the CLI: all specifiers in one request
    out = cli(g, "alice", "delete", "Project:%d" % p, "Image:%d" % theirs, "-g", "read-annotate", check=False)
    assert out.returncode == 1 and "failed" in out.stdout
    assert exists(g, "Project", p) == [p] and exists(g, "Dataset", d1) == [d1]
    # a path (SkipHead) and a plain specifier run together (DoAll): the refused one stops both
    out = cli(g, "alice", "delete", "Project/Image:%d" % p, "Image:%d" % theirs, "-g", "read-annotate", check=False)
    assert out.returncode == 1 and "Nothing was changed" in out.stderr, out.stdout + out.stderr
    assert exists(g, "Image", i1, i2) == sorted([i1, i2])
    # a failure found while moving (an owner not in the group) after part of the graph was done
    dave = api(g, "dave")
    dimg = new_image(dave, "daves")
    link(alice, "ImageAnnotationLink", "Image", i1, "CommentAnnotation",
         alice.save({"@type": "CommentAnnotation", "TextValue": "c"})["@id"])
    r = g.rootapi.graph({"@type": "omero.cmd.Chgrp2", "targetObjects": {"Project": [p], "Image": [dimg]},
                      "groupId": g.gid["dest"]})
    assert r["@type"] == "omero.cmd.ERR" and "not a member of group" in r["message"], r
    assert details(g, "Project", p)[1] == g.gid["read-annotate"]
    assert details(g, "Image", i1)[1] == g.gid["read-annotate"] and details(g, "Image", dimg)[1] == g.gid["read-annotate"]


def test_bad_input_is_refused(g):
    alice = api(g, "alice")
    img = new_image(alice, "bad-input")
    for req, msg in [({"@type": "omero.cmd.Delete2", "targetObjects": {"Nonsense": [1]}}, "unknown class Nonsense"),
                     ({"@type": "omero.cmd.Delete3", "targetObjects": {"Image": [img]}}, "unknown request type"),
                     ({"@type": "omero.cmd.Delete2", "targetObjects": {"Image": ["x"]}}, "ids must be"),
                     ({"@type": "omero.cmd.Delete2", "targetObjects": {}}, "targetObjects"),
                     ({"@type": "omero.cmd.Chgrp2", "targetObjects": {"Image": [img]}}, "groupId"),
                     ({"@type": "omero.cmd.Delete2", "targetObjects": {"Image": [img]},
                       "childOptions": [{"includeType": ["Bogus"]}]}, "Bogus")]:
        r = alice.call("Command", "submit", status=400, request=req)
        assert r["error"]["name"] == "ApiUsageException" and msg in r["error"]["message"], r
    for args, code, text in [(("delete", "Image:abc"), 2, "Bad object: Image:abc"),
                             (("delete", "Image"), 2, "Bad object"),
                             (("delete", "Nonsense:1"), 1, "unknown class Nonsense"),
                             (("delete", "Image:999999"), 1, "does not exist"),
                             (("chgrp", "elsewhere", "Image:%d" % img), 1, "not a member of group"),
                             (("chgrp", "no-such-group", "Image:%d" % img), 1, "no group named"),
                             (("chown", "bob", "Image:%d" % img), 1, "group's owners")]:
        out = cli(g, "alice", *args, "-g", "read-annotate", check=False)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        assert text in out.stdout + out.stderr, (args, out.stdout, out.stderr)
    assert exists(g, "Image", img) == [img] and details(g, "Image", img) == (g.uid["alice"], g.gid["read-annotate"])
    # status of a handle that is not the caller's
    h = alice.call("Command", "submit", request={"@type": "omero.cmd.Delete2", "targetObjects": {"Image": [img]},
                                                 "dryRun": True})["handle"]
    api(g, "bob").call("Command", "status", status=404, handle=h)


# ---- chgrp / chown -----------------------------------------------------------------------------

def test_chgrp_moves_hierarchy_and_unlinks_what_stays(g):
    alice, bob = api(g, "alice"), api(g, "bob")
    p, d1, i1, i2 = project_tree(alice, "move")
    own = alice.save({"@type": "CommentAnnotation", "TextValue": "mine"})["@id"]
    theirs = bob.save({"@type": "CommentAnnotation", "TextValue": "bobs"})["@id"]
    link(alice, "ImageAnnotationLink", "Image", i1, "CommentAnnotation", own)
    bl = link(bob, "ImageAnnotationLink", "Image", i1, "CommentAnnotation", theirs)
    shared_tag = alice.save({"@type": "TagAnnotation", "TextValue": "stays"})["@id"]
    stay_img = new_image(alice, "stays")
    link(alice, "ImageAnnotationLink", "Image", i2, "TagAnnotation", shared_tag)
    link(alice, "ImageAnnotationLink", "Image", stay_img, "TagAnnotation", shared_tag)
    out = cli(g, "alice", "chgrp", "dest", "Project:%d" % p, "--report", "-g", "read-annotate")
    assert "omero.cmd.Chgrp2 Project %d... ok" % p in out.stdout and "Included objects" in out.stdout
    dest = g.gid["dest"]
    for cls, i in [("Project", p), ("Dataset", d1), ("Image", i1), ("Image", i2), ("CommentAnnotation", own)]:
        assert details(g, cls, i) == (g.uid["alice"], dest), (cls, i)
    # bob's comment and the tag used by an image left behind stay, unlinked from the moved data
    assert details(g, "CommentAnnotation", theirs)[1] == g.gid["read-annotate"]
    assert exists(g, "ImageAnnotationLink", bl) == []
    assert details(g, "TagAnnotation", shared_tag)[1] == g.gid["read-annotate"]
    assert rows(g, "select l.id from ImageAnnotationLink l where l.parent.id = %d" % i2) == []
    assert len(rows(g, "select l.id from ImageAnnotationLink l where l.parent.id = %d" % stay_img)) == 1


def test_chgrp_with_include(g):
    alice = api(g, "alice")
    img, other = new_image(alice, "inc-1"), new_image(alice, "inc-2")
    d = alice.save({"@type": "Dataset", "Name": "inc"})["@id"]
    link(alice, "DatasetImageLink", "Dataset", d, "Image", img)
    d2 = alice.save({"@type": "Dataset", "Name": "inc-other"})["@id"]
    link(alice, "DatasetImageLink", "Dataset", d2, "Image", img)
    tag = alice.save({"@type": "TagAnnotation", "TextValue": "inc-tag"})["@id"]
    link(alice, "ImageAnnotationLink", "Image", img, "TagAnnotation", tag)
    link(alice, "ImageAnnotationLink", "Image", other, "TagAnnotation", tag)
    # without --include the image in another dataset stays; with it, it moves (and the tag with --include)
    cli(g, "alice", "chgrp", "dest", "Dataset:%d" % d, "-g", "read-annotate")
    assert details(g, "Dataset", d)[1] == g.gid["dest"] and details(g, "Image", img)[1] == g.gid["read-annotate"]
    cli(g, "alice", "chgrp", "Group:%d" % g.gid["dest"], "Dataset:%d" % d2, "--include", "Image,TagAnnotation",
        "-g", "read-annotate")
    assert details(g, "Dataset", d2)[1] == g.gid["dest"]
    assert details(g, "Image", img)[1] == g.gid["dest"] and details(g, "TagAnnotation", tag)[1] == g.gid["dest"]
    assert details(g, "Image", other)[1] == g.gid["read-annotate"]
    assert rows(g, "select l.id from ImageAnnotationLink l where l.parent.id = %d" % other) == []


def test_chgrp_into_private_group_drops_others_links(g):
    alice, bob = api(g, "alice", "read-write"), api(g, "bob", "read-write")
    d = alice.save({"@type": "Dataset", "Name": "to-private"})["@id"]
    i1, i2 = new_image(alice, "tp-1"), new_image(alice, "tp-2")
    mine = link(alice, "DatasetImageLink", "Dataset", d, "Image", i1)
    theirs = link(bob, "DatasetImageLink", "Dataset", d, "Image", i2)   # read-write: bob may link alice's data
    r = g.rootapi.graph({"@type": "omero.cmd.Chgrp2", "targetObjects": {"Dataset": [d]}, "groupId": g.gid["private"]})
    assert r["@type"] == "omero.cmd.Chgrp2Response", r
    assert r["deletedObjects"]["ome.model.containers.DatasetImageLink"] == [theirs]
    for cls, i in [("Dataset", d), ("Image", i1), ("DatasetImageLink", mine)]:
        assert details(g, cls, i) == (g.uid["alice"], g.gid["private"]), (cls, i)
    assert exists(g, "DatasetImageLink", theirs) == []


def test_chgrp_refuses_to_leave_a_shared_part_behind(g):
    alice = api(g, "alice")
    inst = alice.save({"@type": "Instrument"})["@id"]
    a = new_image(alice, "inst-a", Instrument={"@type": "Instrument", "@id": inst})
    b = new_image(alice, "inst-b", Instrument={"@type": "Instrument", "@id": inst})
    out = cli(g, "alice", "chgrp", "dest", "Image:%d" % a, "-g", "read-annotate", check=False)
    assert out.returncode == 1 and "Instrument:%d" % inst in out.stderr, out.stdout + out.stderr
    assert details(g, "Image", a)[1] == g.gid["read-annotate"]
    # both images: the instrument goes with them
    cli(g, "alice", "chgrp", "dest", "Image:%d,%d" % (a, b), "-g", "read-annotate")
    assert details(g, "Instrument", inst)[1] == g.gid["dest"] and details(g, "Image", b)[1] == g.gid["dest"]


def test_chown_by_group_owner(g):
    alice = api(g, "alice")
    p, d1, i1, i2 = project_tree(alice, "chown")
    # alice is no owner of the group: refused, nothing changes
    out = cli(g, "alice", "chown", "bob", "Project:%d" % p, "-g", "read-annotate", check=False)
    assert out.returncode == 1 and "group's owners" in out.stderr
    assert details(g, "Project", p)[0] == g.uid["alice"]
    # carol owns the group; dave is a member, so he may receive it
    out = cli(g, "carol", "chown", "dave", "Project:%d" % p, "--report", "-g", "read-annotate")
    assert "omero.cmd.Chown2 Project %d... ok" % p in out.stdout
    for cls, i in [("Project", p), ("Dataset", d1), ("Image", i1), ("Image", i2)]:
        assert details(g, cls, i) == (g.uid["dave"], g.gid["read-annotate"]), (cls, i)
    # an administrator gives everything dave owns to alice
    out = cli(g, "root", "chown", "alice", "Experimenter:%d" % g.uid["dave"])
    assert "omero.cmd.Chown2 Experimenter %d... ok" % g.uid["dave"] in out.stdout
    assert details(g, "Project", p)[0] == g.uid["alice"] and details(g, "Image", i1)[0] == g.uid["alice"]
    assert rows(g, "select x.id from Image x where x.details.owner.id = %d" % g.uid["dave"]) == []
    cli(g, "root", "chown", "dave", "Project:%d" % p)
    # to a user outside the group: refused
    r = api(g, "carol").graph({"@type": "omero.cmd.Chown2", "targetObjects": {"Project": [p]},
                               "userId": g.uid["erin"]})
    assert r["@type"] == "omero.cmd.ERR" and "not a member" in r["message"], r
    assert details(g, "Project", p)[0] == g.uid["dave"]


# ---- filesets, files, usage, cleanse -----------------------------------------------------------

def two_image_tiff(path):
    with tifffile.TiffWriter(path, ome=True) as w:
        w.write(np.arange(48 * 64, dtype=np.uint8).reshape(48, 64), metadata={"axes": "YX"})
        w.write(np.ones((2, 32, 40), dtype=np.uint16), metadata={"axes": "ZYX"})


def repo_files(g):
    out = []
    for d, _, files in os.walk(os.path.join(g.data, "ManagedRepository")):
        out += [os.path.join(d, f) for f in files]
    return sorted(out)


def test_fileset_indivisible_and_files_removed_after_delete(g, tmp_path):
    src = str(tmp_path / "two.ome.tif")
    two_image_tiff(src)
    before = repo_files(g)
    out = cli(g, "alice", "import", src, "-g", "read-annotate")
    imgs = sorted(int(l.split(":")[1]) for l in out.stdout.split() if l.startswith("Image:"))
    assert len(imgs) == 2, out.stdout + out.stderr
    fs = rows(g, "select i.fileset.id from Image i where i.id = %d" % imgs[0])[0][0]
    new_files = [f for f in repo_files(g) if f not in before]
    assert len(new_files) == 1 and new_files[0].endswith("two.ome.tif")
    # one image of the fileset: refused, naming the fileset, for chgrp and delete
    for args in (("chgrp", "dest", "Image:%d" % imgs[0]), ("delete", "Image:%d" % imgs[0])):
        out = cli(g, "alice", *args, "-g", "read-annotate", check=False)
        assert out.returncode == 1 and "may not split Fileset:%d" % fs in out.stderr, out.stdout + out.stderr
    assert exists(g, "Image", *imgs) == imgs and os.path.exists(new_files[0])
    # disk usage of the fileset counts its file
    u = api(g, "alice").graph({"@type": "omero.cmd.DiskUsage2", "targetObjects": {"Fileset": [fs]}})
    fe = [x for x in u["bytesUsedByReferer"] if x["class"] == "FilesetEntry"]
    assert fe and fe[0]["value"] == os.path.getsize(new_files[0]) and fe[0]["userId"] == g.uid["alice"]
    out = cli(g, "alice", "fs", "usage", "Fileset:%d" % fs, "--report", "-g", "read-annotate")
    assert out.stdout.startswith("Total disk usage: ") and "FilesetEntry" in out.stdout
    u = api(g, "alice").graph({"@type": "omero.cmd.DiskUsage2", "targetClasses": ["Fileset"]})
    assert sum(x["value"] for x in u["bytesUsedByReferer"] if x["class"] == "FilesetEntry") >= os.path.getsize(new_files[0])
    out = cli(g, "alice", "fs", "usage", "--groups", "--size_only", "-g", "read-annotate")
    assert int(out.stdout) >= os.path.getsize(new_files[0])
    out = cli(g, "alice", "fs", "usage", "Well:1", "-g", "read-annotate", check=False)   # another class: DiskUsage2
    assert "does not exist" in out.stdout + out.stderr
    thumb_ids = [r[0] for r in rows(g, "select t.id from Thumbnail t where t.pixels.image.id in (%d,%d)" % tuple(imgs))]
    names = {os.path.basename(os.path.join(d, f)): os.path.join(d, f)
             for d, _, fl in os.walk(os.path.join(g.data, "Thumbnails")) for f in fl}
    thumbs = [names[str(t)] for t in thumb_ids]   # every Thumbnail row has its file
    # both images: the fileset, its files and its thumbnails go, after the commit
    out = cli(g, "alice", "delete", "Image:%d,%d" % tuple(imgs), "--report", "-g", "read-annotate")
    assert "Fileset:%d" % fs in out.stdout and "OriginalFile:" in out.stdout
    assert exists(g, "Image", *imgs) == [] and exists(g, "Fileset", fs) == []
    assert not os.path.exists(new_files[0])
    assert exists(g, "Thumbnail", *thumb_ids) == [] if thumb_ids else True
    assert not [t for t in thumbs if os.path.exists(t)]


def test_cleanse_removes_orphans_only(g, tmp_path):
    src = str(tmp_path / "keep.ome.tif")
    two_image_tiff(src)
    cli(g, "alice", "import", src, "-g", "read-annotate")
    kept = repo_files(g)
    orphan_repo = os.path.join(g.data, "ManagedRepository", "alice_%d" % g.uid["alice"], "crashed", "left.tif")
    os.makedirs(os.path.dirname(orphan_repo), exist_ok=True)
    open(orphan_repo, "wb").write(b"x" * 100)
    orphan_file = os.path.join(g.data, "Files", "987654")
    os.makedirs(os.path.dirname(orphan_file), exist_ok=True)
    open(orphan_file, "wb").write(b"y")
    orphan_thumb = os.path.join(g.data, "Thumbnails", "876543")
    os.makedirs(os.path.dirname(orphan_thumb), exist_ok=True)
    open(orphan_thumb, "wb").write(b"z")
    # what a crash between a commit and the removal of its files leaves: recorded paths; one of them
    # is named again by a row (a live file) and must survive
    api(g, "alice").graph({"@type": "omero.cmd.DiskUsage2", "targetClasses": ["Fileset"]})   # the tables exist
    crashed = os.path.join(g.data, "Files", "24680")
    open(crashed, "wb").write(b"w")
    psql(g, "INSERT INTO graph_pending_file (handle, path) VALUES (0, '%s'), (0, '%s');" % (crashed, kept[0]))
    # only administrators
    out = cli(g, "alice", "admin", "cleanse", check=False)
    assert out.returncode == 1 and "administrators" in out.stderr
    out = cli(g, "root", "admin", "cleanse", "--dry-run")
    for p in (orphan_repo, orphan_file, orphan_thumb, crashed):
        assert "Would remove " + p in out.stdout and os.path.exists(p)
    out = cli(g, "root", "admin", "cleanse", g.data)
    for p in (orphan_repo, orphan_file, orphan_thumb, crashed):
        assert "Removing " + p in out.stdout and not os.path.exists(p)
    assert not os.path.exists(os.path.dirname(orphan_repo))
    assert all(os.path.exists(f) for f in kept), "cleanse removed a file the database names"
    assert kept[0] not in out.stdout
    out = cli(g, "root", "admin", "cleanse", "/tmp", check=False)
    assert out.returncode == 1 and "not this server's data directory" in out.stderr


# ---- a server killed in the middle -------------------------------------------------------------

CLONE_SQL = """
SELECT set_config('omero.admin', 'true', false), set_config('omero.group', '-1', false);
CREATE FUNCTION pg_temp.cols(t text) RETURNS text LANGUAGE sql AS $f$
  SELECT string_agg(quote_ident(column_name::text), ',' ORDER BY ordinal_position) FROM information_schema.columns
   WHERE table_schema = current_schema() AND table_name = t AND column_name NOT IN ('id', 'parent', 'child')
$f$;
DO $d$ DECLARE c text; l text;
BEGIN
  CREATE TEMP TABLE bi AS SELECT nextval('seq_image') AS id FROM generate_series(1, @N@);
  c := pg_temp.cols('image');
  EXECUTE format('INSERT INTO image (id,%s) SELECT bi.id,%s FROM image t, bi WHERE t.id = @I@', c, c);
  l := pg_temp.cols('datasetimagelink');
  EXECUTE format('INSERT INTO datasetimagelink (id,parent,child,%s) SELECT nextval(''seq_datasetimagelink''), @D@, bi.id,%s '
                 'FROM datasetimagelink t, bi WHERE t.child = @I@', l, l);
END $d$;
"""


def psql(g, sql):
    db = {}
    for line in open(os.path.join(g.dir, "var", "master", "db.yaml")):
        k, _, v = line.partition(":")
        db[k.strip().strip('"')] = v.strip().strip('"')
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", db["omero.db.host"], "-p", db["omero.db.port"],
                        "-U", db["omero.db.user"], db["omero.db.name"]], input=sql, capture_output=True, text=True,
                       env=dict(os.environ, PGPASSWORD=db["omero.db.pass"]))
    assert r.returncode == 0, r.stderr


def test_server_killed_mid_delete_changes_nothing(g):
    """A Blitz killed while a delete runs: the transaction never commits, and the handle reports
    FAILURE once a server answers again (instead of RUNNING for ever)."""
    alice = api(g, "alice")
    d = alice.save({"@type": "Dataset", "Name": "big", "ImageLinks": [
        {"@type": "DatasetImageLink", "child": {"@type": "Image", "Name": "seed"}}]})
    i0 = d["ImageLinks"][0]["Child"]["@id"]
    d = d["@id"]
    psql(g, CLONE_SQL.replace("@N@", "6000").replace("@I@", str(i0)).replace("@D@", str(d)))
    n = len(rows(g, "select l.child.id from DatasetImageLink l where l.parent.id = %d" % d))
    assert n == 6001
    h = alice.call("Command", "submit", request={"@type": "omero.cmd.Delete2", "targetObjects": {"Dataset": [d]}})["handle"]
    for _ in range(200):
        if alice.call("Command", "status", handle=h)["currentStep"] >= 1:
            break
        time.sleep(0.02)
    blitz = [p for p in g.pids() if b"omero-blitz" in open("/proc/%d/cmdline" % p, "rb").read()]
    assert blitz
    os.kill(blitz[0], signal.SIGKILL)
    st = None
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            st = alice.call("Command", "status", handle=h)
            if st["state"] != "RUNNING":
                break
        except (AssertionError, requests.RequestException):
            pass
        time.sleep(0.5)
    assert st and st["state"] == "FAILURE", st
    r = alice.call("Command", "response", handle=h)
    assert r["@type"] == "omero.cmd.ERR" and "stopped" in r["message"], r
    assert exists(g, "Dataset", d) == [d]
    assert len(rows(g, "select l.child.id from DatasetImageLink l where l.parent.id = %d" % d)) == n
    # a cancelled delete changes nothing either
    h = alice.call("Command", "submit", request={"@type": "omero.cmd.Delete2", "targetObjects": {"Dataset": [d]}})["handle"]
    assert alice.call("Command", "cancel", handle=h) == {"cancelled": True}
    for _ in range(1200):
        st = alice.call("Command", "status", handle=h)
        if st["state"] != "RUNNING":
            break
        time.sleep(0.05)
    assert st["state"] == "CANCELLED" and st["cancelled"], st
    assert alice.call("Command", "response", handle=h)["name"] == "Cancelled"
    assert len(rows(g, "select l.child.id from DatasetImageLink l where l.parent.id = %d" % d)) == n
    # the restarted server deletes it in full
    r = alice.graph({"@type": "omero.cmd.Delete2", "targetObjects": {"Dataset": [d]}})
    assert len(r["deletedObjects"]["ome.model.core.Image"]) == n
    assert exists(g, "Dataset", d) == [] and exists(g, "Image", i0) == []
