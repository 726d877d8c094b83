"""Two Blitz replicas behind the router: sessions work on either (they live in PostgreSQL), and
killing one during a steady stream of authenticated requests produces no client-visible error."""
import json
import os
import signal
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
TWO = os.path.join(os.path.dirname(HERE), "data", "grid", "two-blitz.yaml")


def test_kill_one_of_two_blitz_during_stream(grid):
    g = grid
    g.use_descriptor(TWO)
    g.omero("admin", "start")
    ca = os.path.join(g.dir, "etc", "certs", "ca.pem")
    base = "https://localhost:%d/rpc/v1" % g.port("ssl")
    pw = open(os.path.join(g.dir, "var", "master", "root_password")).read().strip()
    s = requests.Session()
    s.trust_env = False         # REQUESTS_CA_BUNDLE would override the session's CA otherwise
    s.verify = ca
    r = s.post(base + "/ISession/createSession", json={"username": "root", "password": pw}, timeout=30)
    assert r.status_code == 200, r.text
    key = r.json().get("session") or r.json().get("uuid") or r.json()["sessionUuid"]
    s.headers["X-OMERO-Session"] = key
    ops = ["/IAdmin/getEventContext", "/IConfig/getVersion"]
    errors, done, served = [], threading.Event(), [0]

    def stream():
        i = 0
        while not done.is_set():
            try:
                resp = s.post(base + ops[i % 2], json={}, timeout=30)
                if resp.status_code != 200:
                    errors.append((resp.status_code, resp.text))
                served[0] += 1
            except requests.RequestException as e:
                errors.append(str(e))
            i += 1

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(1.5)
    pid = int(g.omero("admin", "ice", "server", "pid", "Blitz-0").stdout)
    os.kill(pid, signal.SIGKILL)
    time.sleep(3)
    done.set()
    t.join(timeout=60)
    assert served[0] > 20
    assert errors == []
    # Blitz-0 came back, and the session is still good on whichever replica answers.
    deadline = time.time() + 30
    while time.time() < deadline and g.omero("admin", "status", check=False).returncode != 0:
        time.sleep(0.2)
    assert g.omero("admin", "status").returncode == 0
    for _ in range(6):
        assert s.post(base + "/IAdmin/getEventContext", json={}, timeout=30).status_code == 200
