/* table_api: JSON front of the OMERO.tables Table methods over hdf_storage and condition.
 * Every write validates all of its input before touching the file, so a rejected call leaves
 * the file as it was. */
#include "table_api.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "condition.h"
#include "hdf_storage.h"

#define BLOCK_ROWS 65536

static double opt_timeout (const tbl_api_opts_t *o)
{
    return o && o->lock_timeout_s > 0 ? o->lock_timeout_s : 5.0;
}

/* ---------------------------------------------------------------- argument helpers */

static int arg_int (json_t *args, const char *key, int64_t dflt, int64_t *out, omr_err_t *err)
{
    json_t *v = args ? json_object_get (args, key) : NULL;
    if (!v || json_is_null (v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer (v))
        return omr_err_set (err, OMR_E_API, 400, "Argument %s must be an integer", key);
    *out = json_integer_value (v);
    return 0;
}

/* A JSON array of integers (NULL/missing = empty). */
static int arg_longs (json_t *args, const char *key, int64_t **out, size_t *n, omr_err_t *err)
{
    *out = NULL;
    *n = 0;
    json_t *v = args ? json_object_get (args, key) : NULL;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_array (v))
        return omr_err_set (err, OMR_E_API, 400, "Argument %s must be an array of integers", key);
    size_t m = json_array_size (v);
    int64_t *a = malloc ((m ? m : 1) * sizeof (int64_t));
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get (v, i);
        if (!json_is_integer (e)) {
            free (a);
            return omr_err_set (err, OMR_E_API, 400, "Argument %s must be an array of integers", key);
        }
        a[i] = json_integer_value (e);
    }
    *out = a;
    *n = m;
    return 0;
}

static json_t *json_double (double d)
{
    if (isnan (d))
        return json_string ("NaN");
    if (isinf (d))
        return json_string (d > 0 ? "Infinity" : "-Infinity");
    return json_real (d);
}

static int json_to_double (json_t *v, double *out)
{
    if (json_is_integer (v)) {
        *out = (double) json_integer_value (v);
        return 0;
    }
    if (json_is_real (v)) {
        *out = json_real_value (v);
        return 0;
    }
    if (json_is_string (v)) {
        const char *s = json_string_value (v);
        if (strcasecmp (s, "NaN") == 0) { *out = NAN; return 0; }
        if (strcasecmp (s, "Infinity") == 0 || strcasecmp (s, "inf") == 0) { *out = INFINITY; return 0; }
        if (strcasecmp (s, "-Infinity") == 0 || strcasecmp (s, "-inf") == 0) { *out = -INFINITY; return 0; }
    }
    return -1;
}

/* Text of a stored string: numpy 'S' semantics (trailing NULs dropped); invalid UTF-8 is read as Latin-1. */
static json_t *json_bytes_string (const char *s, size_t w)
{
    while (w > 0 && s[w - 1] == 0)
        w--;
    json_t *j = json_stringn (s, w);
    if (j)
        return j;
    char *u = malloc (2 * w + 1);
    size_t k = 0;
    for (size_t i = 0; i < w; i++) {
        unsigned char ch = (unsigned char) s[i];
        if (ch < 0x80)
            u[k++] = (char) ch;
        else {
            u[k++] = (char) (0xC0 | (ch >> 6));
            u[k++] = (char) (0x80 | (ch & 0x3F));
        }
    }
    j = json_stringn (u, k);
    free (u);
    return j;
}

/* ---------------------------------------------------------------- columns <-> JSON */

static json_t *col_header (const tbl_col_t *c)
{
    json_t *o = json_object ();
    json_object_set_new (o, "name", json_string (c->name));
    json_object_set_new (o, "type", json_string (tbl_kind_name (c->kind)));
    json_object_set_new (o, "description", json_string (c->description ? c->description : ""));
    if (tbl_kind_has_size (c->kind))
        json_object_set_new (o, "size", json_integer ((json_int_t) c->size));
    return o;
}

/* Parse the column definitions of initialize(). */
static int parse_col_defs (json_t *arr, tbl_col_t **out, size_t *n, omr_err_t *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array (arr))
        return omr_err_set (err, OMR_E_API, 400, "No columns provided");
    size_t m = json_array_size (arr);
    tbl_col_t *cols = calloc (m ? m : 1, sizeof *cols);
    for (size_t i = 0; i < m; i++) {
        json_t *o = json_array_get (arr, i);
        if (!json_is_object (o)) {
            tbl_cols_free (cols, m);
            return omr_err_set (err, OMR_E_API, 400, "Column %zu is not an object", i);
        }
        const char *type = json_string_value (json_object_get (o, "type"));
        if (tbl_kind_parse (type, &cols[i].kind) < 0) {
            tbl_cols_free (cols, m);
            return omr_err_set (err, OMR_E_API, 400, "Unknown column type: %s", type ? type : "(none)");
        }
        const char *name = json_string_value (json_object_get (o, "name"));
        const char *desc = json_string_value (json_object_get (o, "description"));
        cols[i].name = strdup (name ? name : "");
        cols[i].description = strdup (desc ? desc : "");
        if (tbl_kind_has_size (cols[i].kind)) {
            json_t *s = json_object_get (o, "size");
            if (!json_is_integer (s) || json_integer_value (s) < 1) {
                int str = cols[i].kind == TBL_STRING;
                omr_err_set (err, OMR_E_API, 400, str ? "String size must be > 0 (Column: %s)"
                             : "Array length must be > 0 (Column: %s)", cols[i].name);
                tbl_cols_free (cols, m);
                return -1;
            }
            cols[i].size = (size_t) json_integer_value (s);
        }
    }
    *out = cols;
    *n = m;
    return 0;
}

