#!/usr/bin/python3
"""OMERO.tables benchmark: our C storage/query engine (services/tables, driven by
build/bin/omero-tablebench) against PyTables doing the same work on the same HDF5 file in the
same run. Prints seconds and ratios (C / PyTables: below 1 means the C code is faster); asserts
nothing.

Table: 10,000,000 rows (--rows to change) of Id (Long), Image (ImageColumn), A (Double),
B (Double), Count (Long), Name (String, 16 bytes), written in OMERO's v2 layout.
Operations:
  getWhereList  "(A < 0.1) & (Count > 5000)" over the whole table
  read          one whole column (A)
  addData       1,000,000 rows appended (rows prepared in memory beforehand, flush included)
and, for the JSON API layer the Tables server uses:
  api read      1,000,000 values of A as Data JSON text   vs PyTables read + tolist + json.dumps
  api addData   1,000,000 rows from in-memory JSON values  vs PyTables append from Python lists
Times are the best of --reps runs; C times are measured inside the driver process (open, work,
close), PyTables times inside this process (open_file, work, close).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tables

BUILD = os.environ.get("OMERO_BUILD", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   "build"))
DRIVER = os.path.join(BUILD, "bin", "omero-tablebench")
COND = "(A < 0.1) & (Count > 5000)"


def drive(*args):
    out = subprocess.run([DRIVER, *map(str, args)], capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    if "error" in res:
        raise RuntimeError(res["error"])
    return res


def best(fn, reps):
    results = [fn() for _ in range(reps)]
    return min(results, key=lambda r: r[0])


def pt_where(path):
    t0 = time.perf_counter()
    with tables.open_file(path) as f:
        rows = f.root.OME.Measurements.get_where_list(COND)
    return time.perf_counter() - t0, len(rows), int(rows.sum())


def pt_read(path):
    t0 = time.perf_counter()
    with tables.open_file(path) as f:
        a = f.root.OME.Measurements.col("A")
    return time.perf_counter() - t0, len(a)


def pt_rows(dtype, first, n):
    i = np.arange(first, first + n, dtype=np.int64)
    rec = np.empty(n, dtype=dtype)
    rec["Id"] = i
    rec["Image"] = i % 1000
    rec["A"] = np.fmod(i * 0.6180339887498949, 1.0)
    rec["B"] = 100.0 * np.sin(i)
    rec["Count"] = (i * 7919) % 10007
    rec["Name"] = np.char.mod("name%05d", i % 100000)
    return rec


def pt_append(path, n):
    with tables.open_file(path, "a") as f:
        t = f.root.OME.Measurements
        rec = pt_rows(t.dtype, t.nrows, n)
        t0 = time.perf_counter()
        t.append(rec)
        t.flush()
    return time.perf_counter() - t0


def pt_api_read(path, n):
    t0 = time.perf_counter()
    with tables.open_file(path) as f:
        vals = f.root.OME.Measurements.read(0, n, field="A").tolist()
    text = json.dumps({"rowNumbers": list(range(n)), "columns": [{"name": "A", "values": vals}]})
    return time.perf_counter() - t0, len(text)


def pt_api_append(path, n):
    """What omero-py's HdfStorage.append does with the column values it receives as lists."""
    with tables.open_file(path, "a") as f:
        t = f.root.OME.Measurements
        rec = pt_rows(t.dtype, t.nrows, n)
        cols = [rec[name].tolist() for name in t.colnames]
        t0 = time.perf_counter()
        records = np.array(list(zip(*cols)), dtype=t.dtype)
        t.append(records)
        t.flush()
    return time.perf_counter() - t0


def line(name, c, p, note=""):
    print("%-34s %10.3f s %10.3f s %8.2f  %s" % (name, c, p, c / p if p else float("nan"), note))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--append", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=None, help="directory for the table file (default: a temporary one)")
    args = ap.parse_args()
    if not os.path.exists(DRIVER):
        print("tables_bench: %s not built (make build/bin/omero-tablebench)" % DRIVER)
        return 0
    d = tempfile.mkdtemp(prefix="tables-bench-", dir=args.dir)
    path = os.path.join(d, "bench.h5")
    try:
        print("OMERO.tables benchmark: %d rows x (5 numeric + 1 string column), HDF5 %s, PyTables %s"
              % (args.rows, tables.hdf5_version, tables.__version__))
        t0 = time.perf_counter()
        drive("gen", path, args.rows)
        print("table written by the C code in %.2f s (%.0f MB)" % (time.perf_counter() - t0,
                                                                   os.path.getsize(path) / 1e6))
        print("%-34s %12s %12s %8s" % ("operation", "C", "PyTables", "C/PT"))
        cw = best(lambda: (lambda r: (r["seconds"], r))(drive("where", path, COND)), args.reps)
        pw = best(lambda: pt_where(path), args.reps)
        same = cw[1]["count"] == pw[1] and cw[1]["sum"] == pw[2]
        line("getWhereList " + COND, cw[0], pw[0], "%d rows, %s" % (pw[1], "same rows" if same else "ROWS DIFFER"))
        cr = best(lambda: (drive("read", path, "A")["seconds"],), args.reps)
        pr = best(lambda: pt_read(path), args.reps)
        line("read one column (A)", cr[0], pr[0], "%d values" % pr[1])
        ca = drive("append", path, args.append)["seconds"]
        pa = pt_append(path, args.append)
        line("addData %d rows" % args.append, ca, pa, "storage layer")
        n = min(args.append, args.rows)
        car = best(lambda: (drive("api-read", path, 2, 0, n)["seconds"],), args.reps)
        par = best(lambda: pt_api_read(path, n), args.reps)
        line("api read %d values -> JSON" % n, car[0], par[0], "Data JSON text")
        caa = drive("api-append", path, args.append)["seconds"]
        paa = pt_api_append(path, args.append)
        line("api addData %d rows" % args.append, caa, paa, "from JSON values / Python lists")
        with tables.open_file(path) as f:
            print("final table: %d rows, PyTables reads it back: Id[-1] = %d" %
                  (f.root.OME.Measurements.nrows, f.root.OME.Measurements[-1]["Id"]))
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
