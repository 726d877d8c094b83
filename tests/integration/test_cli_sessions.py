"""`omero login`, `omero logout` and `omero sessions …` against an HTTPS server speaking the
router's protocol (cli_fake_server.py): messages and exit codes as OMERO's CLI prints them, the
on-disk session store, reuse of stored sessions, keys, sudo, groups, timeouts and prompts."""
import os
import pty
import select
import subprocess
import time

import pytest

from cli_fake_server import FakeServer

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
OMERO = os.path.join(BUILD, "bin", "omero")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    srv = FakeServer(str(tmp_path_factory.mktemp("certs")))
    with srv.state.lock:
        st = srv.state
        st.groups[3] = {"Name": "lab", "perm": "rwr---"}
        st.users[5] = {"UserName": "alice", "FirstName": "Alice", "LastName": "A"}
        st.members.update({(5, 1): False, (5, 3): False})
        st.passwords[5] = "alice-pw"
    yield srv
    srv.stop()


class Cli:
    def __init__(self, fake, root):
        self.fake = fake
        self.root = root
        self.sessions = os.path.join(root, "sessions")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OMERO")}
        self.env.update({"OMERODIR": os.path.join(root, "omerodir"), "OMERO_SESSIONDIR": self.sessions,
                         "OMERO_CA": fake.cert, "HOME": root, "USER": "tester"})
        os.makedirs(self.env["OMERODIR"], exist_ok=True)
        self.conn = "127.0.0.1:%d" % fake.port

    def __call__(self, *args, input=None, env=None):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([OMERO] + list(args), capture_output=True, text=True, env=e, timeout=60,
                              input=input if input is not None else "")


@pytest.fixture
def cli(fake, tmp_path):
    return Cli(fake, str(tmp_path))


def login_root(cli, *extra):
    r = cli("login", "root@" + cli.conn, "-w", "omero", *extra)
    assert r.returncode == 0, r.stderr
    return r


def test_login_creates_and_stores_session(cli, fake):
    fake.clear()
    r = login_root(cli)
    assert r.stderr == "Created session for root@127.0.0.1:%d. Idle timeout: 10 min. Current group: system\n" % fake.port
    assert r.stdout == ""
    key = cli("sessions", "key").stdout.strip()
    assert len(key) == 36
    path = os.path.join(cli.sessions, "127.0.0.1", "root", key)
    assert cli("sessions", "file").stdout.strip() == path
    props = dict(line.split("=", 1) for line in open(path).read().splitlines())
    assert props["omero.host"] == "127.0.0.1" and props["omero.user"] == "root"
    assert props["omero.sess"] == key and props["omero.port"] == str(fake.port)
    assert oct(os.stat(cli.sessions).st_mode & 0o777) == "0o700"
    assert open(os.path.join(cli.sessions, "._LASTHOST_")).read() == "127.0.0.1"
    assert open(os.path.join(cli.sessions, "._LASTPORT_")).read() == str(fake.port)
    body = fake.requests("createSession")[0]["body"]
    assert b'"agent": "OMERO.cli"' in body or b'"agent":"OMERO.cli"' in body


def test_login_again_reuses_session(cli, fake):
    login_root(cli)
    key = cli("sessions", "key").stdout.strip()
    fake.clear()
    r = cli("login")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("Using session for root@127.0.0.1:%d. Idle timeout: 10 min." % fake.port)
    assert not fake.requests("createSession")
    assert cli("sessions", "key").stdout.strip() == key
    # The same user and server with -w still reuses the stored session ("Reconnected to" once the
    # current marker is gone).
    os.unlink(os.path.join(cli.sessions, "127.0.0.1", "root", "._LASTSESS_"))
    r = cli("login", "root@" + cli.conn, "-w", "omero")
    assert r.stderr.startswith("Reconnected to session for root@")
    assert cli("sessions", "key").stdout.strip() == key
    # -C forces a new one.
    r = cli("login", "-C", "root@" + cli.conn, "-w", "omero")
    assert r.stderr.startswith("Created session for root@")
    assert cli("sessions", "key").stdout.strip() != key