/* Encode one JSON value of column c into dst (tbl_col_value_size bytes). */
static int encode_value (const tbl_col_t *c, json_t *v, unsigned char *dst, omr_err_t *err)
{
    switch (c->kind) {
    case TBL_BOOL:
        if (!json_is_boolean (v))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds booleans", c->name);
        dst[0] = json_is_true (v) ? 1 : 0;
        return 0;
    case TBL_DOUBLE: {
        double d;
        if (json_to_double (v, &d) < 0)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds numbers", c->name);
        memcpy (dst, &d, 8);
        return 0;
    }
    case TBL_STRING: {
        if (!json_is_string (v))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds strings", c->name);
        size_t len = json_string_length (v);
        if (len > c->size)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Maximum string (byte) length in column %s is %zu", c->name, c->size);
        memset (dst, 0, c->size);
        memcpy (dst, json_string_value (v), len);
        return 0;
    }
    case TBL_FLOATARR: case TBL_DOUBLEARR: case TBL_LONGARR: {
        if (!json_is_array (v) || json_array_size (v) != c->size)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s requires arrays of length %zu", c->name, c->size);
        for (size_t k = 0; k < c->size; k++) {
            json_t *e = json_array_get (v, k);
            if (c->kind == TBL_LONGARR) {
                if (!json_is_integer (e))
                    return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds arrays of integers", c->name);
                int64_t x = json_integer_value (e);
                memcpy (dst + 8 * k, &x, 8);
            } else {
                double d;
                if (json_to_double (e, &d) < 0)
                    return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds arrays of numbers", c->name);
                if (c->kind == TBL_FLOATARR) {
                    float f = (float) d;
                    memcpy (dst + 4 * k, &f, 4);
                } else
                    memcpy (dst + 8 * k, &d, 8);
            }
        }
        return 0;
    }
    case TBL_MASK:
        return omr_err_set (err, OMR_E_INTERNAL, 500, "Mask values are encoded separately");
    default:
        if (!json_is_integer (v))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s holds integers", c->name);
        int64_t x = json_integer_value (v);
        memcpy (dst, &x, 8);
        return 0;
    }
}

static json_t *decode_value (const tbl_col_t *c, const unsigned char *src)
{
    switch (c->kind) {
    case TBL_BOOL: return json_boolean (src[0] != 0);
    case TBL_DOUBLE: { double d; memcpy (&d, src, 8); return json_double (d); }
    case TBL_STRING: return json_bytes_string ((const char *) src, c->size);
    case TBL_FLOATARR: case TBL_DOUBLEARR: case TBL_LONGARR: {
        json_t *a = json_array ();
        for (size_t k = 0; k < c->size; k++) {
            if (c->kind == TBL_LONGARR) { int64_t x; memcpy (&x, src + 8 * k, 8); json_array_append_new (a, json_integer (x)); }
            else if (c->kind == TBL_FLOATARR) { float f; memcpy (&f, src + 4 * k, 4); json_array_append_new (a, json_double (f)); }
            else { double d; memcpy (&d, src + 8 * k, 8); json_array_append_new (a, json_double (d)); }
        }
        return a;
    }
    default: { int64_t x; memcpy (&x, src, 8); return json_integer (x); }
    }
}

static const char *mask_fields[7] = { "imageId", "theZ", "theT", "x", "y", "w", "h" };

/* Number of values a data column carries (-1 with err when malformed). */
static long col_length (const tbl_col_t *c, json_t *o, omr_err_t *err)
{
    if (c->kind == TBL_MASK) {
        long len = -1;
        for (int f = 0; f < 7; f++) {
            json_t *a = json_object_get (o, mask_fields[f]);
            long l = a && !json_is_null (a) ? (json_is_array (a) ? (long) json_array_size (a) : -2) : 0;
            if (l == -2 || (len >= 0 && l != len))
                return omr_err_set (err, OMR_E_VALIDATION, 400, "Columns don't match (mask column %s)", c->name);
            len = l;
        }
        json_t *b = json_object_get (o, "bytes");
        long bl = b && !json_is_null (b) ? (json_is_array (b) ? (long) json_array_size (b) : -2) : 0;
        if (bl != len)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Columns don't match (mask column %s)", c->name);
        return len;
    }
    json_t *v = json_object_get (o, "values");
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_array (v))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "values of column %s must be an array", c->name);
    return (long) json_array_size (v);
}

