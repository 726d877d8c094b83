"""A small HTTPS server speaking the router's /rpc/v1 protocol (docs/protocol.md) with an
in-memory set of users, groups and sessions, for testing the client library and the CLI without
a grid. It records every request (path, headers, body, client port) so tests can check what the
client sent. Replies follow the shapes omero-blitz uses ({"data": [...]} lists, JSON API objects,
{"error": {"name", "message"}} errors)."""
import hashlib
import json
import os
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def make_cert(directory, cn="localhost"):
    """A self-signed certificate for localhost/127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(directory, cn + ".pem")
    key = os.path.join(directory, cn + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class ApiError(Exception):
    def __init__(self, status, name, message):
        Exception.__init__(self, message)
        self.status, self.name, self.message = status, name, message


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.users = {0: {"UserName": "root", "FirstName": "root", "LastName": "root", "Email": None}}
        self.groups = {0: {"Name": "system", "perm": "rw----"}, 1: {"Name": "user", "perm": "rwr---"},
                       2: {"Name": "guest", "perm": "rw----"}}
        self.members = {(0, 0): False, (0, 1): False}       # (uid, gid) -> owner
        self.passwords = {0: "omero"}
        self.sessions = {}
        self.next_id = 100
        self.tti = 600000
        self.requests = []

    # ---- model helpers
    def user_json(self, uid):
        u = self.users[uid]
        o = {"@id": uid, "@type": SCHEMA + "#Experimenter", "UserName": u["UserName"],
             "FirstName": u["FirstName"], "LastName": u["LastName"], "omero:ldap": False}
        for k in ("MiddleName", "Email", "Institution"):
            if u.get(k):
                o[k] = u[k]
        return o

    def group_json(self, gid):
        g = self.groups[gid]
        return {"@id": gid, "@type": SCHEMA + "#ExperimenterGroup", "Name": g["Name"], "omero:ldap": False,
                "omero:details": {"permissions": {"perm": g["perm"]}}}

    def ref(self, table, namekey, r):
        if isinstance(r, dict):
            r = r.get("@id", r.get("id", r.get(namekey)))
        if isinstance(r, int) or (isinstance(r, str) and r.isdigit()):
            if int(r) in table:
                return int(r)
            raise ApiError(404, "NotFoundException", "no such id %s" % r)
        for k, v in table.items():
            if v[namekey] == r:
                return k
        raise ApiError(404, "NotFoundException", "no object named '%s'" % r)

    def uref(self, r):
        return self.ref(self.users, "UserName", r)

    def gref(self, r):
        return self.ref(self.groups, "Name", r)

    def member_of(self, uid):
        return [g for (u, g) in self.members if u == uid]

    def leader_of(self, uid):
        return [g for (u, g), o in self.members.items() if u == uid and o]

    def ec(self, s):
        uid, gid = s["uid"], s["gid"]
        return {"sessionUuid": s["uuid"], "userId": uid, "userName": self.users[uid]["UserName"],
                "groupId": gid, "groupName": self.groups[gid]["Name"], "isAdmin": (uid, 0) in self.members,
                "memberOfGroups": self.member_of(uid), "leaderOfGroups": self.leader_of(uid)}

    def new_session(self, uid, gid, agent):
        key = str(uuid.uuid4())
        self.sessions[key] = {"uuid": key, "uid": uid, "gid": gid, "tti": self.tti, "closed": False,
                              "started": int(time.time() * 1000), "agent": agent}
        return self.sessions[key]

    # ---- operations
    def op(self, service, method, args, session, data):
        name = service + "." + method
        if name == "ISession.createSession":
            return self.create_session(args)
        if name == "IConfig.getVersion":
            return {"version": "5.6.10"}
        s = self.sessions.get(session) if session else None
        if s is None:
            raise ApiError(403, "SessionException", "%s needs a session" % name)
        if s["closed"]:
            raise ApiError(403, "RemovedSessionException", "session %s is closed" % session)
        uid = s["uid"]
        admin = (uid, 0) in self.members
        if name == "Test.echo":
            return {"args": args, "len": len(data or b""), "sha1": hashlib.sha1(data or b"").hexdigest()}
        if name == "ISession.closeSession":
            target = self.sessions.get(args.get("session", session))
            if target:
                target["closed"] = True
            return {"closed": True}
        if name == "ISession.keepAlive":
            return {"alive": True}
        if name == "ISession.getSession":
            t = self.sessions.get(args.get("session") or session)
            if not t:
                raise ApiError(404, "NotFoundException", "no session")
            return {"uuid": t["uuid"], "timeToIdle": t["tti"], "timeToLive": 0, "started": t["started"],
                    "userAgent": t["agent"]}
        if name == "ISession.updateSessionTimeout":
            t = self.sessions[args.get("session") or session]
            t["tti"] = int(args["timeToIdle"])
            return {}
        if name == "ISession.setSecurityContext":
            gid = self.gref(args.get("groupId", args.get("group")))
            if (uid, gid) not in self.members and not admin:
                raise ApiError(403, "SecurityViolation", "not a member of group %d" % gid)
            s["gid"] = gid
            return {"session": s["uuid"], "eventContext": self.ec(s)}
        if name == "ISession.createSessionWithTimeout":
            pr = args.get("principal", {})
            target = self.uref(pr.get("name"))
            if target != uid and not admin:
                raise ApiError(403, "SecurityViolation", "may not open a session as %s" % pr.get("name"))
            gid = self.gref(pr["group"]) if pr.get("group") else ([g for g in self.member_of(target) if g != 1] + [1])[0]
            t = self.new_session(target, gid, "OMERO.sessions")
            if "timeout" in args:
                t["tti"] = int(args["timeout"])
            return {"session": t["uuid"], "eventContext": self.ec(t), "timeToIdle": t["tti"], "timeToLive": 0}
        if name == "ISession.currentSessions":
            live = [t for t in self.sessions.values() if not t["closed"]]
            return {"sessions": [{"uuid": t["uuid"], "started": t["started"], "timeToIdle": t["tti"],
                                  "userAgent": t["agent"]} for t in live],
                    "contexts": [self.ec(t) for t in live]}
        if name == "IAdmin.getEventContext":
            return self.ec(s)
        if name == "IAdmin.lookupExperimenters":
            return {"data": [self.user_json(u) for u in sorted(self.users)]}
        if name == "IAdmin.lookupExperimenter":
            for k, v in self.users.items():
                if v["UserName"] == args.get("name"):
                    return self.user_json(k)
            raise ApiError(404, "ApiUsageException", "no user named '%s'" % args.get("name"))
        if name == "IAdmin.getExperimenter":
            return self.user_json(self.uref(args.get("id")))
        if name == "IAdmin.lookupGroups":
            return {"data": [self.group_json(g) for g in sorted(self.groups)]}
        if name == "IAdmin.lookupGroup":
            for k, v in self.groups.items():
                if v["Name"] == args.get("name"):
                    return self.group_json(k)
            raise ApiError(404, "ApiUsageException", "no group named '%s'" % args.get("name"))
        if name == "IAdmin.getGroup":
            return self.group_json(self.gref(args.get("id")))
        if name == "IAdmin.getMemberOfGroupIds":
            return {"data": self.member_of(self.uref(args.get("user", uid)))}
        if name == "IAdmin.getLeaderOfGroupIds":
            return {"data": self.leader_of(self.uref(args.get("user", uid)))}
        if name == "IAdmin.containedExperimenters":
            gid = self.gref(args.get("group"))
            return {"data": [self.user_json(u) for u in sorted(self.users) if (u, gid) in self.members]}
        if name == "IAdmin.containedGroups":
            u = self.uref(args.get("user", uid))
            return {"data": [self.group_json(g) for g in self.member_of(u)]}
        if name in ("IAdmin.createExperimenter", "IAdmin.createExperimenterWithPassword"):
            if not admin:
                raise ApiError(403, "SecurityViolation", "only administrators may create users")
            e = args["experimenter"]
            if any(v["UserName"] == e["UserName"] for v in self.users.values()):
                raise ApiError(409, "ValidationException", "a user named '%s' already exists" % e["UserName"])
            gids = [self.gref(args["defaultGroup"])] + [self.gref(g) for g in args.get("groups", [])]
            nid = self.next_id
            self.next_id += 1
            self.users[nid] = {k: e.get(k) for k in ("UserName", "FirstName", "LastName", "MiddleName", "Email",
                                                    "Institution")}
            for g in gids:
                self.members[(nid, g)] = False
            if "password" in args:
                self.passwords[nid] = args["password"]
            return {"id": nid}
        if name == "IAdmin.createGroup":
            if not admin:
                raise ApiError(403, "SecurityViolation", "only administrators may create groups")
            g = args["group"]
            if any(v["Name"] == g["Name"] for v in self.groups.values()):
                raise ApiError(409, "ValidationException", "a group named '%s' already exists" % g["Name"])
            nid = self.next_id
            self.next_id += 1
            self.groups[nid] = {"Name": g["Name"], "perm": g["omero:details"]["permissions"]["perm"]}
            return {"id": nid}
        if name in ("IAdmin.addGroups", "IAdmin.removeGroups"):
            u = self.uref(args["user"])
            for g in args["groups"]:
                gid = self.gref(g)
                if name.endswith("addGroups"):
                    self.members.setdefault((u, gid), False)
                else:
                    self.members.pop((u, gid), None)
            return {}
        if name in ("IAdmin.addGroupOwners", "IAdmin.removeGroupOwners"):
            gid = self.gref(args["group"])
            for x in args["users"]:
                u = self.uref(x)
                self.members[(u, gid)] = name.endswith("addGroupOwners")
            return {}
        if name == "IAdmin.changePermissions":
            gid = self.gref(args["group"])
            if args["perms"] == "rw----" and gid == 13:
                raise ApiError(400, "ValidationException", "links between users' data prevent this change")
            self.groups[gid]["perm"] = args["perms"]
            return {}
        if name == "IAdmin.changePassword":
            if self.passwords.get(uid) != args["oldPassword"]:
                raise ApiError(403, "SecurityViolation", "the old password is not correct")
            self.passwords[uid] = args["newPassword"]
            return {}
        if name == "IAdmin.changeUserPassword":
            self.passwords[self.uref(args["user"])] = args["password"]
            return {}
        if name == "IConfig.getConfigValue":
            return {"key": args["key"], "value": "true"}
        raise ApiError(404, "ApiUsageException", "no method %s" % name)

    def create_session(self, args):
        name, pw = args.get("username"), args.get("password")
        sudo = args.get("sudo")
        auth = sudo or name
        try:
            auid = self.uref(auth)
        except ApiError:
            auid = None
        if auid is None or self.passwords.get(auid) != pw:
            raise ApiError(403, "PermissionDeniedException", "Password check failed for '%s'" % auth)
        if sudo and (auid, 0) not in self.members:
            raise ApiError(403, "SecurityViolation", "%s may not sudo" % sudo)
        uid = self.uref(name)
        if (uid, 1) not in self.members:
            raise ApiError(403, "RemovedSessionException", "the account of %s is disabled" % name)
        if args.get("group"):
            gid = self.gref(args["group"])
            if (uid, gid) not in self.members:
                raise ApiError(403, "SecurityViolation", "%s is not a member of group %s" % (name, args["group"]))
        else:
            gids = [g for g in self.member_of(uid) if g != 1]
            gid = gids[0] if gids else 1
        s = self.new_session(uid, gid, args.get("agent"))
        return {"session": s["uuid"], "eventContext": self.ec(s), "timeToIdle": s["tti"], "timeToLive": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj=None, raw=None, result=None):
        self.send_response(status)
        if raw is not None:
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("X-OMERO-Result", json.dumps(result))
            body = raw
        else:
            self.send_header("Content-Type", "application/json")
            body = json.dumps(obj).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        parts = self.path.split("/")
        octet = self.headers.get("Content-Type", "").startswith("application/octet-stream")
        rec = {"path": self.path, "headers": dict(self.headers), "body": body, "port": self.client_address[1]}
        with st.lock:
            st.requests.append(rec)
        if len(parts) != 5 or parts[1] != "rpc" or parts[2] != "v1":
            return self.reply(404, {"error": {"name": "NotFoundException", "message": "no such URL"}})
        try:
            args = json.loads(self.headers.get("X-OMERO-Args", "{}") if octet else (body or b"{}"))
            if parts[3] == "Test" and parts[4] == "bytes":
                n = int(args["n"])
                data = bytes((i * 7) & 0xFF for i in range(n))
                return self.reply(200, raw=data, result={"n": n})
            if parts[3] == "Test" and parts[4] == "drop":
                # Answer, then close the connection without saying so (as an idle router does).
                self.reply(200, {"dropped": True})
                self.close_connection = True
                return
            if parts[3] == "Test" and parts[4] == "garbage":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not json!")
                return
            if parts[3] == "Test" and parts[4] == "html500":
                self.send_response(502)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "21")
                self.end_headers()
                self.wfile.write(b"<h1>Bad gateway</h1>\n")
                return
            with st.lock:
                out = st.op(parts[3], parts[4], args, self.headers.get("X-OMERO-Session"),
                            body if octet else None)
            self.reply(200, out)
        except ApiError as e:
            self.reply(e.status, {"error": {"name": e.name, "message": e.message}})
        except (KeyError, ValueError, TypeError) as e:
            self.reply(400, {"error": {"name": "ApiUsageException", "message": "bad arguments: %r" % (e,)}})


class FakeServer:
    def __init__(self, directory):
        self.cert, self.key = make_cert(directory)
        self.state = State()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.state = self.state
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def requests(self, path_part=None):
        with self.state.lock:
            return [r for r in self.state.requests if path_part is None or path_part in r["path"]]

    def clear(self):
        with self.state.lock:
            self.state.requests.clear()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
