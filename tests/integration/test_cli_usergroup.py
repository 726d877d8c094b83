"""`omero user …`, `omero group …`, `omero help` and `omero version` against the HTTPS test
server (cli_fake_server.py): what is sent, what is printed (OMERO's tables and messages), exit
codes, and that bad input changes nothing."""
import csv
import io
import json
import os
import subprocess

import pytest

from cli_fake_server import FakeServer

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
OMERO = os.path.join(BUILD, "bin", "omero")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ug"))
    srv = FakeServer(root)
    e = {k: v for k, v in os.environ.items() if not k.startswith("OMERO")}
    e.update({"OMERODIR": root, "OMERO_SESSIONDIR": os.path.join(root, "sessions"), "OMERO_CA": srv.cert,
              "HOME": root})

    def omero(*args, input="", check=None):
        r = subprocess.run([OMERO] + list(args), capture_output=True, text=True, env=e, input=input, timeout=60)
        if check is not None:
            assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
        return r

    omero("login", "root@127.0.0.1:%d" % srv.port, "-w", "omero", check=0)
    yield srv, omero
    srv.stop()


def table(text):
    """Rows of an sql-style table as lists of stripped cells (header first)."""
    lines = text.splitlines()
    assert set(lines[1]) <= {"-", "+"}
    return [[c.strip() for c in line.split("|")] for line in [lines[0]] + lines[2:-1]], lines[-1]


def test_group_add_and_exists(env):
    srv, omero = env
    r = omero("group", "add", "lab-ro", "--type", "read-only", check=0)
    gid = srv.state.ref(srv.state.groups, "Name", "lab-ro")
    assert r.stdout == "Added group lab-ro (id=%d) with permissions rwr---\n" % gid
    assert srv.state.groups[gid]["perm"] == "rwr---"
    r = omero("group", "add", "lab-ra", "--perms=rwra--", check=0)
    assert r.stdout.endswith("with permissions rwra--\n")
    r = omero("group", "add", "lab-private", check=0)
    assert r.stdout.endswith("with permissions rw----\n")
    r = omero("group", "add", "lab-ro")
    assert r.returncode == 3 and r.stderr.endswith("Group exists: lab-ro (id=%d)\n" % gid)
    r = omero("group", "add", "lab-ro", "--ignore-existing", check=0)
    assert r.stdout == "Group exists: lab-ro (id=%d)\n" % gid


def test_group_add_bad_input_changes_nothing(env):
    srv, omero = env
    before = dict(srv.state.groups)
    srv.clear()
    r = omero("group", "add", "x1", "--perms", "rwx---")
    assert r.returncode == 505 % 256 and "Invalid permissions string: rwx---" in r.stderr
    r = omero("group", "add", "x2", "--type", "public")
    assert r.returncode == 2 and "invalid choice: 'public'" in r.stderr
    r = omero("group", "add", "x3", "--perms", "rw----", "--type", "read-only")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
    r = omero("group", "add")
    assert r.returncode == 2 and "the following arguments are required: name" in r.stderr
    assert not srv.requests("createGroup") and srv.state.groups == before


def test_user_add(env):
    srv, omero = env
    srv.clear()
    r = omero("user", "add", "jsmith", "John", "Smith", "--group-name", "lab-ro", "-P", "secret", "-e",
              "j@example.org", "-i", "Dundee", "-m", "Q", check=0)
    uid = srv.state.uref("jsmith")
    assert r.stdout == "Added user jsmith (id=%d) with password\n" % uid
    gid = srv.state.gref("lab-ro")
    assert (uid, gid) in srv.state.members and (uid, 1) in srv.state.members and (uid, 0) not in srv.state.members
    assert srv.state.passwords[uid] == "secret"
    body = json.loads(srv.requests("createExperimenterWithPassword")[0]["body"])
    assert body["defaultGroup"] == gid and body["groups"] == [1]
    assert body["experimenter"]["MiddleName"] == "Q" and body["experimenter"]["Institution"] == "Dundee"
    # Positional groups, admin flag, password from the terminal prompt replaced by stdin here.
    r = omero("user", "add", "admin2", "Ad", "Min", "lab-ra", "lab-private", "-a", input="pw2\npw2\n", check=0)
    uid2 = srv.state.uref("admin2")
    assert (uid2, 0) in srv.state.members and (uid2, srv.state.gref("lab-private")) in srv.state.members
    assert srv.state.passwords[uid2] == "pw2"
    r = omero("user", "add", "jsmith", "J", "S", "lab-ro", "-P", "x")
    assert r.returncode == 3 and r.stderr.endswith("User exists: jsmith (id=%d)\n" % uid)
    r = omero("user", "add", "nogroup", "N", "G", "-P", "x")
    assert r.returncode == 501 % 256 and r.stderr.endswith("No input group is specified\n")
    r = omero("user", "add", "badgroup", "N", "G", "nosuch", "-P", "x")
    assert r.returncode == 504 % 256 and "Unknown group: nosuch" in r.stderr
    r = omero("user", "add", "nopw", "N", "P", "lab-ro", "--no-password")
    assert r.returncode == 502 % 256 and "does not allow user creation with empty passwords" in r.stderr
    r = omero("user", "add", "mismatch", "M", "M", "lab-ro", input="a\nb\n")
    assert r.returncode != 0 and "Passwords don't match" in r.stderr
    for name in ("nogroup", "badgroup", "nopw", "mismatch"):
        with pytest.raises(Exception):
            srv.state.uref(name)