static int encode_mask (const tbl_col_t *c, json_t *o, size_t row, unsigned char *dst, tbl_bytes_t *bytes, omr_err_t *err)
{
    tbl_mask_t m;
    memset (&m, 0, sizeof m);
    for (int f = 0; f < 7; f++) {
        json_t *v = json_array_get (json_object_get (o, mask_fields[f]), row);
        if (f < 3) {
            if (!json_is_integer (v))
                return omr_err_set (err, OMR_E_VALIDATION, 400, "Mask column %s: %s holds integers", c->name, mask_fields[f]);
            int64_t x = json_integer_value (v);
            if (f == 0)
                m.i = x;
            else if (x < INT32_MIN || x > INT32_MAX)
                return omr_err_set (err, OMR_E_VALIDATION, 400, "Mask column %s: %s out of range", c->name, mask_fields[f]);
            else if (f == 1)
                m.z = (int32_t) x;
            else
                m.t = (int32_t) x;
        } else {
            double d;
            if (json_to_double (v, &d) < 0)
                return omr_err_set (err, OMR_E_VALIDATION, 400, "Mask column %s: %s holds numbers", c->name, mask_fields[f]);
            if (f == 3) m.x = d; else if (f == 4) m.y = d; else if (f == 5) m.w = d; else m.h = d;
        }
    }
    if (dst)
        memcpy (dst, &m, sizeof m);
    json_t *b = json_array_get (json_object_get (o, "bytes"), row);
    size_t bl = json_is_array (b) ? json_array_size (b) : 0;
    if (b && !json_is_null (b) && !json_is_array (b))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "Mask column %s: bytes are arrays of 0..255", c->name);
    if (bytes) {
        bytes->len = bl;
        bytes->data = malloc (bl ? bl : 1);
    }
    for (size_t k = 0; k < bl; k++) {
        json_t *e = json_array_get (b, k);
        if (!json_is_integer (e) || json_integer_value (e) < -128 || json_integer_value (e) > 255)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Mask column %s: bytes are arrays of 0..255", c->name);
        if (bytes)
            bytes->data[k] = (unsigned char) (json_integer_value (e) & 0xFF);
    }
    return 0;
}

/* ---------------------------------------------------------------- Data building */

typedef struct {
    json_t **vals;         /* per requested column: JSON array of values (or mask object) */
    size_t n;
} data_out_t;

static json_t *mask_object (void)
{
    json_t *o = json_object ();
    for (int f = 0; f < 7; f++)
        json_object_set_new (o, mask_fields[f], json_array ());
    json_object_set_new (o, "bytes", json_array ());
    return o;
}

static void append_mask (json_t *o, const unsigned char *src)
{
    tbl_mask_t m;
    memcpy (&m, src, sizeof m);
    json_array_append_new (json_object_get (o, "imageId"), json_integer (m.i));
    json_array_append_new (json_object_get (o, "theZ"), json_integer (m.z));
    json_array_append_new (json_object_get (o, "theT"), json_integer (m.t));
    json_array_append_new (json_object_get (o, "x"), json_double (m.x));
    json_array_append_new (json_object_get (o, "y"), json_double (m.y));
    json_array_append_new (json_object_get (o, "w"), json_double (m.w));
    json_array_append_new (json_object_get (o, "h"), json_double (m.h));
}

/* Read columns `want` (any order, repeats allowed) of either rows [start, start+count) (rows == NULL)
 * or the listed rows, block by block, and build an omero.grid.Data object. */