def test_omero_password_and_options(cli, fake):
    r = cli("login", "-s", "127.0.0.1", "-p", str(fake.port), "-u", "alice", env={"OMERO_PASSWORD": "alice-pw"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.endswith("Current group: lab\n")
    # -w wins over OMERO_PASSWORD.
    r = cli("login", "-C", "-s", "127.0.0.1", "-p", str(fake.port), "-u", "alice", "-w", "alice-pw",
            env={"OMERO_PASSWORD": "wrong"})
    assert r.returncode == 0, r.stderr
    # -g picks the group.
    r = cli("login", "-C", "alice@" + cli.conn, "-w", "alice-pw", "-g", "user")
    assert r.returncode == 0 and r.stderr.endswith("Current group: user\n")


def test_quiet_login(cli):
    r = cli("login", "-q", "root@" + cli.conn, "-w", "omero")
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""


def test_login_errors(cli, fake):
    # Wrong password without a terminal: the reason, then no way to ask again.
    r = cli("login", "root@" + cli.conn, "-w", "bad")
    assert r.returncode == 564 % 256
    assert r.stderr == "Password check failed for 'root'\nstdin is not a terminal: cannot request password\n"
    r = cli("login", "root@" + cli.conn)
    assert r.returncode == 564 % 256 and "cannot request password" in r.stderr
    r = cli("login")
    assert r.returncode == 564 % 256 and r.stderr == "stdin is not a terminal: cannot request server\n"
    r = cli("login", "root@" + cli.conn, "-s", "other", "-w", "x")
    assert r.returncode == 3 and r.stderr == "Server specified twice: root@%s and other\n" % cli.conn
    r = cli("login", "root@" + cli.conn, "-u", "bob", "-w", "x")
    assert r.returncode == 4 and r.stderr == "Username specified twice: root and bob\n"
    r = cli("login", "root@" + cli.conn, "-p", "1", "-w", "x")
    assert r.returncode == 5
    r = cli("login", "root@127.0.0.1:1", "-w", "x")
    assert r.returncode == 554 % 256
    assert r.stderr == "Ice.ConnectionRefusedException: 127.0.0.1:1 isn't running\n"
    r = cli("login", "alice@" + cli.conn, "-w", "alice-pw", "-g", "system")
    assert r.returncode == 557 % 256 and r.stderr.startswith("SecurityViolation: alice is not a member")
    r = cli("login", "root@" + cli.conn, "-w", "omero", env={"OMERO_CA": "/nonexistent.pem"})
    assert r.returncode == 556 % 256 and r.stderr.startswith("SSLException: ")
    r = cli("login", "--bogus")
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr
    # Nothing was stored by the failures.
    assert cli("sessions", "key").stdout == ""


def test_join_by_key(cli, fake):
    login_root(cli)
    key = cli("sessions", "key").stdout.strip()
    other = Cli(fake, os.path.join(cli.root, "other"))
    r = other("login", "127.0.0.1", "-p", str(fake.port), "-k", key)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("Joined session for root@127.0.0.1:%d." % fake.port)
    assert other("sessions", "key").stdout.strip() == key
    # A key the store already holds needs no server.
    r = cli("login", "-k", key)
    assert r.returncode == 0 and r.stderr.startswith("Joined session for root@127.0.0.1:%d." % fake.port)
    r = cli("user", "info", "-k", key)
    assert r.returncode == 0 and r.stderr.startswith("Joined session for root@")
    third = Cli(fake, os.path.join(cli.root, "third"))
    r = third("login", "-k", key)
    assert r.returncode == 564 % 256 and "cannot request server" in r.stderr
    r = other("login", "127.0.0.1", "-p", str(fake.port), "-k", "00000000-0000-0000-0000-000000000000")
    assert r.returncode == 523 % 256
    assert r.stderr == "Bad session key. Cannot join 00000000-0000-0000-0000-000000000000 on 127.0.0.1:%d.\n" % fake.port


def test_sudo(cli, fake):
    fake.clear()
    r = cli("login", "--sudo", "root", "-w", "omero", "alice@" + cli.conn)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("Created session for alice@")
    body = fake.requests("createSession")[0]["body"].decode()
    assert '"sudo"' in body and '"root"' in body
    key = cli("sessions", "key").stdout.strip()
    props = open(os.path.join(cli.sessions, "127.0.0.1", "alice", key)).read()
    assert "omero.sudo=root\n" in props
    r = cli("login", "-C", "--sudo", "root", "-w", "alice-pw", "alice@" + cli.conn)
    assert r.returncode != 0 and "Password check failed for 'root'" in r.stderr


def test_logout(cli, fake):
    login_root(cli)
    key = cli("sessions", "key").stdout.strip()
    fake.clear()
    r = cli("logout")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert fake.requests("closeSession")
    assert fake.state.sessions[key]["closed"]
    assert not os.path.exists(os.path.join(cli.sessions, "127.0.0.1", "root", key))
    assert cli("sessions", "key").stdout == ""
    # Logging in again mentions the previous server and user (without a terminal the server must
    # be given, as in OMERO).
    r = cli("login", "-w", "omero")
    assert r.returncode == 564 % 256 and r.stderr == "stdin is not a terminal: cannot request server\n"
    r = cli("login", "root@" + cli.conn, "-w", "omero")
    assert r.stdout == "Previously logged in to 127.0.0.1:%d as root\n" % fake.port
    assert r.stderr.startswith("Created session for root@")
    # `sessions logout` is the same command.
    assert cli("sessions", "logout").returncode == 0
    assert cli("sessions", "key").stdout == ""


def test_expired_session_is_replaced(cli, fake):
    login_root(cli)
    key = cli("sessions", "key").stdout.strip()
    with fake.state.lock:
        fake.state.sessions[key]["closed"] = True
    r = cli("login", "root@" + cli.conn, "-w", "omero")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Previous session expired for root on 127.0.0.1:%d\n" % fake.port
    assert r.stderr.startswith("Created session for root@")
    assert cli("sessions", "key").stdout.strip() != key
    assert not os.path.exists(os.path.join(cli.sessions, "127.0.0.1", "root", key))


def test_sessions_list_and_clear(cli, fake):
    login_root(cli)
    r = cli("login", "-C", "alice@" + cli.conn, "-w", "alice-pw")
    alice = cli("sessions", "key").stdout.strip()
    r = cli("sessions", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["Server", "User", "Group", "Session", "Active", "Started"]
    assert set(lines[1]) <= {"-", "+"}
    rows = [[c.strip() for c in line.split("|")] for line in lines[2:-1]]
    assert lines[-1] == "(2 rows)"
    byuser = {row[1]: row for row in rows}
    assert byuser["alice"][0] == cli.conn and byuser["alice"][2] == "lab"
    assert byuser["alice"][3] == alice and byuser["alice"][4] == "Logged in"
    assert byuser["root"][4] == "True" and byuser["root"][2] == "system"
    # An expired session is purged from the listing (kept with --no-purge only until then).
    rootkey = byuser["root"][3]
    with fake.state.lock:
        fake.state.sessions[rootkey]["closed"] = True
    r = cli("sessions", "list", "--no-purge")
    assert "(2 rows)" in r.stdout and "RemovedSessionException" not in r.stdout
    r = cli("sessions", "list")
    assert "(1 row)" in r.stdout and rootkey not in r.stdout
    r = cli("sessions", "clear", "--all")
    assert r.stdout == "1 session(s) cleared\n"
    assert fake.state.sessions[alice]["closed"]
    assert "(0 rows)" in cli("sessions", "list").stdout


def test_sessions_group_and_timeout(cli, fake):
    login_root(cli)
    r = cli("sessions", "group")
    assert r.stdout == "ExperimenterGroup:0\n"
    r = cli("sessions", "group", "user")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Group 'system' (id=0) switched to 'user' (id=1)\n"
    r = cli("sessions", "group", "1")
    assert r.stderr.endswith("Group 'user' (id=1) is already active\n")
    r = cli("sessions", "group", "nosuchgroup")
    assert r.returncode == 503 % 256 and r.stderr.endswith("Unknown group: nosuchgroup\n")
    r = cli("sessions", "timeout")
    assert r.stdout == "600.0\n"
    assert cli("sessions", "timeout", "300").returncode == 0
    assert cli("sessions", "timeout").stdout == "300.0\n"
    assert "Idle timeout: 5 min." in cli("login").stderr
    assert cli("sessions", "timeout", "120").returncode == 0
    r = cli("sessions", "timeout", "abc")
    assert r.returncode == 2 and "invalid int value: 'abc'" in r.stderr
    # Idle timeouts under 5 minutes print in seconds.
    r = cli("login")
    assert "Idle timeout: 120 s." in r.stderr


def test_sessions_who_and_keepalive(cli, fake):
    login_root(cli)
    r = cli("sessions", "who")
    assert r.returncode == 0, r.stderr
    head = [c.strip() for c in r.stdout.splitlines()[0].split("|")]
    assert head == ["name", "group", "logged in", "agent", "timeout"]
    assert "(*)" in r.stdout and "OMERO.cli" in r.stdout
    fake.clear()
    r = cli("sessions", "keepalive", "-f", "1", input="\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Running keep alive every 1 seconds")
    assert fake.requests("keepAlive")


def test_other_commands_use_the_stored_session(cli, fake):
    r = cli("user", "info")
    assert r.returncode == 564 % 256 and "cannot request server" in r.stderr
    login_root(cli)
    fake.clear()
    r = cli("user", "info")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("Using session for root@127.0.0.1")
    assert not fake.requests("createSession")
    # Login arguments on the command itself.
    r = cli("group", "info", "-k", cli("sessions", "key").stdout.strip(), "-s", "127.0.0.1", "-p", str(fake.port))
    assert r.returncode == 0 and r.stderr.startswith("Joined session for root@")
    # After a logout, a command logging in again keeps its stdout for its own output.
    cli("logout")
    r = cli("user", "info", "-s", "127.0.0.1", "-p", str(fake.port), "-u", "root", "-w", "omero")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("Previously logged in to %s as root\nCreated session for root@" % cli.conn)
    assert r.stdout.startswith(" id | login")


def test_prompts_on_a_terminal(cli, fake):
    """With a terminal, missing values are asked for; the password is not echoed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(OMERO, [OMERO, "login"], cli.env)
    out = b""
    seen = 0

    def expect(text, timeout=20):
        """Wait for text after what earlier expectations matched."""
        nonlocal out, seen
        end = time.time() + timeout
        while text.encode() not in out[seen:] and time.time() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 1024)
                except OSError:
                    break
        assert text.encode() in out[seen:], out
        seen = out.index(text.encode(), seen) + len(text)

    expect("Server: [localhost:4064]")
    os.write(fd, ("127.0.0.1:%d\n" % fake.port).encode())
    expect("Username: [tester]")
    os.write(fd, b"root\n")
    expect("Password:")
    mark = len(out)
    os.write(fd, b"omero\n")
    expect("Created session for root@127.0.0.1:%d" % fake.port)
    assert b"omero" not in out[mark:]
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0
    # Next time the previous server and user are offered.
    cli("logout")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(OMERO, [OMERO, "login"], cli.env)
    out, seen = b"", 0
    expect("Previously logged in to 127.0.0.1:%d as root" % fake.port)
    expect("Server: [127.0.0.1:%d]" % fake.port)
    os.write(fd, b"\n")
    expect("Username: [root]")
    os.write(fd, b"\n")
    expect("Password:")
    os.write(fd, b"bad\n")
    expect("Password check failed")
    expect("Password:")
    os.write(fd, b"omero\n")
    expect("Created session for root@")
    os.waitpid(pid, 0)
    os.close(fd)
    # With --sudo the prompt asks for the administrator's password.
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(OMERO, [OMERO, "login", "-C", "--sudo", "root", "alice@" + cli.conn], cli.env)
    out, seen = b"", 0
    expect("Password for root:")
    os.write(fd, b"omero\n")
    expect("Created session for alice@")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0


def test_sessions_usage(cli):
    r = cli("sessions")
    assert r.returncode == 2 and "too few arguments" in r.stderr
    r = cli("sessions", "bogus")
    assert r.returncode == 2 and "invalid choice: 'bogus'" in r.stderr
    r = cli("sessions", "-h")
    assert r.returncode == 0 and "keepalive" in r.stdout and "OMERO_SESSIONDIR" in r.stdout
    r = cli("login", "-h")
    assert r.returncode == 0 and "connection" in r.stdout and "--sudo ADMINUSER" in r.stdout


def test_userdir_default(cli, fake):
    env = {"OMERO_SESSIONDIR": "", "OMERO_USERDIR": os.path.join(cli.root, "ud")}
    r = cli("login", "root@" + cli.conn, "-w", "omero", env=env)
    assert r.returncode == 0, r.stderr
    f = cli("sessions", "file", env=env).stdout.strip()
    assert f.startswith(os.path.join(cli.root, "ud", "sessions", "127.0.0.1", "root") + "/")


def test_sessions_open_and_close(cli, fake):
    login_root(cli)
    r = cli("sessions", "open", "--user-name", "alice", "--group-name", "lab", "--timeout", "120")
    assert r.returncode == 0, r.stderr
    assert r.stderr.endswith("Session created for user alice in group lab (timeToIdle: 120 sec, timeToLive: 0 sec)\n")
    key = r.stdout.strip()
    s = fake.state.sessions[key]
    assert s["uid"] == 5 and s["gid"] == 3 and not s["closed"]
    r = cli("sessions", "close", key)
    assert r.returncode == 0 and r.stdout == "Session %s closed.\n" % key
    assert fake.state.sessions[key]["closed"]
    r = cli("sessions", "close", "00000000-0000-0000-0000-000000000000")
    assert r.stderr.endswith("No session with the given ID found.\n")
    r = cli("sessions", "open")
    assert r.returncode == 2 and "--user-id --user-name is required" in r.stderr
    r = cli("sessions", "open", "--user-name", "nobody")
    assert r.returncode == 156 and r.stderr.endswith("No user found\n")


def test_unreachable_server_keeps_stored_session(cli, tmp_path):
    other = FakeServer(str(tmp_path))
    conn = "127.0.0.1:%d" % other.port
    r = cli("login", "root@" + conn, "-w", "omero", env={"OMERO_CA": other.cert})
    assert r.returncode == 0, r.stderr
    path = cli("sessions", "file").stdout.strip()
    other.stop()
    r = cli("login", env={"OMERO_CA": other.cert})
    assert r.returncode == 554 % 256
    assert r.stderr == "Ice.ConnectionRefusedException: %s isn't running\n" % conn
    assert os.path.exists(path)
    r = cli("sessions", "list", env={"OMERO_CA": other.cert})
    rows = [[c.strip() for c in line.split("|")] for line in r.stdout.splitlines()[2:-1]]
    assert len(rows) == 1 and rows[0][2] == "Unknown" and rows[0][4] == "Logged in"
    assert os.path.exists(path)


def test_login_timeout_option(cli, fake):
    r = cli("login", "-t", "120", "root@" + cli.conn, "-w", "omero")
    assert r.returncode == 0, r.stderr
    assert "Idle timeout: 120 s." in r.stderr
    key = cli("sessions", "key").stdout.strip()
    assert fake.state.sessions[key]["tti"] == 120000
    r = cli("login", "-t", "abc", "root@" + cli.conn, "-w", "omero")
    assert r.returncode == 2 and "invalid int value: 'abc'" in r.stderr
