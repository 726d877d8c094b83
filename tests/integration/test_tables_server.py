"""omero-tables (Tables-N) on a real grid: started by the registry from the default descriptor,
every Table method served as grid operation "Table.<method>" on the file of an OriginalFile id
(where RawFileStore keeps it, <omero.data.dir>/Files), as the caller named by the request's
context; errors returned as OMERO exceptions; the file opens in PyTables. (Permissions, the
HTTPS path and the web URLs: test_tables_grid.py.)"""
import json
import os

import pytest

tables = pytest.importorskip("tables")

from conftest import BUILD  # noqa: E402

# root in the system group, as ISession.resolve describes it (the router adds this to every call)
ROOT_CTX = {"userId": 0, "userName": "root", "groupId": 0, "groupIds": [0, 1], "ownedGroupIds": [], "admin": True,
            "privileges": ["Chgrp", "Chown", "DeleteFile", "DeleteManagedRepo", "DeleteOwned", "DeleteScriptRepo",
                           "ModifyGroup", "ModifyGroupMembership", "ModifyUser", "ReadSession", "Sudo", "WriteFile",
                           "WriteManagedRepo", "WriteOwned", "WriteScriptRepo"]}


def call(g, ep, op, body, ctx=ROOT_CTX):
    r = g.gridcall("--ctx", json.dumps(ctx), "endpoint", ep, op, json.dumps(body))
    out = json.loads(r.stdout)
    return out, r.returncode


@pytest.mark.skipif(not os.path.exists(os.path.join(BUILD, "bin", "omero-tables")), reason="omero-tables not built")
def test_tables_server_on_grid(grid):
    grid.omero("admin", "start", timeout=300)
    try:
        lk = json.loads(grid.gridcall("registry", "Registry.lookup", '{"id":"Tables-0"}').stdout)
        ep = lk["servers"][0]["endpoint"]
        cols = [{"name": "Uid", "type": "LongColumn", "description": "testLong"},
                {"name": "Name", "type": "StringColumn", "size": 8}]
        out, rc = call(grid, ep, "Table.newTable", {"name": "t.h5"})
        assert rc == 0, out
        fid = out["fileId"]
        out, rc = call(grid, ep, "Table.initialize", {"fileId": fid, "columns": cols})
        assert rc == 0 and out is None, out
        path = os.path.join(grid.data, "Files", str(fid))
        assert os.path.exists(path)
        out, rc = call(grid, ep, "Table.addData", {"fileId": fid, "columns": [
            {"type": "LongColumn", "values": [1, 2, 3, 4]},
            {"type": "StringColumn", "size": 8, "values": ["a", "b", "c", "d"]}]})
        assert rc == 0, out
        out, rc = call(grid, ep, "Table.getWhereList", {"fileId": fid, "condition": "Uid > 2", "stop": 4})
        assert (rc, out) == (0, [2, 3])
        out, rc = call(grid, ep, "Table.read", {"fileId": fid, "colNumbers": [1], "start": 1, "stop": 3})
        assert out["columns"][0]["values"] == ["b", "c"] and out["rowNumbers"] == [1, 2]
        r = grid.gridcall("--ctx", json.dumps(dict(ROOT_CTX, **{"omero.tables.include_row_numbers": "false"})),
                          "endpoint", ep, "Table.read",
                          json.dumps({"fileId": fid, "colNumbers": [0], "start": 0, "stop": 2}))
        assert "rowNumbers" not in json.loads(r.stdout)
        out, rc = call(grid, ep, "Table.addData", {"fileId": fid, "columns": [
            {"type": "LongColumn", "values": [5]}, {"type": "StringColumn", "values": ["toolongvalue"]}]})
        assert rc == 1 and out["error"]["name"] == "ValidationException"
        assert out["error"]["message"] == "Maximum string (byte) length in column Name is 8"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": fid})
        assert out == 4
        out, rc = call(grid, ep, "Table.newTable", {"name": "empty.h5"})
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": out["fileId"]})
        assert rc == 1 and out["error"]["message"] == "Not yet initialized"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": 987654})
        assert rc == 1 and out["error"]["name"] == "NotFoundException"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": fid}, ctx={})
        assert rc == 1 and out["error"]["name"] == "SessionException"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"path": "/etc/passwd"})
        assert rc == 1 and out["error"]["name"] == "ApiUsageException"
        with tables.open_file(path) as f:
            assert f.root.OME.Measurements.col("Uid").tolist() == [1, 2, 3, 4]
        # concurrent calls on the server's worker threads: writers queue on the file lock
        import subprocess
        procs = []
        for w in range(3):
            body = {"fileId": fid, "columns": [{"type": "LongColumn", "values": list(range(100 + 10 * w, 110 + 10 * w))},
                                                {"type": "StringColumn", "values": ["w%d" % w] * 10}]}
            gc = [os.path.join(BUILD, "bin", "omero-gridcall"), "--ctx", json.dumps(ROOT_CTX), "endpoint", ep]
            procs.append(subprocess.Popen(gc + ["Table.addData", json.dumps(body)], env=grid.env, stdout=subprocess.PIPE))
            where = {"fileId": fid, "condition": "Uid > 0", "step": 1}
            procs.append(subprocess.Popen(gc + ["Table.getWhereList", json.dumps(where)], env=grid.env,
                                          stdout=subprocess.PIPE))
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, out
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": fid})
        assert out == 34
    finally:
        grid.omero("admin", "stop", check=False)