static json_t *read_data (tbl_store_t *st, const size_t *want, size_t nwant, const int64_t *rows, int64_t start,
                          size_t count, const tbl_api_opts_t *opts, omr_err_t *err)
{
    size_t *uniq = calloc (nwant ? nwant : 1, sizeof (size_t)), nu = 0;
    size_t *pos = malloc ((nwant ? nwant : 1) * sizeof (size_t));
    for (size_t i = 0; i < nwant; i++) {
        size_t k;
        for (k = 0; k < nu && uniq[k] != want[i]; k++)
            ;
        if (k == nu)
            uniq[nu++] = want[i];
        pos[i] = k;
    }
    tbl_rowfmt_t fmt;
    json_t *result = NULL;
    if (tbl_rowfmt_init (&fmt, st, uniq, nu, err) < 0)
        goto out;
    json_t **vals = calloc (nu ? nu : 1, sizeof (json_t *));
    int has_mask = 0;
    for (size_t k = 0; k < nu; k++) {
        const tbl_col_t *c = tbl_store_col (st, uniq[k]);
        vals[k] = c->kind == TBL_MASK ? mask_object () : json_array ();
        has_mask |= c->kind == TBL_MASK;
    }
    json_t *rownums = json_array ();
    unsigned char *buf = malloc ((size_t) BLOCK_ROWS * (fmt.stride ? fmt.stride : 1));
    int64_t *blockrows = has_mask ? malloc (BLOCK_ROWS * sizeof (int64_t)) : NULL;
    tbl_bytes_t *mb = has_mask ? calloc (BLOCK_ROWS, sizeof (tbl_bytes_t)) : NULL;
    int rc = 0;
    for (size_t done = 0; done < count && rc == 0;) {
        size_t m = count - done < BLOCK_ROWS ? count - done : BLOCK_ROWS;
        rc = rows ? tbl_store_read_points (st, &fmt, rows + done, m, buf, err)
                  : tbl_store_read_range (st, &fmt, start + (int64_t) done, m, buf, err);
        if (rc < 0)
            break;
        for (size_t r = 0; r < m; r++)
            json_array_append_new (rownums, json_integer (rows ? rows[done + r] : start + (int64_t) (done + r)));
        if (has_mask) {
            for (size_t r = 0; r < m; r++)
                blockrows[r] = rows ? rows[done + r] : start + (int64_t) (done + r);
            if ((rc = tbl_store_read_masks (st, blockrows, m, mb, err)) < 0)
                break;
        }
        for (size_t k = 0; k < nu; k++) {
            const tbl_col_t *c = tbl_store_col (st, uniq[k]);
            for (size_t r = 0; r < m; r++) {
                const unsigned char *src = buf + r * fmt.stride + fmt.offsets[k];
                if (c->kind == TBL_MASK) {
                    append_mask (vals[k], src);
                    json_t *ba = json_array ();
                    for (size_t b = 0; b < mb[r].len; b++)
                        json_array_append_new (ba, json_integer (mb[r].data[b]));
                    json_array_append_new (json_object_get (vals[k], "bytes"), ba);
                } else
                    json_array_append_new (vals[k], decode_value (c, src));
            }
        }
        if (has_mask)
            tbl_bytes_free (mb, m);
        done += m;
    }
    free (buf);
    free (blockrows);
    free (mb);
    if (rc == 0) {
        result = json_object ();
        json_object_set_new (result, "lastModification", json_integer (tbl_store_mtime_ms (st)));
        if (!opts || !opts->omit_row_numbers)
            json_object_set (result, "rowNumbers", rownums);
        json_t *cols = json_array ();
        for (size_t i = 0; i < nwant; i++) {
            const tbl_col_t *c = tbl_store_col (st, want[i]);
            json_t *o = col_header (c);
            if (c->kind == TBL_MASK)
                json_object_update (o, vals[pos[i]]);
            else
                json_object_set (o, "values", vals[pos[i]]);
            json_array_append_new (cols, o);
        }
        json_object_set_new (result, "columns", cols);
    }
    json_decref (rownums);
    for (size_t k = 0; k < nu; k++)
        json_decref (vals[k]);
    free (vals);
    tbl_rowfmt_free (&fmt);
out:
    free (uniq);
    free (pos);
    return result;
}

/* ---------------------------------------------------------------- methods */

static tbl_store_t *open_read (const char *path, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_store_t *st = tbl_store_open (path, 0, 0, opt_timeout (opts), err);
    if (st && tbl_store_check_init (st, err) < 0) {
        tbl_store_close (st);
        return NULL;
    }
    return st;
}

static tbl_store_t *open_write (const char *path, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_store_t *st = tbl_store_open (path, 1, 0, opt_timeout (opts), err);
    if (st && tbl_store_check_init (st, err) < 0) {
        tbl_store_close (st);
        return NULL;
    }
    return st;
}

json_t *tbl_api_initialize (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_col_t *cols;
    size_t n;
    if (parse_col_defs (args ? json_object_get (args, "columns") : NULL, &cols, &n, err) < 0)
        return NULL;
    if (tbl_cols_validate (cols, n, err) < 0) {
        tbl_cols_free (cols, n);
        return NULL;
    }
    tbl_store_t *st = tbl_store_open (path, 1, 1, opt_timeout (opts), err);
    json_t *res = NULL;
    if (st && tbl_store_initialize (st, cols, n, err) == 0)
        res = json_null ();
    tbl_store_close (st);
    tbl_cols_free (cols, n);
    return res;
}

json_t *tbl_api_get_headers (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_store_t *st = open_read (path, opts, err);
    if (!st)
        return NULL;
    json_t *a = json_array ();
    for (size_t i = 0; i < tbl_store_ncols (st); i++)
        json_array_append_new (a, col_header (tbl_store_col (st, i)));
    tbl_store_close (st);
    return a;
}

json_t *tbl_api_get_number_of_rows (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_store_t *st = open_read (path, opts, err);
    if (!st)
        return NULL;
    json_t *r = json_integer (tbl_store_nrows (st));
    tbl_store_close (st);
    return r;
}