def test_user_list_styles(env):
    srv, omero = env
    r = omero("user", "list", check=0)
    rows, status = table(r.stdout)
    assert rows[0] == ["id", "login", "first name", "last name", "email", "active", "ldap", "admin",
                       "member of", "owner of"]
    byname = {row[1]: row for row in rows[1:]}
    assert status == "(%d rows)" % (len(rows) - 1)
    assert byname["root"][5:8] == ["Yes", "False", "Yes"]
    js = byname["jsmith"]
    assert js[2:5] == ["John", "Smith", "j@example.org"] and js[5] == "Yes" and js[7] == ""
    assert js[8] == str(srv.state.gref("lab-ro"))
    ids = [int(row[0]) for row in rows[1:]]
    assert ids == sorted(ids)
    r = omero("user", "list", "--style", "csv", "--count", check=0)
    rec = list(csv.reader(io.StringIO(r.stdout)))
    assert rec[0][-2:] == ["# group memberships", "# group ownerships"]
    assert [x for x in rec if x[1] == "jsmith"][0][-2:] == ["1", ""]
    r = omero("user", "list", "--style=json", "--sort-by-login", check=0)
    data = json.loads(r.stdout)
    assert [d["login"] for d in data] == sorted(d["login"] for d in data)
    assert all(isinstance(v, str) for d in data for v in d.values())
    r = omero("user", "list", "--style", "plain", check=0)
    assert not r.stdout.startswith("id,") and "jsmith" in r.stdout
    r = omero("user", "list", "--style", "xml")
    assert r.returncode == 2 and "invalid choice: 'xml'" in r.stderr


def test_user_info_and_listgroups(env):
    srv, omero = env
    r = omero("user", "info", check=0)
    rows, status = table(r.stdout)
    assert status == "(1 row)" and rows[1][1] == "root"
    r = omero("user", "info", "--user-name", "jsmith", "admin2", check=0)
    assert [row[1] for row in table(r.stdout)[0][1:]] == ["jsmith", "admin2"]
    r = omero("user", "info", "nosuchuser")
    assert r.returncode == 514 % 256 and "Unknown user: nosuchuser" in r.stderr
    r = omero("user", "listgroups", "jsmith", check=0)
    rows, _ = table(r.stdout)
    assert rows[0] == ["id", "name", "perms", "ldap", "# of owners", "# of members"]
    assert sorted(row[1] for row in rows[1:]) == ["lab-ro", "user"]


def test_group_list_info_listusers(env):
    srv, omero = env
    r = omero("group", "list", check=0)
    rows, _ = table(r.stdout)
    assert rows[0] == ["id", "name", "perms", "ldap", "# of owners", "# of members"]
    by = {row[1]: row for row in rows[1:]}
    assert by["lab-ro"][2] == "rwr---" and by["lab-ro"][5] == "1"
    assert by["system"][2] == "rw----"
    r = omero("group", "list", "--long", "--sort-by-name", check=0)
    rows, _ = table(r.stdout)
    assert rows[0][4:] == ["owner ids", "member ids"]
    assert [row[1] for row in rows[1:]] == sorted(row[1] for row in rows[1:])
    r = omero("group", "info", "lab-ro", "--style", "json", check=0)
    assert json.loads(r.stdout)[0]["name"] == "lab-ro"
    r = omero("group", "info", check=0)
    assert table(r.stdout)[0][1][1] == "system"
    r = omero("group", "listusers", "lab-ro", check=0)
    rows, _ = table(r.stdout)
    assert [row[1] for row in rows[1:]] == ["jsmith"] and rows[0][8] == "member of"


