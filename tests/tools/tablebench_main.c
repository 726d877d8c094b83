/* tablebench: timing driver for bench/tables_bench.py (storage-level and API-level calls on one
 * table file; prints one JSON object with the measured seconds).  Usage:
 *   omero-tablebench gen PATH NROWS         create the benchmark table (5 numeric + 1 string columns)
 *   omero-tablebench where PATH COND        getWhereList over the whole table
 *   omero-tablebench read PATH COLNAME      read one whole column into an array
 *   omero-tablebench append PATH N          addData of N generated rows through the storage layer
 *   omero-tablebench api-append PATH N      the same through tbl_api_add_data (JSON values in memory)
 *   omero-tablebench api-read PATH COLNUM START STOP   tbl_api_read, result serialised to text
 * Generated rows are deterministic functions of the row index (see gen_rows). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "omr_error.h"
#include "../../services/tables/condition.h"
#include "../../services/tables/hdf_storage.h"
#include "../../services/tables/table_api.h"

#define NAME_SIZE 16

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int fail (const omr_err_t *err)
{
    printf ("{\"error\":\"%s: %s\"}\n", err->name, err->msg);
    return 1;
}

/* Row i: Id=i, Image=i%1000, A=frac(i*0.618..), B=100*sin(i), Count=(i*7919)%10007, Name="name%05d". */
static void gen_rows (const tbl_rowfmt_t *fmt, int64_t first, size_t n, unsigned char *buf)
{
    for (size_t r = 0; r < n; r++) {
        int64_t i = first + (int64_t) r;
        unsigned char *row = buf + r * fmt->stride;
        int64_t id = i, image = i % 1000, count = (i * 7919) % 10007;
        double a = fmod ((double) i * 0.6180339887498949, 1.0), b = 100.0 * sin ((double) i);
        char name[NAME_SIZE + 1];
        memset (name, 0, sizeof name);
        snprintf (name, sizeof name, "name%05lld", (long long) (i % 100000));
        memcpy (row + fmt->offsets[0], &id, 8);
        memcpy (row + fmt->offsets[1], &image, 8);
        memcpy (row + fmt->offsets[2], &a, 8);
        memcpy (row + fmt->offsets[3], &b, 8);
        memcpy (row + fmt->offsets[4], &count, 8);
        memcpy (row + fmt->offsets[5], name, NAME_SIZE);
    }
}

static int append_rows (const char *path, int64_t n, int create, double *t_start, omr_err_t *err)
{
    tbl_store_t *st = tbl_store_open (path, 1, create, 60, err);
    if (!st)
        return -1;
    if (create && !tbl_store_initialized (st)) {
        tbl_col_t cols[6] = {
            { "Id", "", TBL_LONG, 0 }, { "Image", "", TBL_IMAGE, 0 }, { "A", "", TBL_DOUBLE, 0 },
            { "B", "", TBL_DOUBLE, 0 }, { "Count", "", TBL_LONG, 0 }, { "Name", "", TBL_STRING, NAME_SIZE },
        };
        if (tbl_store_initialize (st, cols, 6, err) < 0) {
            tbl_store_close (st);
            return -1;
        }
    }
    tbl_rowfmt_t fmt;
    if (tbl_rowfmt_init (&fmt, st, NULL, 0, err) < 0) {
        tbl_store_close (st);
        return -1;
    }
    /* gen (table creation) generates block by block; append generates every row first so that
     * only the storage work is timed, like PyTables' Table.append of a prepared array */
    size_t block = 65536;
    int64_t first = tbl_store_nrows (st);
    unsigned char *all = create ? NULL : malloc ((size_t) n * fmt.stride + 1);
    unsigned char *buf = create ? malloc (block * fmt.stride) : NULL;
    if (all)
        gen_rows (&fmt, first, (size_t) n, all);
    *t_start = now ();
    int rc = tbl_store_append_begin (st, (size_t) n, err);
    for (int64_t at = 0; rc == 0 && at < n; at += (int64_t) block) {
        size_t m = (size_t) (n - at) < block ? (size_t) (n - at) : block;
        unsigned char *src = all ? all + (size_t) at * fmt.stride : buf;
        if (!all)
            gen_rows (&fmt, first + at, m, buf);
        rc = tbl_store_append_rows (st, &fmt, (size_t) at, m, src, err);
    }
    if (rc == 0)
        rc = tbl_store_append_commit (st, err);
    free (buf);
    free (all);
    tbl_rowfmt_free (&fmt);
    tbl_store_close (st);
    return rc;
}

