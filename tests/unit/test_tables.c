/* Unit tests of services/tables: column kinds and validation, the HDF5 storage layer (layout,
 * append/commit/abort, point and range reads, updates, metadata), the condition compiler and
 * evaluator (against brute force in C), getWhereList range rules and the JSON API. */
/* UNIT_LINK: services/tables */
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "omr_error.h"
#include "../../services/tables/condition.h"
#include "../../services/tables/hdf_storage.h"
#include "../../services/tables/table_api.h"

static char dir[64];

static const char *tmpfile_path (const char *name)
{
    static char buf[256];
    snprintf (buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A table Id(Long) A(Double) Ok(Bool) Name(String 6) Img(Image) with n generated rows. */
static void make_table (const char *path, int64_t n)
{
    omr_err_t err = { 0 };
    unlink (path);
    tbl_store_t *st = tbl_store_open (path, 1, 1, 5, &err);
    tbl_col_t cols[5] = {
        { "Id", "ids", TBL_LONG, 0 }, { "A", "", TBL_DOUBLE, 0 }, { "Ok", "", TBL_BOOL, 0 },
        { "Name", "", TBL_STRING, 6 }, { "Img", "", TBL_IMAGE, 0 },
    };
    CHECK (st != NULL);
    CHECK_INT (tbl_store_initialize (st, cols, 5, &err), 0);
    tbl_rowfmt_t fmt;
    CHECK_INT (tbl_rowfmt_init (&fmt, st, NULL, 0, &err), 0);
    CHECK_INT (fmt.stride, 8 + 8 + 1 + 6 + 8);
    unsigned char *buf = calloc ((size_t) n + 1, fmt.stride);
    static const char *words[] = { "", "abc", "ab", "abd", "zzzzzz", "b" };
    for (int64_t i = 0; i < n; i++) {
        unsigned char *row = buf + i * fmt.stride;
        double a = (double) (i % 97) / 10.0 - 3.0;
        if (i % 101 == 0)
            a = NAN;
        int64_t img = i % 7;
        memcpy (row + fmt.offsets[0], &i, 8);
        memcpy (row + fmt.offsets[1], &a, 8);
        row[fmt.offsets[2]] = (unsigned char) (i % 3 == 0);
        memcpy (row + fmt.offsets[3], words[i % 6], strlen (words[i % 6]));
        memcpy (row + fmt.offsets[4], &img, 8);
    }
    CHECK_INT (tbl_store_append_begin (st, (size_t) n, &err), 0);
    CHECK_INT (tbl_store_append_rows (st, &fmt, 0, (size_t) n, buf, &err), 0);
    CHECK_INT (tbl_store_append_commit (st, &err), 0);
    CHECK_INT (tbl_store_nrows (st), n);
    free (buf);
    tbl_rowfmt_free (&fmt);
    tbl_store_close (st);
}

static void test_kinds (void)
{
    tbl_kind_t k;
    for (int i = 0; i < TBL_NKINDS; i++) {
        char buf[128];
        CHECK_INT (tbl_kind_parse (tbl_kind_name ((tbl_kind_t) i), &k), 0);
        CHECK_INT (k, i);
        snprintf (buf, sizeof buf, "::omero::grid::%s", tbl_kind_name ((tbl_kind_t) i));
        CHECK_INT (tbl_kind_parse (buf, &k), 0);
        CHECK_INT (k, i);
    }
    CHECK_INT (tbl_kind_parse ("Column", &k), -1);
    CHECK_INT (tbl_kind_parse (NULL, &k), -1);
    CHECK (tbl_kind_is_long (TBL_DATASET) && !tbl_kind_is_long (TBL_BOOL));
    CHECK (tbl_kind_has_size (TBL_STRING) && tbl_kind_has_size (TBL_LONGARR) && !tbl_kind_has_size (TBL_MASK));
    tbl_col_t m = { "m", "", TBL_MASK, 0 }, f = { "f", "", TBL_FLOATARR, 3 };
    CHECK_INT (tbl_col_value_size (&m), 48);
    CHECK_INT (tbl_col_value_size (&f), 12);
}

static void test_validate (void)
{
    omr_err_t err = { 0 };
    tbl_col_t ok[2] = { { "a", "", TBL_LONG, 0 }, { "b", "", TBL_STRING, 3 } };
    CHECK_INT (tbl_cols_validate (ok, 2, &err), 0);
    CHECK_INT (tbl_cols_validate (ok, 0, &err), -1);
    CHECK_STR (err.msg, "No columns provided");
    tbl_col_t dup[2] = { { "a", "", TBL_LONG, 0 }, { "a", "", TBL_DOUBLE, 0 } };
    CHECK_INT (tbl_cols_validate (dup, 2, &err), -1);
    CHECK_STR (err.msg, "Duplicate column name: a");
    tbl_col_t res[1] = { { "__x", "", TBL_LONG, 0 } };
    CHECK_INT (tbl_cols_validate (res, 1, &err), -1);
    CHECK_STR (err.msg, "Reserved column name: __x");
    CHECK_STR (err.name, OMR_E_API);
    tbl_col_t str0[1] = { { "s", "", TBL_STRING, 0 } };
    CHECK_INT (tbl_cols_validate (str0, 1, &err), -1);
    CHECK_STR (err.msg, "String size must be > 0 (Column: s)");
    tbl_col_t empty[1] = { { "", "", TBL_LONG, 0 } };
    CHECK_INT (tbl_cols_validate (empty, 1, &err), -1);
}

static void test_storage_roundtrip (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("rt.h5");
    make_table (p, 1000);
    tbl_store_t *st = tbl_store_open (p, 0, 0, 5, &err);
    CHECK (st && tbl_store_initialized (st));
    CHECK_INT (tbl_store_ncols (st), 5);
    CHECK_STR (tbl_store_col (st, 0)->description, "ids");
    CHECK_INT (tbl_store_col (st, 3)->size, 6);
    CHECK_INT (tbl_store_col (st, 4)->kind, TBL_IMAGE);
    CHECK_INT (tbl_store_find_col (st, "Ok"), 2);
    CHECK_INT (tbl_store_find_col (st, "nope"), -1);
    CHECK_INT (tbl_store_nrows (st), 1000);
    /* PyTables' chunk shape for a 31-byte row: 65536 / 31 */
    CHECK_INT (tbl_store_chunk_rows (st), 65536 / 31);
    size_t cols[2] = { 3, 0 };
    tbl_rowfmt_t fmt;
    CHECK_INT (tbl_rowfmt_init (&fmt, st, cols, 2, &err), 0);
    unsigned char buf[14 * 4];
    int64_t rows[4] = { 999, 2, 2, 0 };
    CHECK_INT (tbl_store_read_points (st, &fmt, rows, 4, buf, &err), 0);
    int64_t id;
    memcpy (&id, buf + fmt.offsets[1], 8);
    CHECK_INT (id, 999);
    CHECK (memcmp (buf + fmt.offsets[0], "abd\0\0\0", 6) == 0);   /* 999 % 6 == 3 */
    memcpy (&id, buf + fmt.stride * 2 + fmt.offsets[1], 8);
    CHECK_INT (id, 2);
    CHECK_INT (tbl_store_read_range (st, &fmt, 10, 2, buf, &err), 0);
    memcpy (&id, buf + fmt.stride + fmt.offsets[1], 8);
    CHECK_INT (id, 11);
    CHECK_INT (tbl_store_read_range (st, &fmt, 999, 2, buf, &err), -1);
    CHECK_STR (err.msg, "Row overflow: 1000 >= 1000");
    int64_t bad[1] = { 1000 };
    CHECK_INT (tbl_store_read_points (st, &fmt, bad, 1, buf, &err), -1);
    /* a reader cannot write */
    CHECK_INT (tbl_store_write_points (st, &fmt, rows, 1, buf, &err), -1);
    tbl_rowfmt_free (&fmt);
    size_t dupcols[2] = { 1, 1 };
    CHECK_INT (tbl_rowfmt_init (&fmt, st, dupcols, 2, &err), -1);
    size_t over[1] = { 5 };
    CHECK_INT (tbl_rowfmt_init (&fmt, st, over, 1, &err), -1);
    CHECK_STR (err.msg, "Column overflow: 5 >= 5");
    tbl_store_close (st);
}

static void test_append_abort_and_update (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("ab.h5");
    make_table (p, 100);
    tbl_store_t *st = tbl_store_open (p, 1, 0, 5, &err);
    tbl_rowfmt_t fmt;
    tbl_rowfmt_init (&fmt, st, NULL, 0, &err);
    unsigned char *buf = calloc (50, fmt.stride);
    CHECK_INT (tbl_store_append_begin (st, 50, &err), 0);
    CHECK_INT (tbl_store_append_begin (st, 50, &err), -1);      /* one batch at a time */
    CHECK_INT (tbl_store_append_rows (st, &fmt, 0, 50, buf, &err), 0);
    CHECK_INT (tbl_store_append_rows (st, &fmt, 40, 20, buf, &err), -1);   /* outside the batch */
    tbl_store_append_abort (st);
    CHECK_INT (tbl_store_nrows (st), 100);
    /* update two fields of two rows; others stay */
    size_t cols[2] = { 1, 3 };
    tbl_rowfmt_t uf;
    tbl_rowfmt_init (&uf, st, cols, 2, &err);
    unsigned char ub[2 * 14];
    memset (ub, 0, sizeof ub);
    double a0 = 42.5, a1 = -1;
    memcpy (ub + uf.offsets[0], &a0, 8);
    memcpy (ub + uf.offsets[1], "xyzxyz", 6);
    memcpy (ub + uf.stride + uf.offsets[0], &a1, 8);
    int64_t rows[2] = { 7, 3 };
    CHECK_INT (tbl_store_write_points (st, &uf, rows, 2, ub, &err), 0);
    tbl_rowfmt_free (&uf);
    tbl_store_close (st);
    st = tbl_store_open (p, 0, 0, 5, &err);
    CHECK_INT (tbl_store_nrows (st), 100);
    CHECK_INT (tbl_store_read_range (st, &fmt, 0, 8, buf, &err), 0);
    double a;
    int64_t id;
    memcpy (&a, buf + 7 * fmt.stride + fmt.offsets[1], 8);
    CHECK (a == 42.5);
    CHECK (memcmp (buf + 7 * fmt.stride + fmt.offsets[3], "xyzxyz", 6) == 0);
    memcpy (&id, buf + 7 * fmt.stride + fmt.offsets[0], 8);
    CHECK_INT (id, 7);
    memcpy (&a, buf + 3 * fmt.stride + fmt.offsets[1], 8);
    CHECK (a == -1);
    CHECK (buf[3 * fmt.stride + fmt.offsets[3]] == 0);
    CHECK (buf[3 * fmt.stride + fmt.offsets[2]] == 1);    /* Ok of row 3 untouched */
    free (buf);
    tbl_rowfmt_free (&fmt);
    tbl_store_close (st);
}

static void test_layout_attributes (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("rt.h5");
    make_table (p, 10);
    hid_t f = H5Fopen (p, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK (f >= 0);
    CHECK (H5Aexists_by_name (f, "/", "PYTABLES_FORMAT_VERSION", H5P_DEFAULT) > 0);
    CHECK (H5Aexists_by_name (f, "/OME/Measurements", "FIELD_4_FILL", H5P_DEFAULT) > 0);
    CHECK (H5Aexists_by_name (f, "/OME/Measurements", "FIELD_4_NAME", H5P_DEFAULT) > 0);
    CHECK (H5Aexists_by_name (f, "/OME/Measurements", "FIELD_5_NAME", H5P_DEFAULT) == 0);
    CHECK (H5Aexists_by_name (f, "/OME/ColumnTypes", "FLAVOR", H5P_DEFAULT) > 0);
    hid_t a = H5Aopen_by_name (f, "/OME/Measurements", "NROWS", H5P_DEFAULT, H5P_DEFAULT);
    int64_t nr = -1;
    H5Aread (a, H5T_NATIVE_INT64, &nr);
    H5Aclose (a);
    CHECK_INT (nr, 10);
    hid_t d = H5Dopen2 (f, "/OME/Measurements", H5P_DEFAULT);
    hid_t sp = H5Dget_space (d);
    hsize_t dim, maxd;
    H5Sget_simple_extent_dims (sp, &dim, &maxd);
    CHECK_INT (dim, 10);
    CHECK (maxd == H5S_UNLIMITED);
    hid_t t = H5Dget_type (d);
    CHECK_INT (H5Tget_nmembers (t), 5);
    hid_t m = H5Tget_member_type (t, 2);
    CHECK (H5Tequal (m, H5T_STD_B8LE) > 0);
    H5Tclose (m);
    H5Tclose (t);
    H5Sclose (sp);
    H5Dclose (d);
    H5Fclose (f);
    (void) err;
}

static void test_metadata (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("md.h5");
    make_table (p, 3);
    tbl_store_t *st = tbl_store_open (p, 1, 0, 5, &err);
    CHECK_INT (tbl_store_version (st, &err), 2);
    tbl_meta_t in[3] = { { "s", TBL_META_STR, "text", 0, 0 }, { "i", TBL_META_INT, NULL, -5, 0 },
                         { "f", TBL_META_FLOAT, NULL, 0, 0.25 } };
    CHECK_INT (tbl_store_meta_write (st, in, 3, 0, &err), 0);
    tbl_meta_t bad[1] = { { "__version", TBL_META_STR, "3", 0, 0 } };
    CHECK_INT (tbl_store_meta_write (st, bad, 1, 0, &err), -1);
    CHECK_STR (err.msg, "Reserved attribute name: __version");
    tbl_meta_t sys[1] = { { "NROWS", TBL_META_INT, NULL, 0, 0 } };
    CHECK_INT (tbl_store_meta_write (st, sys, 1, 0, &err), -1);
    tbl_meta_t *m;
    size_t n;
    CHECK_INT (tbl_store_meta_list (st, &m, &n, &err), 0);
    CHECK_INT (n, 5);   /* __initialized __version f i s */
    CHECK_STR (m[0].key, "__initialized");
    CHECK_INT (m[0].type, TBL_META_FLOAT);
    CHECK_STR (m[1].key, "__version");
    CHECK_STR (m[1].s, "2");
    CHECK_STR (m[2].key, "f");
    CHECK (m[2].f == 0.25);
    CHECK_INT (m[3].i, -5);
    CHECK_STR (m[4].s, "text");
    tbl_meta_free (m, n);
    tbl_meta_t repl[1] = { { "only", TBL_META_STR, "", 0, 0 } };
    CHECK_INT (tbl_store_meta_write (st, repl, 1, 1, &err), 0);
    CHECK_INT (tbl_store_meta_list (st, &m, &n, &err), 0);
    CHECK_INT (n, 3);
    CHECK_STR (m[2].key, "only");
    CHECK_STR (m[2].s, "");
    tbl_meta_free (m, n);
    tbl_store_close (st);
}

static void test_not_initialized (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("none.h5");
    unlink (p);
    CHECK (tbl_store_open (p, 0, 0, 5, &err) == NULL);
    CHECK_STR (err.msg, "Not yet initialized");
    FILE *f = fopen (p, "w");
    fclose (f);
    tbl_store_t *st = tbl_store_open (p, 0, 0, 5, &err);
    CHECK (st && !tbl_store_initialized (st));
    CHECK_INT (tbl_store_check_init (st, &err), -1);
    tbl_store_close (st);
    FILE *g = fopen (p, "w");
    fputs ("not hdf5 at all", g);
    fclose (g);
    CHECK (tbl_store_open (p, 0, 0, 5, &err) == NULL);
    CHECK_STR (err.name, OMR_E_VALIDATION);
}

/* ---------------------------------------------------------------- conditions */

static int bad_condition (tbl_store_t *st, const char *cond, const char *want)
{
    omr_err_t err = { 0 };
    tbl_cond_t *c = tbl_cond_compile (cond, NULL, st, &err);
    if (c) {
        tbl_cond_free (c);
        fprintf (stderr, "  accepted: %s\n", cond);
        return 0;
    }
    if (strncmp (err.msg, "Bad condition: ", 15) != 0 || strcmp (err.name, OMR_E_API) != 0)
        return 0;
    if (want && !strstr (err.msg, want)) {
        fprintf (stderr, "  %s: %s\n", cond, err.msg);
        return 0;
    }
    return 1;
}

static void test_condition_errors (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("c.h5");
    make_table (p, 10);
    tbl_store_t *st = tbl_store_open (p, 0, 0, 5, &err);
    CHECK (bad_condition (st, "Id >", "SyntaxError"));
    CHECK (bad_condition (st, "Nope > 1", "NameError"));
    CHECK (bad_condition (st, "Id", "does not have a boolean type"));
    CHECK (bad_condition (st, "1 > 0", "no columns"));
    CHECK (bad_condition (st, "(Id > 1) and Ok", "bitwise"));
    CHECK (bad_condition (st, "Name == 1", "TypeError"));
    CHECK (bad_condition (st, "Id & 1", "TypeError"));
    CHECK (bad_condition (st, "Id ** Img > 1", "constant exponent"));
    CHECK (bad_condition (st, "Id ** -2 > 1", "negative integer powers"));
    CHECK (bad_condition (st, "1 < Id < 3", "chained"));
    CHECK (bad_condition (st, "frob(Id) > 1", "unknown function"));
    CHECK (bad_condition (st, "Id > 1 )", "SyntaxError"));
    CHECK (bad_condition (st, "Name == 'caf\xc3\xa9'", "non-ASCII"));
    CHECK (bad_condition (st, "", NULL));
    json_t *vars = json_pack ("{s:s}", "x", "Nope");
    tbl_cond_t *c = tbl_cond_compile ("x > 1", vars, st, &err);
    CHECK (c == NULL);
    CHECK (strstr (err.msg, "Nope") != NULL);
    json_decref (vars);
    vars = json_pack ("{s:i,s:s}", "x", 3, "col", "Img");
    c = tbl_cond_compile ("(col == x) & (Id > x)", vars, st, &err);
    CHECK (c != NULL);
    size_t nc;
    const size_t *cols = tbl_cond_cols (c, &nc);
    CHECK_INT (nc, 2);
    CHECK_INT (cols[0], 4);
    CHECK_INT (cols[1], 0);
    tbl_cond_free (c);
    json_decref (vars);
    tbl_store_close (st);
}

typedef int (*pred_fn) (int64_t i);
static const char *words[] = { "", "abc", "ab", "abd", "zzzzzz", "b" };
static double aval (int64_t i) { return i % 101 == 0 ? NAN : (double) (i % 97) / 10.0 - 3.0; }
static int p1 (int64_t i) { return i % 7 == 3 && aval (i) > 0; }
static int p2 (int64_t i) { return strcmp (words[i % 6], "ab") > 0 || i % 3 == 0; }
static int p3 (int64_t i) { return strstr (words[i % 6], "b") != NULL && !(aval (i) != aval (i)); }
static int p4 (int64_t i) { return (i * 3) % 5 == 1 && (double) i / 4 > 1000.5; }
static int p5 (int64_t i) { double a = aval (i); return (i % 3 == 0 ? a : (double) i) > 2.5; }
static int p6 (int64_t i) { return -(i % 7) * (i % 7) < -20 || sqrt (fabs (aval (i))) > 1.5; }

static void test_where_list_brute_force (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("w.h5");
    int64_t n = 150000;       /* several evaluation blocks */
    make_table (p, n);
    tbl_store_t *st = tbl_store_open (p, 0, 0, 5, &err);
    struct { const char *cond; pred_fn f; } cases[] = {
        { "(Img == 3) & (A > 0)", p1 },
        { "(Name > b'ab') | Ok", p2 },
        { "contains(Name, 'b') & (A == A)", p3 },
        { "(Id * 3 % 5 == 1) & (Id / 4 > 1000.5)", p4 },
        { "where(Ok, A, Id) > 2.5", p5 },
        { "(-Img ** 2 < -20) | (sqrt(abs(A)) > 1.5)", p6 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t *rows;
        size_t cnt;
        CHECK_INT (tbl_where_list (st, cases[k].cond, NULL, 0, n, 0, &rows, &cnt, &err), 0);
        size_t j = 0;
        int same = 1;
        for (int64_t i = 0; i < n; i++)
            if (cases[k].f (i)) {
                if (j >= cnt || rows[j] != i)
                    same = 0;
                j++;
            }
        if (!same || j != cnt)
            fprintf (stderr, "  condition %s: %zu rows, expected %zu\n", cases[k].cond, cnt, j);
        CHECK (same && j == cnt);
        free (rows);
    }
    /* range rules: stop 0 and step 0 are None; both None -> only row `start` */
    int64_t *rows;
    size_t cnt;
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, 0, 0, 0, &rows, &cnt, &err), 0);
    CHECK (cnt == 1 && rows[0] == 0);
    free (rows);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, -1, 0, 0, &rows, &cnt, &err), 0);
    CHECK (cnt == 1 && rows[0] == n - 1);
    free (rows);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, 10, 0, 1, &rows, &cnt, &err), 0);
    CHECK (cnt == (size_t) (n - 10) && rows[0] == 10 && rows[cnt - 1] == n - 1);
    free (rows);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, 2, 10, 3, &rows, &cnt, &err), 0);
    CHECK (cnt == 3 && rows[0] == 2 && rows[1] == 5 && rows[2] == 8);
    free (rows);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, -20, -10, 0, &rows, &cnt, &err), 0);
    CHECK (cnt == 10 && rows[0] == n - 20);
    free (rows);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, n, 0, 0, &rows, &cnt, &err), -1);
    CHECK_INT (tbl_where_list (st, "Id >= 0", NULL, 0, 10, -1, &rows, &cnt, &err), -1);
    tbl_store_close (st);
}