/* Check column numbers against the table width; empty gives "Columns not specified". */
static int check_cols (tbl_store_t *st, const int64_t *cols, size_t n, size_t **out, omr_err_t *err)
{
    if (n == 0)
        return omr_err_set (err, OMR_E_API, 400, "Columns not specified: []");
    int64_t mx = cols[0];
    for (size_t i = 0; i < n; i++) {
        if (cols[i] < 0)
            return omr_err_set (err, OMR_E_API, 400, "Column number must not be negative: %lld", (long long) cols[i]);
        if (cols[i] > mx)
            mx = cols[i];
    }
    if ((size_t) mx >= tbl_store_ncols (st))
        return omr_err_set (err, OMR_E_API, 400, "Column overflow: %lld >= %zu", (long long) mx, tbl_store_ncols (st));
    *out = malloc (n * sizeof (size_t));
    for (size_t i = 0; i < n; i++)
        (*out)[i] = (size_t) cols[i];
    return 0;
}

static int check_rows (tbl_store_t *st, const int64_t *rows, size_t n, omr_err_t *err)
{
    if (n == 0)
        return omr_err_set (err, OMR_E_API, 400, "Rows not specified: []");
    int64_t mx = rows[0];
    for (size_t i = 0; i < n; i++) {
        if (rows[i] < 0)
            return omr_err_set (err, OMR_E_API, 400, "Row number must not be negative: %lld", (long long) rows[i]);
        if (rows[i] > mx)
            mx = rows[i];
    }
    if (mx >= tbl_store_nrows (st))
        return omr_err_set (err, OMR_E_API, 400, "Row overflow: %lld >= %lld", (long long) mx, (long long) tbl_store_nrows (st));
    return 0;
}

json_t *tbl_api_read (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    int64_t *cn = NULL, start, stop;
    size_t ncn;
    if (arg_longs (args, "colNumbers", &cn, &ncn, err) < 0 || arg_int (args, "start", 0, &start, err) < 0
        || arg_int (args, "stop", 0, &stop, err) < 0) {
        free (cn);
        return NULL;
    }
    tbl_store_t *st = open_read (path, opts, err);
    json_t *res = NULL;
    size_t *cols = NULL;
    if (st && check_cols (st, cn, ncn, &cols, err) == 0) {
        /* OMERO turns (0, 0) into tbl.read(0, None), which PyTables reads as the first row only
         * (the documented quirk); otherwise Python slice semantics of tbl.read(start, stop) */
        int64_t nr = tbl_store_nrows (st);
        int first = start == 0 && stop == 0;
        int64_t s = start, e = first ? 1 : stop;
        if (s < 0) s += nr;
        if (e < 0) e += nr;
        if (s < 0) s = 0;
        if (e > nr) e = nr;
        if (s > nr) s = nr;
        if (e < s) e = s;
        res = read_data (st, cols, ncn, NULL, s, (size_t) (e - s), opts, err);
    }
    free (cols);
    free (cn);
    tbl_store_close (st);
    return res;
}

json_t *tbl_api_read_coordinates (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    int64_t *rows;
    size_t nr;
    if (arg_longs (args, "rowNumbers", &rows, &nr, err) < 0)
        return NULL;
    tbl_store_t *st = open_read (path, opts, err);
    json_t *res = NULL;
    if (st && check_rows (st, rows, nr, err) == 0) {
        size_t n = tbl_store_ncols (st);
        size_t *all = malloc (n * sizeof (size_t));
        for (size_t i = 0; i < n; i++)
            all[i] = i;
        res = read_data (st, all, n, rows, 0, nr, opts, err);
        free (all);
    }
    free (rows);
    tbl_store_close (st);
    return res;
}

json_t *tbl_api_slice (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    int64_t *cn = NULL, *rows = NULL;
    size_t ncn, nr;
    if (arg_longs (args, "colNumbers", &cn, &ncn, err) < 0 || arg_longs (args, "rowNumbers", &rows, &nr, err) < 0) {
        free (cn);
        return NULL;
    }
    tbl_store_t *st = open_read (path, opts, err);
    json_t *res = NULL;
    size_t *cols = NULL;
    if (st) {
        /* empty lists mean every column / every row */
        if (ncn == 0) {
            ncn = tbl_store_ncols (st);
            cn = realloc (cn, (ncn ? ncn : 1) * sizeof (int64_t));
            for (size_t i = 0; i < ncn; i++)
                cn[i] = (int64_t) i;
        }
        int allrows = nr == 0;
        int ok = check_cols (st, cn, ncn, &cols, err) == 0;
        if (ok && !allrows)
            ok = check_rows (st, rows, nr, err) == 0;
        if (ok)
            res = allrows ? read_data (st, cols, ncn, NULL, 0, (size_t) tbl_store_nrows (st), opts, err)
                          : read_data (st, cols, ncn, rows, 0, nr, opts, err);
    }
    free (cols);
    free (cn);
    free (rows);
    tbl_store_close (st);
    return res;
}

