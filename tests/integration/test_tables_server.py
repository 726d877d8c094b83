"""omero-tables (Tables-N) on a real grid: started by the registry from a descriptor, every Table
method served as grid operation "Table.<method>" on the file of an OriginalFile id under
<omero.data.dir>/Files, errors returned as OMERO exceptions; the file opens in PyTables."""
import json
import os

import pytest

tables = pytest.importorskip("tables")

from conftest import BUILD  # noqa: E402

DESCRIPTOR = """application: TablesGrid
nodes:
  master:
    servers:
      - id: Tables-0
        kind: tables
        exe: %s
"""


def call(g, ep, op, body):
    r = g.gridcall("endpoint", ep, op, json.dumps(body))
    out = json.loads(r.stdout)
    return out, r.returncode


@pytest.mark.skipif(not os.path.exists(os.path.join(BUILD, "bin", "omero-tables")), reason="omero-tables not built")
def test_tables_server_on_grid(grid, tmp_path):
    d = tmp_path / "tables.yaml"
    d.write_text(DESCRIPTOR % os.path.join(BUILD, "bin", "omero-tables"))
    grid.use_descriptor(str(d))
    grid.omero("admin", "start")
    try:
        lk = json.loads(grid.gridcall("registry", "Registry.lookup", '{"id":"Tables-0"}').stdout)
        ep = lk["servers"][0]["endpoint"]
        cols = [{"name": "Uid", "type": "LongColumn", "description": "testLong"},
                {"name": "Name", "type": "StringColumn", "size": 8}]
        out, rc = call(grid, ep, "Table.initialize", {"fileId": 1234, "columns": cols})
        assert rc == 0 and out is None, out
        path = os.path.join(grid.data, "Files", "Dir-001", "1234")
        assert os.path.exists(path)
        out, rc = call(grid, ep, "Table.addData", {"fileId": 1234, "columns": [
            {"type": "LongColumn", "values": [1, 2, 3, 4]},
            {"type": "StringColumn", "size": 8, "values": ["a", "b", "c", "d"]}]})
        assert rc == 0, out
        out, rc = call(grid, ep, "Table.getWhereList", {"fileId": 1234, "condition": "Uid > 2", "stop": 4})
        assert (rc, out) == (0, [2, 3])
        out, rc = call(grid, ep, "Table.read", {"fileId": 1234, "colNumbers": [1], "start": 1, "stop": 3})
        assert out["columns"][0]["values"] == ["b", "c"] and out["rowNumbers"] == [1, 2]
        r = grid.gridcall("--ctx", '{"omero.tables.include_row_numbers":"false"}', "endpoint", ep, "Table.read",
                          json.dumps({"fileId": 1234, "colNumbers": [0], "start": 0, "stop": 2}))
        assert "rowNumbers" not in json.loads(r.stdout)
        out, rc = call(grid, ep, "Table.addData", {"fileId": 1234, "columns": [
            {"type": "LongColumn", "values": [5]}, {"type": "StringColumn", "values": ["toolongvalue"]}]})
        assert rc == 1 and out["error"]["name"] == "ValidationException"
        assert out["error"]["message"] == "Maximum string (byte) length in column Name is 8"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": 1234})
        assert out == 4
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": 99})
        assert rc == 1 and out["error"]["message"] == "Not yet initialized"
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"path": "/etc/passwd"})
        assert rc == 1 and out["error"]["name"] == "ApiUsageException"
        with tables.open_file(path) as f:
            assert f.root.OME.Measurements.col("Uid").tolist() == [1, 2, 3, 4]
        # concurrent calls on the server's worker threads: writers queue on the file lock
        import subprocess
        procs = []
        for w in range(3):
            body = {"fileId": 1234, "columns": [{"type": "LongColumn", "values": list(range(100 + 10 * w, 110 + 10 * w))},
                                                {"type": "StringColumn", "values": ["w%d" % w] * 10}]}
            procs.append(subprocess.Popen([os.path.join(BUILD, "bin", "omero-gridcall"), "endpoint", ep, "Table.addData",
                                           json.dumps(body)], env=grid.env, stdout=subprocess.PIPE))
            procs.append(subprocess.Popen([os.path.join(BUILD, "bin", "omero-gridcall"), "endpoint", ep,
                                           "Table.getWhereList", json.dumps({"fileId": 1234, "condition": "Uid > 0",
                                                                             "step": 1})],
                                          env=grid.env, stdout=subprocess.PIPE))
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0, out
        out, rc = call(grid, ep, "Table.getNumberOfRows", {"fileId": 1234})
        assert out == 34
    finally:
        grid.omero("admin", "stop", check=False)
