"""The grid (issue: build, descriptors, registry, node agents, omero admin/node/config, embedded
PostgreSQL): every behaviour through the installed binaries, as a sysadmin would use them."""
import json
import os
import signal
import socket
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")
TESTGRID = os.path.join(DATA, "grid", "testgrid.yaml")


def wait_for(pred, timeout=20, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def server_pid(g, sid):
    r = g.omero("admin", "ice", "server", "pid", sid, check=False)
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip().isdigit() else 0


def running_testservers(g):
    return [p for p in g.pids() if "omero-testserver" in os.readlink("/proc/%d/exe" % p)] if g.pids() else []


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def tgrid(grid):
    grid.use_descriptor(TESTGRID)
    return grid


def test_start_status_stop(tgrid):
    g = tgrid
    assert g.omero("admin", "status", check=False).returncode != 0
    r = g.omero("admin", "start")
    assert "Using etc/grid/default.yaml" in r.stdout
    assert g.omero("admin", "status").returncode == 0
    assert server_pid(g, "Test-0") and server_pid(g, "Test-1")
    assert g.omero("admin", "ice", "server", "state", "Manual").stdout.strip() == "inactive (enabled)"
    # The server answers with the properties the descriptor gave it.
    out = json.loads(g.gridcall("registry", "Registry.lookup", '{"id":"Test-1"}').stdout)
    ep = out["servers"][0]["endpoint"]
    who = json.loads(g.gridcall("endpoint", ep, "Test.whoami").stdout)
    assert who["id"] == "Test-1" and who["property"] == "value-1"
    # Logs per server and for the registry.
    assert "registered" in g.log("master.err")
    assert os.path.exists(os.path.join(g.dir, "var", "log", "Test-0.log"))
    # Second start is refused and changes nothing.
    pid0 = server_pid(g, "Test-0")
    r = g.omero("admin", "start", check=False)
    assert r.returncode != 0 and "already running" in r.stderr
    assert server_pid(g, "Test-0") == pid0
    g.omero("admin", "stop")
    assert g.pids() == []
    r = g.omero("admin", "stop", check=False)
    assert r.returncode != 0 and "not running" in r.stderr
    assert g.omero("admin", "status", check=False).returncode == 1


def test_prefix_shifts_ports_and_diagnostics(tgrid):
    g = tgrid
    g.omero("admin", "start")
    d = g.omero("admin", "diagnostics").stdout
    assert "OMERO Diagnostics 5.6.10" in d
    assert "SSL port               %s4064" % g.prefix in d
    assert "Registry port          %s4061" % g.prefix in d
    pid = server_pid(g, "Test-0")
    assert "Server:    Test-0                 active (pid = %d, enabled)" % pid in d
    assert "Server:    Manual                 inactive (enabled)" in d
    assert "Log files: master.err" in d and "Environment:OMERODIR=" + g.dir in d
    assert "OMERO data dir: '%s'  Exists? True   Is writable? True" % g.data in d
    # Every listening socket of the grid uses the prefixed ports or ephemeral ones.
    s = socket.socket()
    assert s.connect_ex(("127.0.0.1", g.port("registry"))) == 0
    s.close()


def test_killed_server_is_replaced(tgrid):
    g = tgrid
    g.omero("admin", "start")
    old = server_pid(g, "Test-0")
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (lambda p: p if p and p != old else 0)(server_pid(g, "Test-0")))
    assert new and new != old
    out = wait_for(lambda: json.loads(g.gridcall("registry", "Registry.lookup", '{"id":"Test-0"}').stdout)["servers"])
    assert out[0]["pid"] == new
    who = json.loads(g.gridcall("endpoint", out[0]["endpoint"], "Test.whoami").stdout)
    assert who["pid"] == new
    assert len(running_testservers(g)) == 2


def test_server_that_stops_heartbeating_is_restarted(tgrid):
    g = tgrid
    g.omero("admin", "start")
    old = server_pid(g, "Test-1")
    os.kill(old, signal.SIGSTOP)
    new = wait_for(lambda: (lambda p: p if p and p != old else 0)(server_pid(g, "Test-1")), timeout=30)
    assert new and new != old
    assert not alive(old)
    assert "stopped heartbeating" in g.log("master.err")


def test_crash_loop_fails_start_with_reason(tgrid):
    g = tgrid
    r = g.omero("admin", "start", "crashy", check=False)
    assert r.returncode != 0
    assert "Crashy" in r.stderr and "exited with status 3" in r.stderr
    assert g.pids() == []


