/* table_web: OMERO.web's /webgateway/table/ URLs (see table_web.h), built from the Table API
 * calls OMERO.web itself makes (getHeaders, getNumberOfRows, getWhereList, slice). */
#include "table_web.h"
#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OMERO.web reads the hits in batches of this many rows. */
#define BATCH 1000

static json_t *
web_error (int *status, int code, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static json_t *
web_error (int *status, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    *status = code;
    return json_pack ("{s:s}", "error", msg);
}

/* An API error as a web error: the table's exception decides the status. */
static json_t *
api_error (int *status, const omr_err_t *err)
{
    int code = err->status >= 400 && err->status < 600 ? err->status : 500;
    return web_error (status, code, "%s", err->msg);
}

int
tbl_web_parse_path (const char *path, int64_t *fileid, char kind[16])
{
    static const char prefix[] = "/webgateway/table/";
    if (!path || strncmp (path, prefix, sizeof prefix - 1))
        return -1;
    const char *p = path + sizeof prefix - 1;
    if (!isdigit ((unsigned char) *p))
        return -1;
    errno = 0;
    char *end;
    long long id = strtoll (p, &end, 10);
    if (errno || *end != '/' || id <= 0)
        return -1;
    p = end + 1;
    size_t n = strcspn (p, "/");
    if ((n == 5 && !strncmp (p, "query", 5)) || (n == 8 && !strncmp (p, "metadata", 8))) {
        if (p[n] && strcmp (p + n, "/"))
            return -1;
        snprintf (kind, 16, "%.*s", (int) n, p);
        *fileid = id;
        return 0;
    }
    return -1;
}

static bool
is_ident (const char *s, size_t n)
{
    if (!n || !(isalpha ((unsigned char) s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) s[i]) && s[i] != '_')
            return false;
    return true;
}

int
tbl_web_parse_object_path (const char *path, char *objtype, size_t len, int64_t *objid)
{
    static const char prefix[] = "/webgateway/table/";
    if (!path || strncmp (path, prefix, sizeof prefix - 1))
        return -1;
    const char *t = path + sizeof prefix - 1;
    const char *slash = strchr (t, '/');
    if (!slash || (size_t) (slash - t) >= len)
        return -1;
    /* identifiers separated by single dots: nothing of the URL but names reaches the HQL */
    for (const char *p = t; p < slash;) {
        const char *e = memchr (p, '.', (size_t) (slash - p));
        if (!e)
            e = slash;
        if (!is_ident (p, (size_t) (e - p)))
            return -1;
        p = e < slash ? e + 1 : e;
        if (e < slash && p == slash)
            return -1;
    }
    const char *idp = slash + 1;
    if (!isdigit ((unsigned char) *idp))
        return -1;
    errno = 0;
    char *end;
    long long id = strtoll (idp, &end, 10);
    if (errno || id < 0 || (strcmp (end, "/query/") && strcmp (end, "/query")))
        return -1;
    snprintf (objtype, len, "%.*s", (int) (slash - t), t);
    *objid = id;
    return 0;
}

int
tbl_web_bulk_hql (const char *objtype, char **exists, char **links)
{
    /* "A.b.c" -> "from A obj0 join obj0.b obj1 join obj1.c obj2", the object is obj2 */
    char from[1024], tmp[1024];
    const char *dot = strchr (objtype, '.');
    snprintf (from, sizeof from, "from %.*s obj0", (int) (dot ? dot - objtype : (long) strlen (objtype)), objtype);
    int n = 0;
    while (dot) {
        const char *p = dot + 1;
        dot = strchr (p, '.');
        snprintf (tmp, sizeof tmp, "%s join obj%d.%.*s obj%d", from, n, (int) (dot ? dot - p : (long) strlen (p)), p,
                  n + 1);
        snprintf (from, sizeof from, "%s", tmp);
        n++;
    }
    *exists = *links = NULL;
    if (asprintf (exists, "select obj0.id %s where obj%d.id = :id", from, n) < 0) {
        *exists = NULL;
        return -1;
    }
    if (asprintf (links,
                  "select obj0.id, links.child.id, links.details.owner.firstName, links.details.owner.lastName, "
                  "links.details.creationEvent.time %s join obj0.annotationLinks links where obj%d.id = :id "
                  "order by links.id",
                  from, n) < 0) {
        free (*exists);
        *exists = *links = NULL;
        return -1;
    }
    return 0;
}

/* A non-negative integer parameter; -1 when malformed. */
static long long
nonneg (const char *s)
{
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll (s, &end, 10);
    return errno || *end || v < 0 ? -1 : v;
}

/* Column type without the Ice prefix ("LongColumn"). */
static const char *
short_type (const json_t *col)
{
    const char *t = json_string_value (json_object_get (col, "type"));
    if (!t)
        return "";
    const char *c = strrchr (t, ':');
    return c ? c + 1 : t;
}

/* The value of one row of a read column: values[row], or for a MaskColumn an object of its
 * parallel arrays. */
static json_t *
cell (const json_t *col, size_t row)
{
    json_t *vals = json_object_get (col, "values");
    if (vals)
        return json_incref (json_array_get (vals, row));
    static const char *fields[] = {"imageId", "theZ", "theT", "x", "y", "w", "h", "bytes"};
    json_t *o = json_object ();
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        json_t *v = json_array_get (json_object_get (col, fields[i]), row);
        json_object_set (o, fields[i], v ? v : json_null ());
    }
    return o;
}