json_t *tbl_api_get_where_list (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    json_t *cond = args ? json_object_get (args, "condition") : NULL;
    json_t *vars = args ? json_object_get (args, "variables") : NULL;
    int64_t start, stop, step;
    if (!json_is_string (cond)) {
        omr_err_set (err, OMR_E_API, 400, "Bad condition: condition must be a string");
        return NULL;
    }
    if (vars && !json_is_null (vars) && !json_is_object (vars)) {
        omr_err_set (err, OMR_E_API, 400, "Bad condition: variables must be an object");
        return NULL;
    }
    if (arg_int (args, "start", 0, &start, err) < 0 || arg_int (args, "stop", 0, &stop, err) < 0
        || arg_int (args, "step", 0, &step, err) < 0)
        return NULL;
    tbl_store_t *st = open_read (path, opts, err);
    if (!st)
        return NULL;
    int64_t *rows;
    size_t n;
    json_t *res = NULL;
    if (tbl_where_list (st, json_string_value (cond), json_is_object (vars) ? vars : NULL, start, stop, step, &rows, &n, err) == 0) {
        res = json_array ();
        for (size_t i = 0; i < n; i++)
            json_array_append_new (res, json_integer (rows[i]));
        free (rows);
    }
    tbl_store_close (st);
    return res;
}

/* Validate data columns against the table: positional (addData) or by name (update). Returns the
 * table column index of each data column in map. */
static int match_columns (tbl_store_t *st, json_t *cols, int by_name, size_t *map, long *len, omr_err_t *err)
{
    size_t n = json_array_size (cols);
    *len = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get (cols, i);
        if (!json_is_object (o))
            return omr_err_set (err, OMR_E_API, 400, "Column %zu is not an object", i);
        long ci = (long) i;
        if (by_name) {
            const char *name = json_string_value (json_object_get (o, "name"));
            ci = name ? tbl_store_find_col (st, name) : -1;
            if (ci < 0)
                return omr_err_set (err, OMR_E_API, 400, "Unknown column: %s", name ? name : "(unnamed)");
        }
        const tbl_col_t *c = tbl_store_col (st, (size_t) ci);
        const char *type = json_string_value (json_object_get (o, "type"));
        tbl_kind_t k;
        if (type && (tbl_kind_parse (type, &k) < 0 || k != c->kind))
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Column %s is a %s, not a %s", c->name, tbl_kind_name (c->kind), type);
        long l = col_length (c, o, err);
        if (l < 0)
            return -1;
        if (*len >= 0 && l != *len)
            return omr_err_set (err, OMR_E_VALIDATION, 400, "Columns are of differing length");
        *len = l;
        map[i] = (size_t) ci;
    }
    return 0;
}

/* Encode rows [r0, r0+m) of the data columns into buf laid out by fmt (fmt column k = data column k). */
static int encode_rows (tbl_store_t *st, json_t *cols, const tbl_rowfmt_t *fmt, size_t r0, size_t m,
                        unsigned char *buf, tbl_bytes_t *masks, omr_err_t *err)
{
    for (size_t k = 0; k < fmt->ncols; k++) {
        json_t *o = json_array_get (cols, k);
        const tbl_col_t *c = tbl_store_col (st, fmt->cols[k]);
        json_t *vals = json_object_get (o, "values");
        for (size_t r = 0; r < m; r++) {
            unsigned char *dst = buf ? buf + r * fmt->stride + fmt->offsets[k] : NULL;
            unsigned char scratch[64];
            int rc;
            if (c->kind == TBL_MASK)
                rc = encode_mask (c, o, r0 + r, dst, masks ? &masks[r] : NULL, err);
            else if (dst)
                rc = encode_value (c, json_array_get (vals, r0 + r), dst, err);
            else {
                size_t sz = tbl_col_value_size (c);
                unsigned char *tmp = sz <= sizeof scratch ? scratch : malloc (sz);
                rc = encode_value (c, json_array_get (vals, r0 + r), tmp, err);
                if (tmp != scratch)
                    free (tmp);
            }
            if (rc < 0)
                return -1;      /* OMERO's exact messages, without the row */
        }
    }
    return 0;
}