def test_missing_executable(tgrid):
    g = tgrid
    r = g.omero("admin", "start", "missing", check=False)
    assert r.returncode != 0
    assert "executable not found: omero-does-not-exist" in r.stderr
    assert g.pids() == []


def test_malformed_descriptors_refused(grid, tmp_path):
    g = grid
    bad = tmp_path / "bad.yaml"
    bad.write_text("application: X\nnodes:\n  master:\n    servers:\n      - id: a\n        exe: [oops\n")
    r = g.omero("admin", "start", str(bad), check=False)
    assert r.returncode != 0 and "bad.yaml:" in r.stderr and "Nothing was started" in r.stderr
    dup = tmp_path / "dup.yaml"
    dup.write_text("application: X\nnodes:\n  master:\n    servers:\n      - id: a\n        exe: /bin/true\n"
                   "      - id: a\n        exe: /bin/true\n")
    r = g.omero("admin", "start", str(dup), check=False)
    assert r.returncode != 0 and "dup.yaml:" in r.stderr and "duplicate" in r.stderr.lower()
    unk = tmp_path / "unk.yaml"
    unk.write_text("application: X\nnodes:\n  master:\n    servers:\n      - template: NoSuchTemplate\n        index: 0\n")
    r = g.omero("admin", "start", str(unk), check=False)
    assert r.returncode != 0 and "unk.yaml:5" in r.stderr
    assert g.pids() == []
    assert not os.path.exists(os.path.join(g.dir, "var", "db"))


def test_registry_sigkill_then_start_gives_one_of_each(tgrid):
    g = tgrid
    g.omero("admin", "start")
    before = sorted(running_testservers(g))
    assert len(before) == 2
    rp = int(open(os.path.join(g.dir, "var", "master", "registry.pid")).read())
    os.kill(rp, signal.SIGKILL)
    g.omero("admin", "start")
    assert g.omero("admin", "status").returncode == 0
    after = running_testservers(g)
    assert len(after) == 2
    assert not set(after) & set(before)
    ids = sorted(json.loads(g.gridcall("endpoint", s["endpoint"], "Test.whoami").stdout)["id"]
                 for s in json.loads(g.gridcall("registry", "Registry.lookup", '{"service":"Test"}').stdout)["servers"])
    assert ids == ["Test-0", "Test-1"]


def test_ice_server_commands(tgrid):
    g = tgrid
    g.omero("admin", "start")
    assert g.omero("admin", "ice", "server", "list").stdout.split() == ["Test-0", "Test-1", "Manual"]
    g.omero("admin", "ice", "server", "start", "Manual")
    assert wait_for(lambda: server_pid(g, "Manual"))
    g.omero("admin", "ice", "server", "stop", "Manual")
    assert g.omero("admin", "ice", "server", "state", "Manual").stdout.strip() == "inactive (enabled)"
    g.omero("admin", "ice", "server", "disable", "Test-1")
    wait_for(lambda: "inactive" in g.omero("admin", "ice", "server", "state", "Test-1").stdout)
    assert g.omero("admin", "ice", "server", "state", "Test-1").stdout.strip() == "inactive (disabled)"
    assert g.omero("admin", "status", check=False).returncode == 1
    g.omero("admin", "ice", "server", "enable", "Test-1")
    assert wait_for(lambda: server_pid(g, "Test-1"))
    assert wait_for(lambda: g.omero("admin", "status", check=False).returncode == 0)
    r = g.omero("admin", "ice", "server", "state", "Nope", check=False)
    assert r.returncode != 0 and "does not exist" in r.stderr
    assert g.omero("admin", "ice", "node", "list").stdout.split()[0] == "master"
    assert "node is up" in g.omero("admin", "ice", "node", "ping", "master").stdout
    assert g.omero("admin", "ice", "node", "ping", "ghost", check=False).returncode != 0
    d = g.omero("admin", "ice", "application", "describe").stdout
    assert "TestGrid" in d and "Test-0" in d
    # The console form reads commands from stdin.
    r = g.omero("admin", "ice", input="server list\nserver pid Test-0\n")
    assert "Test-0" in r.stdout and str(server_pid(g, "Test-0")) in r.stdout