json_t *
tbl_web_query (const char *path, const char *qs, const tbl_api_opts_t *opts, int *status)
{
    struct evkeyvalq params;
    memset (&params, 0, sizeof params);  /* evhttp_parse_query_str initialises it */
    if (evhttp_parse_query_str (qs ? qs : "", &params) < 0)
        return web_error (status, 400, "The query string is malformed");
    json_t *out = NULL, *headers = NULL, *hits = NULL, *names = json_array (), *types = json_array (),
           *idx = json_array (), *rows = json_array ();
    omr_err_t err = {0};
    const char *query = evhttp_find_header (&params, "query");
    const char *off_s = evhttp_find_header (&params, "offset"), *lim_s = evhttp_find_header (&params, "limit");
    long long offset = off_s ? nonneg (off_s) : 0, limit = lim_s ? nonneg (lim_s) : -1;
    if (!query || !*query) {
        out = web_error (status, 400, "Must specify query parameter, use * to retrieve all");
        goto done;
    }
    if (offset < 0 || (lim_s && limit < 0)) {
        out = web_error (status, 400, "offset and limit must be non-negative integers");
        goto done;
    }
    headers = tbl_api_get_headers (path, NULL, opts, &err);
    json_t *nr = headers ? tbl_api_get_number_of_rows (path, NULL, opts, &err) : NULL;
    if (!nr) {
        out = api_error (status, &err);
        goto done;
    }
    long long nrows = json_integer_value (nr);
    json_decref (nr);
    /* columns: all, or those named by col_names in the order named */
    bool picked = false;
    for (struct evkeyval *kv = params.tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcmp (kv->key, "col_names"))
            continue;
        picked = true;
        size_t i;
        json_t *h;
        json_array_foreach (headers, i, h)
            if (!strcmp (json_string_value (json_object_get (h, "name")), kv->value)) {
                json_array_append_new (idx, json_integer ((json_int_t) i));
                break;
            }
    }
    if (!picked)
        for (size_t i = 0; i < json_array_size (headers); i++)
            json_array_append_new (idx, json_integer ((json_int_t) i));
    size_t k;
    json_t *v;
    json_array_foreach (idx, k, v) {
        json_t *h = json_array_get (headers, (size_t) json_integer_value (v));
        json_array_append_new (names, json_string (json_string_value (json_object_get (h, "name"))));
        json_array_append_new (types, json_string (short_type (h)));
    }
    long long total, first, last;   /* hits[first:last] are returned */
    if (!strcmp (query, "*")) {
        total = nrows;
        hits = NULL;
    }
    else {
        char cond[4096];
        size_t w = 0;
        while (query[w] && (isalnum ((unsigned char) query[w]) || query[w] == '_'))
            w++;
        size_t d = w + 1;
        while (w && query[w] == '-' && isdigit ((unsigned char) query[d]))
            d++;
        if (w && query[w] == '-' && d > w + 1)
            snprintf (cond, sizeof cond, "(%.*s==%.*s)", (int) w, query, (int) (d - w - 1), query + w + 1);
        else
            snprintf (cond, sizeof cond, "%s", query);
        json_t *args = json_pack ("{s:s, s:{}, s:I, s:I, s:i}", "condition", cond, "variables", "start", (json_int_t) 0,
                                  "stop", (json_int_t) nrows, "step", 1);
        hits = tbl_api_get_where_list (path, args, opts, &err);
        json_decref (args);
        if (!hits) {
            if (!strcmp (err.name, OMR_E_API) || !strcmp (err.name, OMR_E_VALIDATION))
                out = web_error (status, 400, "Error executing query: %s (%s)", query, err.msg);
            else
                out = api_error (status, &err);
            goto done;
        }
        total = (long long) json_array_size (hits);
    }
    first = offset < total ? offset : total;
    last = limit >= 0 && limit < total - first ? first + limit : total;
    if (!json_array_size (idx))     /* col_names matched nothing: empty rows, as OMERO.web */
        for (long long r = first; r < last; r++)
            json_array_append_new (rows, json_array ());
    for (long long b = first; b < last && json_array_size (idx); b += BATCH) {
        long long e = b + BATCH < last ? b + BATCH : last;
        json_t *rn = json_array ();
        for (long long r = b; r < e; r++)
            json_array_append_new (rn, hits ? json_incref (json_array_get (hits, (size_t) r)) : json_integer (r));
        json_t *args = json_pack ("{s:O, s:o}", "colNumbers", idx, "rowNumbers", rn);
        json_t *data = tbl_api_slice (path, args, opts, &err);
        json_decref (args);
        if (!data) {
            out = api_error (status, &err);
            goto done;
        }
        json_t *cols = json_object_get (data, "columns");
        for (long long r = 0; r < e - b; r++) {
            json_t *row = json_array ();
            json_t *c;
            json_array_foreach (cols, k, c)
                json_array_append_new (row, cell (c, (size_t) r));
            json_array_append_new (rows, row);
        }
        json_decref (data);
    }
    *status = 200;
    out = json_pack ("{s:{s:O, s:O, s:O}, s:{s:I, s:I, s:o, s:I}}", "data", "column_types", types, "columns", names,
                     "rows", rows, "meta", "rowCount", (json_int_t) nrows, "totalCount", (json_int_t) total, "limit",
                     lim_s ? json_integer ((json_int_t) limit) : json_null (), "offset", (json_int_t) offset);