json_t *tbl_api_add_data (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    json_t *cols = args ? json_object_get (args, "columns") : NULL;
    if (!json_is_array (cols)) {
        omr_err_set (err, OMR_E_API, 400, "addData needs a columns array");
        return NULL;
    }
    tbl_store_t *st = open_write (path, opts, err);
    if (!st)
        return NULL;
    json_t *res = NULL;
    size_t nc = json_array_size (cols);
    size_t *map = calloc (nc ? nc : 1, sizeof (size_t));
    long len = 0;
    tbl_rowfmt_t fmt = { 0 };
    unsigned char *buf = NULL;
    tbl_bytes_t *masks = NULL;
    int mask_col = -1;
    if (nc != tbl_store_ncols (st)) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "addData needs %zu columns, got %zu", tbl_store_ncols (st), nc);
        goto out;
    }
    if (match_columns (st, cols, 0, map, &len, err) < 0 || tbl_rowfmt_init (&fmt, st, map, nc, err) < 0)
        goto out;
    for (size_t k = 0; k < nc; k++)
        if (tbl_store_col (st, k)->kind == TBL_MASK)
            mask_col = (int) k;
    /* validation pass: nothing is written unless every value is acceptable */
    if (encode_rows (st, cols, &fmt, 0, (size_t) len, NULL, NULL, err) < 0)
        goto out;
    if (len == 0) {
        res = json_null ();
        goto out;
    }
    size_t block = BLOCK_ROWS;
    buf = malloc (block * (fmt.stride ? fmt.stride : 1));
    masks = mask_col >= 0 ? calloc (block, sizeof (tbl_bytes_t)) : NULL;
    if (tbl_store_append_begin (st, (size_t) len, err) < 0)
        goto out;
    for (size_t at = 0; at < (size_t) len;) {
        size_t m = (size_t) len - at < block ? (size_t) len - at : block;
        int rc = encode_rows (st, cols, &fmt, at, m, buf, masks, err);
        if (rc == 0)
            rc = tbl_store_append_rows (st, &fmt, at, m, buf, err);
        if (rc == 0 && masks)
            rc = tbl_store_append_masks (st, at, m, masks, err);
        if (masks)
            tbl_bytes_free (masks, m), memset (masks, 0, m * sizeof *masks);
        if (rc < 0) {
            tbl_store_append_abort (st);
            goto out;
        }
        at += m;
    }
    if (tbl_store_append_commit (st, err) == 0)
        res = json_null ();
out:
    free (buf);
    free (masks);
    free (map);
    tbl_rowfmt_free (&fmt);
    tbl_store_close (st);
    return res;
}

json_t *tbl_api_update (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    json_t *data = args ? json_object_get (args, "data") : NULL;
    if (!data || json_is_null (data))
        return json_null ();     /* OMERO: update(None) does nothing */
    json_t *cols = json_object_get (data, "columns");
    int64_t *rows = NULL;
    size_t nr;
    if (!json_is_object (data) || !json_is_array (cols)) {
        omr_err_set (err, OMR_E_API, 400, "update needs data with rowNumbers and columns");
        return NULL;
    }
    if (arg_longs (data, "rowNumbers", &rows, &nr, err) < 0)
        return NULL;
    tbl_store_t *st = open_write (path, opts, err);
    if (!st) {
        free (rows);
        return NULL;
    }
    json_t *res = NULL;
    size_t nc = json_array_size (cols);
    size_t *map = calloc (nc ? nc : 1, sizeof (size_t));
    long len;
    tbl_rowfmt_t fmt = { 0 };
    unsigned char *buf = NULL;
    if (match_columns (st, cols, 1, map, &len, err) < 0)
        goto out;
    if (nc == 0 || nr == 0) {
        res = json_null ();
        goto out;
    }
    if ((size_t) len != nr) {
        omr_err_set (err, OMR_E_VALIDATION, 400, "update: %zu row numbers but columns hold %ld values", nr, len);
        goto out;
    }
    for (size_t k = 0; k < nc; k++)
        if (tbl_store_col (st, map[k])->kind == TBL_MASK) {
            omr_err_set (err, OMR_E_API, 400, "update of MaskColumn %s is not supported", tbl_store_col (st, map[k])->name);
            goto out;
        }
    if (check_rows (st, rows, nr, err) < 0 || tbl_rowfmt_init (&fmt, st, map, nc, err) < 0)
        goto out;
    buf = malloc (nr * (fmt.stride ? fmt.stride : 1));
    if (!buf) {
        omr_err_set (err, OMR_E_INTERNAL, 500, "Out of memory");
        goto out;
    }
    if (encode_rows (st, cols, &fmt, 0, nr, buf, NULL, err) < 0)
        goto out;
    if (tbl_store_write_points (st, &fmt, rows, nr, buf, err) == 0)
        res = json_null ();
out:
    free (buf);
    free (map);
    free (rows);
    tbl_rowfmt_free (&fmt);
    tbl_store_close (st);
    return res;
}

static json_t *meta_json (const tbl_meta_t *m)
{
    if (m->type == TBL_META_STR)
        return json_bytes_string (m->s, strlen (m->s));
    if (m->type == TBL_META_INT)
        return json_integer (m->i);
    return json_double (m->f);
}

json_t *tbl_api_get_all_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    tbl_store_t *st = open_read (path, opts, err);
    if (!st)
        return NULL;
    tbl_meta_t *m;
    size_t n;
    json_t *res = NULL;
    if (tbl_store_meta_list (st, &m, &n, err) == 0) {
        res = json_object ();
        for (size_t i = 0; i < n; i++)
            json_object_set_new (res, m[i].key, meta_json (&m[i]));
        tbl_meta_free (m, n);
    }
    tbl_store_close (st);
    return res;
}