def test_deploy_restarts_only_changed(tgrid, tmp_path):
    g = tgrid
    g.omero("admin", "start")
    p0, p1 = server_pid(g, "Test-0"), server_pid(g, "Test-1")
    text = open(TESTGRID).read().replace(
        "      - template: TestTemplate\n        index: 1\n",
        "      - template: TestTemplate\n        index: 1\n        properties:\n          test.property: changed\n")
    assert text != open(TESTGRID).read()
    new = tmp_path / "changed.yaml"
    new.write_text(text)
    r = g.omero("admin", "deploy", str(new))
    assert "restarted Test-1" in r.stdout and "Test-0" not in r.stdout
    assert wait_for(lambda: (lambda p: p and p != p1)(server_pid(g, "Test-1")))
    assert server_pid(g, "Test-0") == p0
    out = wait_for(lambda: json.loads(g.gridcall("registry", "Registry.lookup", '{"id":"Test-1"}').stdout)["servers"])
    assert out, g.log("master.err") + g.log("Test-1.log")
    who = json.loads(g.gridcall("endpoint", out[0]["endpoint"], "Test.whoami").stdout)
    assert who["property"] == "changed"
    # A broken descriptor changes nothing.
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    r = g.omero("admin", "deploy", str(bad), check=False)
    assert r.returncode != 0 and "Nothing was changed" in r.stderr
    assert server_pid(g, "Test-0") == p0


def test_port_in_use(tgrid):
    g = tgrid
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", g.port("db")))
    s.listen(1)
    try:
        r = g.omero("admin", "start", check=False)
        assert r.returncode != 0 and "port %d" % g.port("db") in r.stderr and "in use" in r.stderr
        assert g.pids() == []
    finally:
        s.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", g.port("registry")))
    s.listen(1)
    try:
        r = g.omero("admin", "start", check=False)
        assert r.returncode != 0 and "registry" in r.stderr
        assert g.pids() == []
    finally:
        s.close()


def test_data_dir_not_writable(tgrid):
    g = tgrid
    g.omero("config", "set", "omero.data.dir", "/proc/omero-data")
    r = g.omero("admin", "start", check=False)
    assert r.returncode != 0 and "data directory /proc/omero-data is not writable" in r.stderr
    assert g.pids() == []


def test_database_unreachable(tgrid):
    g = tgrid
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    g.omero("config", "set", "omero.db.host", "127.0.0.1")
    g.omero("config", "set", "omero.db.port", str(free))
    r = g.omero("admin", "start", check=False)
    assert r.returncode != 0 and "database unreachable" in r.stderr and "omero.db" in r.stderr
    assert g.pids() == []
    assert not os.path.exists(os.path.join(g.dir, "var", "db"))


def test_nodes_on_a_single_host(tgrid):
    g = tgrid
    g.omero("admin", "start", "nodes")
    # node1/node2 servers are inactive until their agents run.
    assert g.omero("admin", "status", check=False).returncode == 1
    g.omero("node", "node1", "start")
    g.omero("node", "start", "node2")
    assert wait_for(lambda: g.omero("admin", "status", check=False).returncode == 0, timeout=30)
    d = g.omero("admin", "diagnostics").stdout
    assert "Node:      node1" in d and "Node:      node2" in d
    assert "Test-11" in d and "Test-12" in d
    who = json.loads(g.gridcall("endpoint", json.loads(g.gridcall("registry", "Registry.lookup", '{"id":"Test-11"}')
                                                    .stdout)["servers"][0]["endpoint"], "Test.whoami").stdout)
    assert who["node"] == "node1"
    assert g.omero("node", "node1", "status").returncode == 0
    assert g.omero("node", "status", env={"OMERO_NODE": "node2"}).returncode == 0
    assert g.omero("node", "status", env={"OMERO_NODE": "node9"}, check=False).returncode == 1
    # A second agent claiming node1 (another installation copy would do the same) is refused.
    r = g.omero("node", "node1", "start", check=False)
    assert r.returncode != 0 and "already running" in r.stderr
    # SIGKILL of an agent takes its servers down (no strays); starting it again restores them.
    agent = int(open(os.path.join(g.dir, "var", "node1", "node.pid")).read())
    t11 = server_pid(g, "Test-11")
    os.kill(agent, signal.SIGKILL)
    assert wait_for(lambda: not alive(t11))
    g.omero("node", "node1", "start")
    assert wait_for(lambda: g.omero("admin", "status", check=False).returncode == 0, timeout=30)
    # An agent that loses the registry keeps its servers and registers again when it returns.
    t12 = server_pid(g, "Test-12")
    rp = int(open(os.path.join(g.dir, "var", "master", "registry.pid")).read())
    os.kill(rp, signal.SIGKILL)
    time.sleep(2.5)
    assert alive(t12)
    g.omero("admin", "start", "nodes")
    assert wait_for(lambda: g.omero("admin", "status", check=False).returncode == 0, timeout=30)
    assert server_pid(g, "Test-12") == t12
    g.omero("node", "node1", "stop")
    g.omero("node", "node2", "stop")
    assert not alive(t12)