def test_membership_changes(env):
    srv, omero = env
    st = srv.state
    uid, ra = st.uref("jsmith"), st.gref("lab-ra")
    r = omero("group", "adduser", "jsmith", "--name=lab-ra", check=0)
    assert r.stdout == "Added %d to group %d\n" % (uid, ra) and (uid, ra) in st.members
    r = omero("group", "adduser", "--name", "lab-ra", "--user-name", "jsmith", check=0)
    assert r.stdout == "%d is already in group %d\n" % (uid, ra)
    r = omero("group", "adduser", "jsmith", "--name=lab-ra", "--as-owner", check=0)
    assert r.stdout == "Added %d to the owner list of group %d\n" % (uid, ra) and st.members[(uid, ra)]
    r = omero("user", "leavegroup", "lab-ra", "--name=jsmith", "--as-owner", check=0)
    assert r.stdout == "Removed %d from the owner list of group %d\n" % (uid, ra) and not st.members[(uid, ra)]
    r = omero("group", "removeuser", "jsmith", "--name=lab-ra", check=0)
    assert r.stdout == "Removed %d from group %d\n" % (uid, ra) and (uid, ra) not in st.members
    r = omero("user", "leavegroup", "lab-ra", "--name=jsmith", check=0)
    assert r.stdout == "%d is not in group %d\n" % (uid, ra)
    r = omero("user", "joingroup", "lab-ra", "--name=jsmith", check=0)
    assert r.stdout == "Added %d to group %d\n" % (uid, ra)
    # Deactivation is leaving the "user" group.
    r = omero("user", "leavegroup", "user", "--name=jsmith", check=0)
    assert (uid, 1) not in st.members
    row = [x for x in table(omero("user", "list", check=0).stdout)[0] if x[1] == "jsmith"][0]
    assert row[5] == ""
    omero("user", "joingroup", "user", "--name=jsmith", check=0)
    r = omero("group", "adduser", "--name", "nosuch", "jsmith")
    assert r.returncode == 503 % 256 and "Unknown group: nosuch" in r.stderr
    r = omero("group", "adduser", "--name", "lab-ra")
    assert r.returncode == 511 % 256 and "No input user is specified" in r.stderr
    r = omero("group", "copyusers", "lab-ro", "lab-private", check=0)
    assert r.stdout.endswith("Users of lab-ro copied to lab-private\n")
    assert (uid, st.gref("lab-private")) in st.members


def test_group_perms(env):
    srv, omero = env
    gid = srv.state.gref("lab-ro")
    r = omero("group", "perms", "--perms=rwrw--", "--name=lab-ro", check=0)
    assert r.stdout == "Changed permissions for group lab-ro (id=%d) to rwrw--\n" % gid
    assert srv.state.groups[gid]["perm"] == "rwrw--"
    r = omero("group", "perms", "--type", "read-write", "--id", str(gid), check=0)
    assert r.stdout == "Permissions for group lab-ro (id=%d) already rwrw--\n" % gid
    r = omero("group", "perms", "--perms", "rwrw--")
    assert r.returncode == 501 % 256 and "No input group is specified" in r.stderr
    # A refusal of the server is reported with OMERO's message.
    with srv.state.lock:
        srv.state.groups[13] = {"Name": "tangled", "perm": "rwrw--"}
    r = omero("group", "perms", "--type", "private", "--name", "tangled")
    assert r.returncode == 504 % 256
    assert r.stderr.endswith("Cannot change permissions for group tangled (id=13) to rw----: "
                             "links between users' data prevent this change\n")


def test_user_password_and_email(env):
    srv, omero = env
    r = omero("user", "password", "jsmith", input="omero\nnewpw\nnewpw\n", check=0)
    uid = srv.state.uref("jsmith")
    assert "Verified password." in r.stdout
    assert "Changing password for jsmith (id:%d)" % uid in r.stdout and r.stdout.endswith("Password changed\n")
    assert srv.state.passwords[uid] == "newpw"
    r = omero("user", "password", "jsmith", input="wrong\n")
    assert r.returncode == 456 % 256 and "SecurityViolation: Bad credentials" in r.stderr
    assert srv.state.passwords[uid] == "newpw"
    r = omero("user", "email", check=0)
    assert r.stdout == "j@example.org\n"
    assert "Missing email addresses:" in r.stderr and "root root" in r.stderr
    r = omero("user", "email", "-n", "-i", check=0)
    assert r.stdout == '"John Q Smith" <j@example.org>\n' and r.stderr.startswith("Using session")


def test_non_admin_is_refused(env):
    srv, omero = env
    r = omero("user", "add", "x", "X", "Y", "lab-ro", "-P", "p", "-C", "-u", "jsmith", "-w", "newpw",
              "-s", "127.0.0.1", "-p", str(srv.port))
    assert r.returncode == 68 and "Security violation: only administrators may create users" in r.stderr


def test_help_and_version(env):
    srv, omero = env
    r = omero("version", check=0)
    assert r.stdout == "5.6.10\n"
    r = omero("help", check=0)
    assert "Available commands:" in r.stdout and "sessions" in r.stdout and "user" in r.stdout
    r = omero("help", "--list", check=0)
    lines = r.stdout.splitlines()
    i = lines.index("user (8)")
    assert lines[i + 1:i + 9] == ["\t" + s for s in ("add", "list", "info", "listgroups", "password", "email",
                                                   "joingroup", "leavegroup")]
    assert "group (8)" in lines and "sessions (13)" in lines and "version" in lines
    r = omero("help", "group", check=0)
    assert r.stdout == omero("group", "-h", check=0).stdout
    r = omero("help", "user", "--recursive", check=0)
    assert "user add\n^^^^^^^^" in r.stdout and "usage: omero user add" in r.stdout
    r = omero("help", "--all", check=0)
    assert "\nsessions\n--------\n" in r.stdout and "\nenv\n---\n" in r.stdout
    r = omero("help", "env", check=0)
    assert "OMERO_SESSIONDIR" in r.stdout
    r = omero("help", "nosuch")
    assert r.stderr == "Unknown help topic or command: nosuch\n"
    r = omero("help", "--all", "--list")
    assert r.returncode == 2
