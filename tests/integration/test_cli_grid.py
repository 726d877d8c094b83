"""The session, user and group commands end to end: `omero admin start` brings up a real grid
(registry, omero-router on omero.ports.ssl, omero-blitz, embedded PostgreSQL) and the CLI talks to
it over HTTPS, verifying the router with the installation's CA ($OMERODIR/etc/certs/ca.pem)."""
import json
import os

import pytest


def root_password(grid):
    path = os.path.join(grid.dir, "var", "master", "root_password")
    if not os.path.exists(path):
        pytest.fail("no root password at %s after start:\n%s" % (path, grid.log("master.err")))
    return open(path).read().strip()


def table(text):
    lines = text.splitlines()
    return [[c.strip() for c in line.split("|")] for line in [lines[0]] + lines[2:-1]]


def test_cli_against_a_real_grid(grid):
    grid.omero("admin", "start", timeout=600)
    try:
        run(grid)
    finally:
        grid.omero("admin", "stop", check=False, timeout=300)


def run(grid):
    pw = root_password(grid)
    port = grid.port("ssl")
    conn = "localhost:%d" % port
    # Before any login a command cannot ask for a server without a terminal.
    r = grid.omero("user", "list", check=False)
    assert r.returncode == 564 % 256 and "cannot request server" in r.stderr

    r = grid.omero("login", "root@" + conn, "-w", "wrong", check=False)
    assert r.returncode == 564 % 256, r.stderr
    assert "stdin is not a terminal: cannot request password" in r.stderr

    r = grid.omero("login", "root@" + conn, "-w", pw)
    assert r.stderr == "Created session for root@%s. Idle timeout: 10 min. Current group: system\n" % conn
    key = grid.omero("sessions", "key").stdout.strip()
    assert len(key) == 36
    r = grid.omero("login")
    assert r.stderr.startswith("Using session for root@%s." % conn)

    # Groups and users.
    r = grid.omero("group", "add", "lab-ra", "--type", "read-annotate")
    assert r.stdout.startswith("Added group lab-ra (id=") and r.stdout.endswith("with permissions rwra--\n")
    r = grid.omero("group", "add", "lab-ra", check=False)
    assert r.returncode == 3 and "Group exists: lab-ra" in r.stderr
    r = grid.omero("group", "add", "lab-private")
    r = grid.omero("user", "add", "jsmith", "John", "Smith", "--group-name", "lab-ra", "-P", "js-pw", "-e",
                   "john@example.org")
    assert r.stdout.startswith("Added user jsmith (id=") and r.stdout.endswith("with password\n")
    uid = int(r.stdout.split("id=")[1].split(")")[0])
    r = grid.omero("user", "add", "jsmith", "J", "S", "lab-ra", "-P", "x", check=False)
    assert r.returncode == 3 and "User exists: jsmith (id=%d)" % uid in r.stderr

    rows = table(grid.omero("user", "list").stdout)
    assert rows[0][:5] == ["id", "login", "first name", "last name", "email"]
    by = {row[1]: row for row in rows[1:]}
    assert by["root"][5] == "Yes" and by["root"][7] == "Yes"
    assert by["jsmith"][2:6] == ["John", "Smith", "john@example.org", "Yes"] and by["jsmith"][7] == ""
    data = json.loads(grid.omero("group", "list", "--style", "json", "--long").stdout)
    groups = {d["name"]: d for d in data}
    assert groups["lab-ra"]["perms"] == "rwra--" and groups["lab-ra"]["member ids"] == str(uid)
    assert groups["system"]["perms"] == "rw----"

    r = grid.omero("group", "adduser", "jsmith", "--name=lab-private", "--as-owner")
    gid = groups["lab-private"]["id"]
    assert r.stdout == "Added %d to the owner list of group %s\n" % (uid, gid)
    r = grid.omero("group", "perms", "--perms=rwr---", "--name=lab-private")
    assert r.stdout == "Changed permissions for group lab-private (id=%s) to rwr---\n" % gid
    info = table(grid.omero("group", "info", "lab-private", "--long").stdout)
    assert info[1][2] == "rwr---" and info[1][4] == str(uid)

    # The new user logs in (a second session of this store), switches group, sees its info.
    r = grid.omero("login", "jsmith@" + conn, "-w", "js-pw")
    assert r.stderr.startswith("Created session for jsmith@%s." % conn)
    assert r.stderr.endswith("Current group: lab-ra\n")
    r = grid.omero("sessions", "group", "lab-private")
    assert r.stdout == "Group 'lab-ra' (id=%s) switched to 'lab-private' (id=%s)\n" % (groups["lab-ra"]["id"], gid)
    assert grid.omero("sessions", "group").stdout == "ExperimenterGroup:%s\n" % gid
    r = grid.omero("sessions", "group", "system", check=False)
    assert r.returncode != 0 and "SecurityViolation" in r.stderr
    info = table(grid.omero("user", "info").stdout)
    assert info[1][1] == "jsmith" and info[1][9] == str(gid)
    r = grid.omero("user", "add", "x", "X", "Y", "lab-ra", "-P", "p", check=False)
    assert r.returncode == 68 and "Security violation" in r.stderr

    # Timeouts, the list of stored sessions, who is logged in.
    assert grid.omero("sessions", "timeout").stdout == "600.0\n"
    grid.omero("sessions", "timeout", "900")
    assert grid.omero("sessions", "timeout").stdout == "900.0\n"
    rows = table(grid.omero("sessions", "list").stdout)
    active = {row[1]: row[4] for row in rows[1:]}
    assert active == {"jsmith": "Logged in", "root": "True"}
    r = grid.omero("sessions", "who")
    assert "jsmith" in r.stdout and "(*)" in r.stdout

    # Password change by the user, then a login with the new password.
    r = grid.omero("user", "password", input="js-pw\nnew-pw-1\nnew-pw-1\n")
    assert r.stdout.endswith("Password changed\n")
    grid.omero("logout")
    r = grid.omero("login", "-C", "jsmith@" + conn, "-w", "js-pw", check=False)
    assert r.returncode != 0
    r = grid.omero("login", "-C", "jsmith@" + conn, "-w", "new-pw-1")
    assert r.stderr.startswith("Created session for jsmith@")

    # Joining root's stored session by key, then sudo.
    r = grid.omero("login", "localhost", "-p", str(port), "-k", key)
    assert r.stderr.startswith("Joined session for root@localhost:%d." % port)
    r = grid.omero("login", "-C", "--sudo", "root", "-w", pw, "jsmith@" + conn)
    assert r.stderr.startswith("Created session for jsmith@"), r.stderr
    sudo_key = grid.omero("sessions", "key").stdout.strip()
    props = open(grid.omero("sessions", "file").stdout.strip()).read()
    assert "omero.sudo=root\n" in props

    # Deactivate and reactivate the user.
    grid.omero("login", "-k", key, "localhost", "-p", str(port))
    grid.omero("user", "leavegroup", "user", "--name=jsmith")
    r = grid.omero("login", "-C", "jsmith@" + conn, "-w", "new-pw-1", check=False)
    assert r.returncode != 0
    grid.omero("login", "-k", key, "localhost", "-p", str(port))
    grid.omero("user", "joingroup", "user", "--name=jsmith")

    # An administrator opens and closes a session for the user; copies members between groups.
    r = grid.omero("sessions", "open", "--user-name", "jsmith", "--group-name", "lab-ra")
    assert r.stderr.endswith("\n") and "Session created for user jsmith in group lab-ra" in r.stderr
    opened = r.stdout.strip()
    r = grid.omero("sessions", "close", opened)
    assert r.stdout == "Session %s closed.\n" % opened
    r = grid.omero("login", "localhost", "-p", str(port), "-k", opened, check=False)
    assert r.returncode == 523 % 256
    grid.omero("login", "-k", key, "localhost", "-p", str(port))
    r = grid.omero("group", "copyusers", "lab-ra", "system", "--as-owner")
    assert r.stdout == "Owners of lab-ra copied to system\n"
    rows = table(grid.omero("group", "listusers", "lab-private").stdout)
    assert [row[1] for row in rows[1:]] == ["jsmith"]
    assert grid.omero("user", "email", "-n", "--all").stdout == '"John Smith" <john@example.org>\n'

    # Logout closes the session on the server: its key no longer joins.
    grid.omero("logout")
    r = grid.omero("login", "localhost", "-p", str(port), "-k", key, check=False)
    assert r.returncode == 523 % 256 and "Bad session key" in r.stderr
    assert sudo_key != key