def test_node_name_taken_by_live_agent_elsewhere(tgrid, new_grid):
    """A second agent (from another installation sharing the keys) claiming a registered name is refused."""
    g = tgrid
    g.omero("admin", "start", "nodes")
    g.omero("node", "node1", "start")
    # Same installation, different state directory: copy the installation, point at the same registry.
    import shutil
    other = os.path.join(g.root, "other")
    shutil.copytree(g.dir, other, symlinks=True, ignore=shutil.ignore_patterns("var"))
    env = {"OMERODIR": other}
    r = g.omero("node", "node1", "start", check=False, env=env)
    assert r.returncode != 0 and "already registered" in r.stderr
    g.omero("node", "node1", "stop")


def test_config_semantics(grid, tmp_path):
    g = grid
    g.omero("config", "set", "omero.a", "1")
    assert g.omero("config", "get", "omero.a").stdout == "1\n"
    g.omero("config", "set", "omero.a")          # no value removes
    assert g.omero("config", "get", "omero.a").stdout == ""
    g.omero("config", "append", "omero.list", "x")
    g.omero("config", "append", "omero.list", "y")
    assert g.omero("config", "get", "omero.list").stdout.strip() == "x,y"
    g.omero("config", "remove", "omero.list", "x")
    assert g.omero("config", "get", "omero.list").stdout.strip() == "y"
    f = tmp_path / "props"
    f.write_text("# comment\nomero.b=2\nomero.c = three \\\n  four\n")
    g.omero("config", "load", str(f))
    assert g.omero("config", "get", "omero.c").stdout.strip() == "three four"
    g.omero("config", "load", input="omero.d=from stdin\n")
    out = g.omero("config", "get").stdout
    assert "omero.b=2" in out and "omero.d=from stdin" in out
    bad = tmp_path / "bad"
    bad.write_text("no equals sign\n")
    r = g.omero("config", "load", str(bad), check=False)
    assert r.returncode != 0 and "bad:1" in r.stderr
    assert "omero.d=from stdin" in g.omero("config", "get").stdout
    assert os.path.exists(os.path.join(g.dir, "etc", "grid", "config.yaml"))
    # edit: the editor changes the key=value text; a failing editor changes nothing.
    ed = tmp_path / "ed.sh"
    ed.write_text("#!/bin/sh\nsed -i 's/^omero.b=2$/omero.b=edited/' \"$1\"\n")
    ed.chmod(0o755)
    g.omero("config", "edit", env={"EDITOR": str(ed)})
    assert g.omero("config", "get", "omero.b").stdout.strip() == "edited"
    bad_ed = tmp_path / "bad.sh"
    bad_ed.write_text("#!/bin/sh\necho 'omero.b=lost' > \"$1\"\nexit 3\n")
    bad_ed.chmod(0o755)
    assert g.omero("config", "edit", env={"EDITOR": str(bad_ed)}, check=False).returncode != 0
    assert g.omero("config", "get", "omero.b").stdout.strip() == "edited"


def test_foreground_start_and_sigterm(tgrid):
    """`omero admin start --foreground` runs the registry in the terminal; SIGTERM stops everything."""
    import subprocess
    g = tgrid
    p = subprocess.Popen([os.path.join(g.bin, "omero"), "admin", "start", "--foreground"], env=g.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: g.omero("admin", "status", check=False).returncode == 0, timeout=60)
        servers = running_testservers(g)
        assert len(servers) == 2
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        assert wait_for(lambda: not any(alive(s) for s in servers))
    finally:
        if p.poll() is None:
            p.kill()
    out = p.stdout.read()
    assert "started Test-0" in out and "every server stopped" in out