done:
    evhttp_clear_headers (&params);
    json_decref (headers);
    json_decref (hits);
    json_decref (names);
    json_decref (types);
    json_decref (idx);
    json_decref (rows);
    return out;
}

json_t *
tbl_web_metadata (const char *path, const tbl_api_opts_t *opts, int *status)
{
    omr_err_t err = {0};
    json_t *headers = tbl_api_get_headers (path, NULL, opts, &err);
    json_t *nr = headers ? tbl_api_get_number_of_rows (path, NULL, opts, &err) : NULL;
    json_t *meta = nr ? tbl_api_get_all_metadata (path, NULL, opts, &err) : NULL;
    if (!meta) {
        json_decref (headers);
        json_decref (nr);
        return api_error (status, &err);
    }
    json_t *cols = json_array ();
    size_t i;
    json_t *h;
    json_array_foreach (headers, i, h) {
        const char *desc = json_string_value (json_object_get (h, "description"));
        json_array_append_new (cols, json_pack ("{s:s, s:s, s:s}", "name", json_string_value (json_object_get (h, "name")),
                                                "description", desc ? desc : "", "type", short_type (h)));
    }
    /* internal attributes (__version, __initialized) are not user metadata */
    json_t *user = json_object ();
    const char *key;
    json_t *v;
    json_object_foreach (meta, key, v)
        if (strncmp (key, "__", 2))
            json_object_set (user, key, v);
    json_t *out = json_pack ("{s:o, s:O, s:o}", "columns", cols, "totalCount", nr, "user_metadata", user);
    json_decref (headers);
    json_decref (nr);
    json_decref (meta);
    *status = 200;
    return out;
}