int main (int argc, char **argv)
{
    omr_err_t err;
    omr_err_clear (&err);
    if (argc < 4) {
        fprintf (stderr, "usage: omero-tablebench gen|where|read|append|api-append|api-read PATH ARG...\n");
        return 2;
    }
    const char *cmd = argv[1], *path = argv[2];
    double t0 = now ();
    if (strcmp (cmd, "gen") == 0 || strcmp (cmd, "append") == 0) {
        if (append_rows (path, atoll (argv[3]), cmd[0] == 'g', &t0, &err) < 0)
            return fail (&err);
        printf ("{\"seconds\":%.6f}\n", now () - t0);
        return 0;
    }
    if (strcmp (cmd, "where") == 0) {
        tbl_store_t *st = tbl_store_open (path, 0, 0, 60, &err);
        int64_t *rows;
        size_t n;
        if (!st || tbl_where_list (st, argv[3], NULL, 0, 0, 1, &rows, &n, &err) < 0) {
            tbl_store_close (st);
            return fail (&err);
        }
        tbl_store_close (st);
        double t = now () - t0;
        long long sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += rows[i];
        free (rows);
        printf ("{\"seconds\":%.6f,\"count\":%zu,\"sum\":%lld}\n", t, n, sum);
        return 0;
    }
    if (strcmp (cmd, "read") == 0) {
        tbl_store_t *st = tbl_store_open (path, 0, 0, 60, &err);
        if (!st)
            return fail (&err);
        long c = tbl_store_find_col (st, argv[3]);
        if (c < 0) {
            tbl_store_close (st);
            omr_err_set (&err, OMR_E_API, 400, "no column %s", argv[3]);
            return fail (&err);
        }
        size_t col = (size_t) c;
        tbl_rowfmt_t fmt;
        tbl_rowfmt_init (&fmt, st, &col, 1, &err);
        int64_t nr = tbl_store_nrows (st);
        unsigned char *out = malloc ((size_t) nr * fmt.stride + 1);
        size_t block = 1 << 20;
        int rc = 0;
        for (int64_t at = 0; rc == 0 && at < nr; at += (int64_t) block) {
            size_t m = (size_t) (nr - at) < block ? (size_t) (nr - at) : block;
            rc = tbl_store_read_range (st, &fmt, at, m, out + (size_t) at * fmt.stride, &err);
        }
        size_t stride = fmt.stride;
        tbl_rowfmt_free (&fmt);
        tbl_store_close (st);
        double t = now () - t0;
        if (rc < 0) {
            free (out);
            return fail (&err);
        }
        /* first and last value as a cross-check against PyTables */
        char first[64] = "", last[64] = "";
        if (nr > 0 && stride == 8) {
            int64_t a, b;
            memcpy (&a, out, 8);
            memcpy (&b, out + (size_t) (nr - 1) * 8, 8);
            snprintf (first, sizeof first, "%lld", (long long) a);
            snprintf (last, sizeof last, "%lld", (long long) b);
        }
        free (out);
        printf ("{\"seconds\":%.6f,\"rows\":%lld,\"first_bits\":\"%s\",\"last_bits\":\"%s\"}\n", t,
                (long long) nr, first, last);
        return 0;
    }
    if (strcmp (cmd, "api-append") == 0) {
        int64_t n = atoll (argv[3]);
        tbl_store_t *st = tbl_store_open (path, 0, 0, 60, &err);
        if (!st)
            return fail (&err);
        int64_t first = tbl_store_nrows (st);
        tbl_store_close (st);
        json_t *v[6];
        for (int k = 0; k < 6; k++)
            v[k] = json_array ();
        for (int64_t i = first; i < first + n; i++) {
            char name[32];
            snprintf (name, sizeof name, "name%05lld", (long long) (i % 100000));
            json_array_append_new (v[0], json_integer (i));
            json_array_append_new (v[1], json_integer (i % 1000));
            json_array_append_new (v[2], json_real (fmod ((double) i * 0.6180339887498949, 1.0)));
            json_array_append_new (v[3], json_real (100.0 * sin ((double) i)));
            json_array_append_new (v[4], json_integer ((i * 7919) % 10007));
            json_array_append_new (v[5], json_string (name));
        }
        json_t *args = json_pack ("{s:[{s:s,s:o},{s:s,s:o},{s:s,s:o},{s:s,s:o},{s:s,s:o},{s:s,s:i,s:o}]}", "columns",
                                  "type", "LongColumn", "values", v[0], "type", "ImageColumn", "values", v[1],
                                  "type", "DoubleColumn", "values", v[2], "type", "DoubleColumn", "values", v[3],
                                  "type", "LongColumn", "values", v[4], "type", "StringColumn", "size", NAME_SIZE,
                                  "values", v[5]);
        double t1 = now ();
        json_t *res = tbl_api_add_data (path, args, NULL, &err);
        double t = now () - t1;
        json_decref (args);
        if (!res)
            return fail (&err);
        json_decref (res);
        printf ("{\"seconds\":%.6f}\n", t);
        return 0;
    }
    if (strcmp (cmd, "api-read") == 0 && argc >= 6) {
        json_t *args = json_pack ("{s:[i],s:I,s:I}", "colNumbers", atoi (argv[3]), "start", (json_int_t) atoll (argv[4]),
                                  "stop", (json_int_t) atoll (argv[5]));
        json_t *res = tbl_api_read (path, args, NULL, &err);
        json_decref (args);
        if (!res)
            return fail (&err);
        char *text = json_dumps (res, JSON_COMPACT);
        double t = now () - t0;
        printf ("{\"seconds\":%.6f,\"bytes\":%zu}\n", t, text ? strlen (text) : 0);
        free (text);
        json_decref (res);
        return 0;
    }
    fprintf (stderr, "unknown command %s\n", cmd);
    return 2;
}