json_t *tbl_api_get_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    const char *key = args ? json_string_value (json_object_get (args, "key")) : NULL;
    if (!key) {
        omr_err_set (err, OMR_E_API, 400, "getMetadata needs a key");
        return NULL;
    }
    json_t *all = tbl_api_get_all_metadata (path, args, opts, err);
    if (!all)
        return NULL;
    json_t *v = json_object_get (all, key);
    json_t *res = v ? json_incref (v) : json_null ();
    json_decref (all);
    return res;
}

/* JSON value -> metadata entry (str, int64 or float64 only). */
static int meta_from_json (const char *key, json_t *v, tbl_meta_t *m, omr_err_t *err)
{
    memset (m, 0, sizeof *m);
    m->key = (char *) key;
    if (json_is_string (v)) {
        m->type = TBL_META_STR;
        m->s = (char *) json_string_value (v);
    } else if (json_is_integer (v)) {
        m->type = TBL_META_INT;
        m->i = json_integer_value (v);
    } else if (json_is_real (v)) {
        m->type = TBL_META_FLOAT;
        m->f = json_real_value (v);
    } else
        return omr_err_set (err, OMR_E_VALIDATION, 400, "Unsupported type for metadata %s (string, integer or float)", key);
    return 0;
}

static json_t *write_meta (const char *path, json_t *obj, int replace, const tbl_api_opts_t *opts, omr_err_t *err)
{
    size_t n = json_object_size (obj), i = 0;
    tbl_meta_t *m = calloc (n ? n : 1, sizeof *m);
    const char *key;
    json_t *v;
    json_object_foreach (obj, key, v) {
        if (meta_from_json (key, v, &m[i++], err) < 0) {
            free (m);
            return NULL;
        }
    }
    tbl_store_t *st = open_write (path, opts, err);
    json_t *res = NULL;
    if (st && tbl_store_meta_write (st, m, n, replace, err) == 0)
        res = json_null ();
    tbl_store_close (st);
    free (m);
    return res;
}

json_t *tbl_api_set_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    const char *key = args ? json_string_value (json_object_get (args, "key")) : NULL;
    json_t *v = args ? json_object_get (args, "value") : NULL;
    if (!key) {
        omr_err_set (err, OMR_E_API, 400, "setMetadata needs a key");
        return NULL;
    }
    json_t *obj = json_object ();
    json_object_set (obj, key, v ? v : json_null ());
    json_t *res = write_meta (path, obj, 0, opts, err);
    json_decref (obj);
    return res;
}

json_t *tbl_api_set_all_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    json_t *obj = args ? json_object_get (args, "metadata") : NULL;
    if (!json_is_object (obj)) {
        omr_err_set (err, OMR_E_API, 400, "setAllMetadata needs a metadata object");
        return NULL;
    }
    return write_meta (path, obj, 1, opts, err);
}

json_t *tbl_api_delete (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    /* the exclusive lock makes sure no reader or writer is inside the file */
    tbl_store_t *st = tbl_store_open (path, 1, 0, opt_timeout (opts), err);
    if (!st)
        return NULL;
    json_t *res = NULL;
    if (unlink (path) != 0)
        omr_err_set (err, OMR_E_RESOURCE, 500, "Cannot delete %s", path);
    else
        res = json_null ();
    tbl_store_close (st);
    return res;
}

static const tbl_api_method_t methods[] = {
    { "initialize", tbl_api_initialize, 1 },
    { "addData", tbl_api_add_data, 1 },
    { "getHeaders", tbl_api_get_headers, 0 },
    { "getNumberOfRows", tbl_api_get_number_of_rows, 0 },
    { "read", tbl_api_read, 0 },
    { "readCoordinates", tbl_api_read_coordinates, 0 },
    { "slice", tbl_api_slice, 0 },
    { "getWhereList", tbl_api_get_where_list, 0 },
    { "update", tbl_api_update, 1 },
    { "getMetadata", tbl_api_get_metadata, 0 },
    { "getAllMetadata", tbl_api_get_all_metadata, 0 },
    { "setMetadata", tbl_api_set_metadata, 1 },
    { "setAllMetadata", tbl_api_set_all_metadata, 1 },
    { "delete", tbl_api_delete, 1 },
};

const tbl_api_method_t *tbl_api_methods (size_t *n)
{
    *n = sizeof methods / sizeof methods[0];
    return methods;
}

const tbl_api_method_t *tbl_api_find (const char *name)
{
    for (size_t i = 0; name && i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp (methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

json_t *tbl_api_call (const char *path, const char *method, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err)
{
    const tbl_api_method_t *m = tbl_api_find (method);
    if (!m) {
        omr_err_set (err, OMR_E_API, 400, "Unknown Table method: %s", method ? method : "(none)");
        return NULL;
    }
    if (args && !json_is_object (args) && !json_is_null (args)) {
        omr_err_set (err, OMR_E_API, 400, "Arguments of %s must be a JSON object", method);
        return NULL;
    }
    omr_err_clear (err);
    return m->fn (path, json_is_object (args) ? args : NULL, opts, err);
}