/* ---------------------------------------------------------------- JSON API */

/* Whole file contents (malloc'd). */
static char *slurp (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *b = malloc ((size_t) n + 1);
    if (fread (b, 1, (size_t) n, f) != (size_t) n) {
        free (b);
        b = NULL;
    }
    fclose (f);
    if (len)
        *len = (size_t) n;
    return b;
}

static json_t *api (const char *path, const char *method, const char *args, omr_err_t *err)
{
    json_t *a = json_loads (args, 0, NULL);
    json_t *r = tbl_api_call (path, method, a, NULL, err);
    json_decref (a);
    return r;
}

static void test_api (void)
{
    omr_err_t err = { 0 };
    const char *p = tmpfile_path ("api.h5");
    unlink (p);
    json_t *r = api (p, "initialize", "{\"columns\":[{\"name\":\"Uid\",\"type\":\"LongColumn\"},"
                     "{\"name\":\"S\",\"type\":\"StringColumn\",\"size\":3},"
                     "{\"name\":\"V\",\"type\":\"LongArrayColumn\",\"size\":2}]}", &err);
    CHECK (r && json_is_null (r));
    json_decref (r);
    r = api (p, "addData", "{\"columns\":[{\"values\":[1,2]},{\"values\":[\"a\",\"bcd\"]},"
             "{\"values\":[[1,2],[3,4]]}]}", &err);
    CHECK (r != NULL);
    json_decref (r);
    size_t blen, alen;
    char *before = slurp (p, &blen);
    r = api (p, "addData", "{\"columns\":[{\"values\":[3]},{\"values\":[\"abcd\"]},{\"values\":[[1,2]]}]}", &err);
    CHECK (r == NULL);
    CHECK_STR (err.msg, "Maximum string (byte) length in column S is 3");
    CHECK_STR (err.name, OMR_E_VALIDATION);
    r = api (p, "addData", "{\"columns\":[{\"values\":[3]},{\"values\":[\"a\"]},{\"values\":[[1,2,3]]}]}", &err);
    CHECK (r == NULL);
    CHECK_STR (err.msg, "Column V requires arrays of length 2");
    char *after = slurp (p, &alen);
    CHECK (before && after && blen == alen && memcmp (before, after, blen) == 0);
    free (before);
    free (after);
    r = api (p, "getNumberOfRows", "{}", &err);
    CHECK (json_integer_value (r) == 2);
    json_decref (r);
    r = api (p, "slice", "{\"colNumbers\":[2,1],\"rowNumbers\":[1,0]}", &err);
    char *s = json_dumps (json_object_get (r, "columns"), JSON_COMPACT);
    CHECK_STR (s, "[{\"name\":\"V\",\"type\":\"LongArrayColumn\",\"description\":\"\",\"size\":2,\"values\":[[3,4],[1,2]]},"
               "{\"name\":\"S\",\"type\":\"StringColumn\",\"description\":\"\",\"size\":3,\"values\":[\"bcd\",\"a\"]}]");
    free (s);
    json_decref (r);
    r = api (p, "getWhereList", "{\"condition\":\"S == b'bcd'\",\"step\":1}", &err);
    CHECK (json_array_size (r) == 1 && json_integer_value (json_array_get (r, 0)) == 1);
    json_decref (r);
    r = api (p, "update", "{\"data\":{\"rowNumbers\":[0],\"columns\":[{\"name\":\"Uid\",\"values\":[10]}]}}", &err);
    CHECK (r != NULL);
    json_decref (r);
    r = api (p, "readCoordinates", "{\"rowNumbers\":[0]}", &err);
    CHECK (json_integer_value (json_array_get (json_object_get (json_array_get (json_object_get (r, "columns"), 0), "values"), 0)) == 10);
    json_decref (r);
    r = api (p, "setMetadata", "{\"key\":\"k\",\"value\":7}", &err);
    json_decref (r);
    r = api (p, "getMetadata", "{\"key\":\"k\"}", &err);
    CHECK (json_integer_value (r) == 7);
    json_decref (r);
    r = api (p, "nope", "{}", &err);
    CHECK (r == NULL);
    CHECK_STR (err.msg, "Unknown Table method: nope");
    size_t n;
    tbl_api_methods (&n);
    CHECK_INT (n, 14);
    CHECK (tbl_api_find ("getWhereList") != NULL && tbl_api_find ("getWhereList")->writes == 0);
    CHECK (tbl_api_find ("addData")->writes == 1);
    r = api (p, "delete", "{}", &err);
    CHECK (r != NULL && access (p, F_OK) != 0);
    json_decref (r);
}

int main (void)
{
    snprintf (dir, sizeof dir, "/tmp/test_tables.XXXXXX");
    if (!mkdtemp (dir))
        return 1;
    RUN (test_kinds);
    RUN (test_validate);
    RUN (test_storage_roundtrip);
    RUN (test_append_abort_and_update);
    RUN (test_layout_attributes);
    RUN (test_metadata);
    RUN (test_not_initialized);
    RUN (test_condition_errors);
    RUN (test_where_list_brute_force);
    RUN (test_api);
    const char *names[] = { "rt.h5", "ab.h5", "md.h5", "none.h5", "c.h5", "w.h5", "api.h5", NULL };
    for (int i = 0; names[i]; i++)
        unlink (tmpfile_path (names[i]));
    rmdir (dir);
    return UNIT_DONE ();
}