def test_unauthenticated_peer_cannot_use_the_registry(tgrid, tmp_path):
    """Without the installation's CURVE keys nobody can register, list or stop servers."""
    import shutil
    g = tgrid
    g.omero("admin", "start")
    other = tmp_path / "other"
    os.makedirs(other / "etc" / "grid")
    shutil.copy(os.path.join(g.dir, "etc", "grid", "config.yaml"), other / "etc" / "grid")
    env = dict(g.env)
    env["OMERODIR"] = str(other)
    # Fresh keys of its own: the registry does not know them.
    import subprocess
    from conftest import BUILD
    r = subprocess.run([os.path.join(BUILD, "bin", "omero-gridcall"), "--timeout", "1500", "registry",
                        "Registry.list"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    keydir = other / "etc" / "grid" / "keys"
    os.makedirs(keydir / "clients")
    for f in ("registry.key",):
        shutil.copy(os.path.join(g.dir, "etc", "grid", "keys", f), keydir / f)
    # Only the public registry key, and a client key of its own: still refused.
    import textwrap
    (keydir / "client.key_secret").write_text(textwrap.dedent("""\
        metadata
        curve
            public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
            secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
        """))
    r = subprocess.run([os.path.join(BUILD, "bin", "omero-gridcall"), "--timeout", "1500", "registry",
                        "Registry.shutdown"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert g.omero("admin", "status").returncode == 0


def test_omero_site_xml_descriptor_with_nodedescriptors(grid):
    """An OMERO site's etc/grid/default.xml + templates.xml deploys; omero.server.nodedescriptors
    picks the servers (here the ones this tree builds), parts with no counterpart only warn."""
    import shutil
    g = grid
    src = os.path.join(DATA, "descriptors", "omero")
    for f in ("default.xml", "templates.xml"):
        shutil.copy(os.path.join(src, f), os.path.join(g.dir, "etc", "grid", f))
    os.remove(os.path.join(g.dir, "etc", "grid", "default.yaml"))
    g.omero("config", "set", "omero.server.nodedescriptors", "master:Blitz-0,Tables-0")
    r = g.omero("admin", "start")
    assert "Using etc/grid/default.xml" in r.stdout
    assert "Warning:" in r.stderr
    assert g.omero("admin", "ice", "server", "list").stdout.split() == ["OMERO.Glacier2", "Blitz-0", "Tables-0"]
    assert g.omero("admin", "status").returncode == 0
    import requests
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
    v = requests.post("https://localhost:%d/rpc/v1/IConfig/getVersion" % g.port("ssl"), json={}, verify=ca,
                      timeout=10)
    assert v.status_code == 200


def test_server_logs_rotate_by_size(tgrid):
    g = tgrid
    g.omero("config", "set", "omero.logging.logsize", "4000")
    g.omero("config", "set", "omero.logging.lognum", "2")
    g.omero("admin", "start")
    ep = json.loads(g.gridcall("registry", "Registry.lookup", '{"id":"Test-0"}').stdout)["servers"][0]["endpoint"]
    assert json.loads(g.gridcall("endpoint", ep, "Test.log", '{"lines": 300}').stdout)["lines"] == 300
    logdir = os.path.join(g.dir, "var", "log")
    names = sorted(n for n in os.listdir(logdir) if n.startswith("Test-0.log"))
    assert names == ["Test-0.log", "Test-0.log.1", "Test-0.log.2"]
    assert os.path.getsize(os.path.join(logdir, "Test-0.log")) <= 4200
    assert "log line 299" in g.log("Test-0.log")


def test_installation_works_without_omerodir(grid):
    """DIR/bin/omero called directly finds its installation."""
    import subprocess
    env = dict(grid.env)
    env.pop("OMERODIR")
    r = subprocess.run([os.path.join(grid.bin, "omero"), "config", "get", "omero.ports.prefix"], env=env,
                       capture_output=True, text=True, cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == grid.prefix
    for sub in ("bin/omero-registry", "bin/omero-node", "bin/omero-router", "bin/omero-blitz", "lib/libomero.so",
                "lib/libomero.a", "lib/pkgconfig/omero.pc", "include/omero/omero.h", "etc/grid/default.yaml",
                "share/omero/schema.sql"):
        assert os.path.exists(os.path.join(grid.dir, sub)), sub
    pc = open(os.path.join(grid.dir, "lib", "pkgconfig", "omero.pc")).read()
    assert "-lomero" in pc
