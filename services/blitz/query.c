/* query: IQuery over the HQL translator and row-level security (see query.h). */
#include "query.h"
#include "model_json.h"
#include "omr_log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ----------------------------------------------------------------------------- */

/* Unwrap rtype-like values ({"@type": "rlong", "value": 1}) and objects given by id. */
static const json_t *
unwrap (const json_t *v)
{
    if (json_is_object (v)) {
        json_t *x = json_object_get (v, "@id");     /* a model object stands for its id */
        if (!x)
            x = json_object_get (v, "value");
        if (!x)
            x = json_object_get (v, "_val");
        if (x)
            return x;
    }
    return v;
}

/* Append text to a growing buffer. */
static void
put (char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc (*buf, *cap);
    }
    memcpy (*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Text of a scalar parameter value (NULL for JSON null); -1 when not a scalar. */
static int
scalar_text (const json_t *v, char **out)
{
    char b[64];
    v = unwrap (v);
    *out = NULL;
    if (json_is_null (v))
        return 0;
    if (json_is_string (v)) {
        *out = strdup (json_string_value (v));
        return 0;
    }
    if (json_is_integer (v))
        snprintf (b, sizeof b, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v))
        snprintf (b, sizeof b, "%.17g", json_real_value (v));
    else if (json_is_boolean (v))
        snprintf (b, sizeof b, "%s", json_is_true (v) ? "true" : "false");
    else
        return -1;
    *out = strdup (b);
    return 0;
}

/* A PostgreSQL array literal of a JSON list ('{1,2}', '{"a","b\"c"}'). */
static int
array_text (const json_t *v, char **out)
{
    size_t len = 0, cap = 64;
    char *buf = malloc (cap);
    buf[0] = 0;
    put (&buf, &len, &cap, "{", 1);
    size_t i;
    json_t *e;
    json_array_foreach (v, i, e) {
        char *s;
        if (scalar_text (e, &s) < 0) {
            free (buf);
            return -1;
        }
        if (i)
            put (&buf, &len, &cap, ",", 1);
        if (!s) {
            put (&buf, &len, &cap, "NULL", 4);
            continue;
        }
        put (&buf, &len, &cap, "\"", 1);
        for (const char *p = s; *p; p++) {
            if (*p == '"' || *p == '\\')
                put (&buf, &len, &cap, "\\", 1);
            put (&buf, &len, &cap, p, 1);
        }
        put (&buf, &len, &cap, "\"", 1);
        free (s);
    }
    put (&buf, &len, &cap, "}", 1);
    *out = buf;
    return 0;
}

/* The parameter values of a translated query, in order ($1..$n). */
static char **
bind_params (const hql_query_t *q, const json_t *params, omr_err_t *err)
{
    char **values = calloc (q->nparams + 1, sizeof *values);
    for (int k = 0; k < q->nparams; k++) {
        const hql_param_t *p = &q->params[k];
        if (!p->name) {
            values[k] = strdup (p->literal ? p->literal : "");
            continue;
        }
        json_t *v = json_object_get (params, p->name);
        if (!v) {
            omr_err_set (err, OMR_E_QUERY, 400, "parameter :%s is not set (give it in \"params\")", p->name);
            goto fail;
        }
        const json_t *u = unwrap (v);
        int rc;
        if (p->is_list) {
            if (json_is_array (u)) {
                if (json_array_size (u) == 0) {
                    omr_err_set (err, OMR_E_QUERY, 400, "list parameter :%s is empty", p->name);
                    goto fail;
                }
                rc = array_text (u, &values[k]);
            } else {
                json_t *one = json_pack ("[O]", (json_t *) u);
                rc = array_text (one, &values[k]);
                json_decref (one);
            }
        } else {
            if (json_is_array (u)) {
                omr_err_set (err, OMR_E_QUERY, 400, "parameter :%s is a list but the query uses it as one value "
                             "(write \"in (:%s)\")", p->name, p->name);
                goto fail;
            }
            rc = scalar_text (u, &values[k]);
        }
        if (rc < 0) {
            omr_err_set (err, OMR_E_QUERY, 400, "parameter :%s must be a number, string, boolean or list", p->name);
            goto fail;
        }
    }
    return values;
fail:
    for (int k = 0; k < q->nparams; k++)
        free (values[k]);
    free (values);
    return NULL;
}

static void
free_values (char **values, int n)
{
    if (!values)
        return;
    for (int k = 0; k < n; k++)
        free (values[k]);
    free (values);
}

/* A PostgreSQL error while running a translated query: type and name errors of the query
 * (SQLSTATE classes 42 and 22) are the caller's QueryException. */
static int
run_error (PGresult *res, PGconn *conn, omr_err_t *err)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char text[768];
    snprintf (text, sizeof text, "%s", msg && *msg ? msg : PQerrorMessage (conn));
    text[strcspn (text, "\n")] = 0;
    if (state && (!strncmp (state, "42", 2) || !strncmp (state, "22", 2)))
        return omr_err_set (err, OMR_E_QUERY, 400, "query failed: %s", text);
    if (state && !strcmp (state, "57014"))
        return omr_err_set (err, OMR_E_QUERY, 400, "query cancelled (omero.query.timeout): %s", text);
    if (PQstatus (conn) != CONNECTION_OK)
        return omr_err_set (err, OMR_E_UNAVAIL, 503, "database connection lost: %s", text);
    return omr_err_set (err, OMR_E_INTERNAL, 500, "database error: %s", text);
}

/* Whether a query fetches a collection (rows repeat their parent: page on distinct results). */
static bool
fetches_collection (const hql_query_t *q)
{
    for (int o = 0; o < q->nobjects; o++)
        if (q->objects[o].via && q->objects[o].via->kind == OMR_FIELD_COLLECTION)
            return true;
    return false;
}

json_t *
blz_query_run (blz_db_t *db, const char *hql, const json_t *params, long offset, long limit, unsigned flags,
               omr_err_t *err)
{
    bool rows = (flags & BLZ_MJ_ROWS) != 0;
    if (!hql || !*hql) {
        omr_err_set (err, OMR_E_API, 400, "no query given (\"query\")");
        return NULL;
    }
    hql_query_t *q = hql_translate_ex (hql, HQL_WITH_PERMISSIONS, err);
    if (!q)
        return NULL;
    if (!rows && !q->object_query)
        rows = true;    /* "select p.name from Project p" through findAllByQuery: rows of values */
    char **values = bind_params (q, params, err);
    if (!values) {
        hql_query_destroy (&q);
        return NULL;
    }
    bool page_in_sql = rows || !fetches_collection (q);
    size_t sl = strlen (q->sql) + 64;
    char *sql = malloc (sl);
    if (page_in_sql && (limit >= 0 || offset > 0)) {
        size_t n = (size_t) snprintf (sql, sl, "%s", q->sql);
        if (limit >= 0)
            n += (size_t) snprintf (sql + n, sl - n, " LIMIT %ld", limit);
        if (offset > 0)
            snprintf (sql + n, sl - n, " OFFSET %ld", offset);
    } else
        snprintf (sql, sl, "%s", q->sql);
    PGconn *conn = blz_db_conn (db);
    PGresult *res = conn ? PQexecParams (conn, sql, q->nparams, NULL, (const char *const *) values, NULL, NULL, 0) : NULL;
    free (sql);
    free_values (values, q->nparams);
    json_t *out = NULL;
    if (!conn)
        omr_err_set (err, OMR_E_UNAVAIL, 503, "no database connection");
    else if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        run_error (res, conn, err);
        omr_debug ("query failed: %s", hql);
    } else
        out = blz_mj_encode (db, q, res, rows ? flags | BLZ_MJ_ROWS : flags, page_in_sql ? 0 : offset,
                             page_in_sql ? -1 : limit, err);
    PQclear (res);
    hql_query_destroy (&q);
    return out;
}

json_t *
blz_query_load (blz_db_t *db, const omr_type_t *t, int64_t id, omr_err_t *err)
{
    char hql[200];
    snprintf (hql, sizeof hql, "select x from %s x where x.id = :id", t->name);
    json_t *params = json_pack ("{s:I}", "id", (json_int_t) id);
    json_t *arr = blz_query_run (db, hql, params, 0, -1, 0, err);
    json_decref (params);
    if (!arr)
        return NULL;
    json_t *o = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    return o;
}

/* ---- operations ----------------------------------------------------------------------------- */

int
blz_query_group_context (const json_t *body, blz_ctx_t *ctx, omr_err_t *err)
{
    json_t *g = json_object_get (body, "group");
    if (!g)
        g = json_object_get (body, "omero.group");
    json_t *c = json_object_get (body, "ctx");
    if (!c)
        c = json_object_get (body, "context");
    if (!g && json_is_object (c))
        g = json_object_get (c, "omero.group");
    if (!g || json_is_null (g))
        return 0;
    int64_t gid;
    if (json_is_integer (g))
        gid = json_integer_value (g);
    else if (json_is_string (g) && *json_string_value (g)) {
        char *end;
        gid = strtoll (json_string_value (g), &end, 10);
        if (*end)
            return omr_err_set (err, OMR_E_API, 400, "the group context must be a group id (-1 = all my groups)");
    } else
        return omr_err_set (err, OMR_E_API, 400, "the group context must be a group id (-1 = all my groups)");
    if (gid < -1)
        return omr_err_set (err, OMR_E_API, 400, "no group %lld", (long long) gid);
    if (gid >= 0 && !ctx->admin && !blz_ctx_member (ctx, gid))
        return omr_err_set (err, OMR_E_SECURITY, 403, "you are not a member of group %lld", (long long) gid);
    ctx->group_id = gid;
    return 0;
}

typedef struct {
    blz_app_t *app;
    blz_db_t *db;
    blz_ctx_t ctx;
    const json_t *body;
    const json_t *params;       /* name -> value */
    long offset, limit;
    bool unique;
    unsigned flags;             /* BLZ_MJ_NULLS, BLZ_MJ_MODEL_NAMES asked for */
} qop_t;

/* Read "params"/"parameters" (plain or omero.sys.Parameters) and the filter. */
static int
read_args (qop_t *op, omr_err_t *err)
{
    const json_t *b = op->body;
    json_t *p = json_object_get (b, "params");
    if (!p)
        p = json_object_get (b, "parameters");
    json_t *filter = json_object_get (b, "filter");
    if (json_is_object (p) && (json_object_get (p, "map") || json_object_get (p, "theFilter"))) {
        if (!filter)
            filter = json_object_get (p, "theFilter");
        p = json_object_get (p, "map");
    }
    if (p && !json_is_null (p) && !json_is_object (p))
        return omr_err_set (err, OMR_E_API, 400, "\"params\" must be an object of name -> value");
    op->params = p;
    op->offset = 0;
    op->limit = -1;
    const json_t *src[] = {filter, b};
    for (int i = 0; i < 2; i++) {
        if (!json_is_object (src[i]))
            continue;
        json_t *page = json_object_get (src[i], "page");
        const json_t *f = json_is_object (page) ? page : src[i];
        int64_t off = blz_int (f, "offset", -2), lim = blz_int (f, "limit", -2);
        if (off != -2)
            op->offset = (long) off;
        if (lim != -2)
            op->limit = (long) lim;
        if (json_is_true (json_object_get (src[i], "unique")))
            op->unique = true;
        if (i == 0)
            break;
    }
    if (json_is_true (json_object_get (b, "nulls")))
        op->flags |= BLZ_MJ_NULLS;
    const char *names = blz_str (b, "fieldNames");
    if (names && !strcmp (names, "model"))
        op->flags |= BLZ_MJ_MODEL_NAMES;
    else if (names && strcmp (names, "json"))
        return omr_err_set (err, OMR_E_API, 400, "\"fieldNames\" is \"json\" (the default) or \"model\"");
    const char *times = blz_str (b, "timestamps");
    if (times && !strcmp (times, "objects"))
        op->flags |= BLZ_MJ_TIME_OBJECTS;
    else if (times && strcmp (times, "ms"))
        return omr_err_set (err, OMR_E_API, 400, "\"timestamps\" is \"ms\" (the default) or \"objects\"");
    if (op->offset < 0 || op->limit < -1)
        return omr_err_set (err, OMR_E_API, 400, "offset and limit must not be negative");
    return 0;
}

static const omr_type_t *
type_arg (qop_t *op, omr_err_t *err)
{
    const char *names[] = {"type", "class", "klass", "@type"};
    const char *s = NULL;
    for (size_t i = 0; i < 4 && !s; i++)
        s = blz_str (op->body, names[i]);
    if (!s) {
        omr_err_set (err, OMR_E_API, 400, "which type? give \"type\" (e.g. \"Project\")");
        return NULL;
    }
    const omr_type_t *t = blz_mj_type (s);
    if (!t)
        omr_err_set (err, OMR_E_API, 400, "unknown type '%s'", s);
    return t;
}

static int64_t
id_arg (qop_t *op, omr_err_t *err)
{
    int64_t id = blz_int (op->body, "id", -1);
    if (id < 0)
        id = blz_int (op->body, "@id", -1);
    if (id < 0)
        omr_err_set (err, OMR_E_API, 400, "which object? give \"id\"");
    return id;
}

static json_t *
single (json_t *arr, omr_err_t *err)
{
    if (json_array_size (arr) > 1) {
        json_decref (arr);
        omr_err_set (err, OMR_E_API, 400, "the query returned more than one result");
        return NULL;
    }
    json_t *o = json_array_size (arr) ? json_incref (json_array_get (arr, 0)) : json_null ();
    json_decref (arr);
    return o;
}

static json_t *
q_get (qop_t *op, bool must, omr_err_t *err)
{
    const omr_type_t *t = type_arg (op, err);
    int64_t id = t ? id_arg (op, err) : -1;
    if (!t || id < 0)
        return NULL;
    omr_err_clear (err);
    char hql[200];
    snprintf (hql, sizeof hql, "select x from %s x where x.id = :id", t->name);
    json_t *params = json_pack ("{s:I}", "id", (json_int_t) id);
    json_t *arr = blz_query_run (op->db, hql, params, 0, -1, op->flags, err);
    json_decref (params);
    if (!arr)
        return NULL;
    json_t *o = json_incref (json_array_get (arr, 0));
    json_decref (arr);
    if (!o && must) {
        char cls[160];
        blz_mj_class_name (t, cls, sizeof cls);
        omr_err_set (err, OMR_E_VALIDATION, 404, "No row with the given identifier exists: [%s#%lld]", cls,
                     (long long) id);
        return NULL;
    }
    return o ? o : json_null ();
}

static json_t *
q_find_all (qop_t *op, omr_err_t *err)
{
    const omr_type_t *t = type_arg (op, err);
    if (!t)
        return NULL;
    char hql[256];
    snprintf (hql, sizeof hql, "select x from %s x order by x.id", t->name);
    return blz_query_run (op->db, hql, NULL, op->offset, op->limit, op->flags, err);
}

/* findByString / findAllByString: objects whose string field equals a value. */
static json_t *
q_by_string (qop_t *op, omr_err_t *err)
{
    const omr_type_t *t = type_arg (op, err);
    if (!t)
        return NULL;
    const char *field = blz_str (op->body, "field"), *value = blz_str (op->body, "value");
    const omr_field_t *f = field ? hql_model_field (t, field) : NULL;
    if (!f || f->kind != OMR_FIELD_SCALAR || (f->scalar != OMR_SCALAR_STRING && f->scalar != OMR_SCALAR_TEXT))
        return omr_err_set (err, OMR_E_API, 400, "%s has no string field '%s'", t->name, field ? field : ""), NULL;
    if (!value)
        return omr_err_set (err, OMR_E_API, 400, "give the \"value\" to look for"), NULL;
    char hql[256];
    snprintf (hql, sizeof hql, "select x from %s x where x.%s = :value order by x.id", t->name, f->name);
    json_t *params = json_pack ("{s:s}", "value", value);
    json_t *r = blz_query_run (op->db, hql, params, op->offset, op->limit, op->flags, err);
    json_decref (params);
    return r;
}

typedef enum { Q_GET, Q_FIND, Q_FIND_ALL, Q_FIND_BY_QUERY, Q_FIND_ALL_BY_QUERY, Q_PROJECTION, Q_FIND_BY_STRING,
               Q_FIND_ALL_BY_STRING } qkind_t;

static const struct {
    const char *name;
    qkind_t kind;
} ops[] = {
    {"get", Q_GET}, {"find", Q_FIND}, {"findAll", Q_FIND_ALL}, {"findByQuery", Q_FIND_BY_QUERY},
    {"findAllByQuery", Q_FIND_ALL_BY_QUERY}, {"projection", Q_PROJECTION}, {"findByString", Q_FIND_BY_STRING},
    {"findAllByString", Q_FIND_ALL_BY_STRING},
};

static int
dispatch (omr_call_t *call, omr_err_t *err, void *arg)
{
    blz_app_t *app = arg;
    const char *method = strchr (omr_msg_op (call->req), '.') + 1;
    int kind = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp (ops[i].name, method))
            kind = (int) ops[i].kind;
    if (kind < 0)
        return omr_err_set (err, OMR_E_API, 404, "IQuery has no method %s", method);
    qop_t op = {.app = app, .db = blz_app_db (app, call), .body = call->req->body};
    if (blz_call_ctx (call, &op.ctx, err) < 0)
        return -1;
    if (!json_is_object (op.body))
        return omr_err_set (err, OMR_E_API, 400, "the arguments must be a JSON object");
    if (blz_query_group_context (op.body, &op.ctx, err) < 0 || read_args (&op, err) < 0)
        return -1;
    if (blz_db_begin (op.db, &op.ctx, err) < 0)
        return -1;
    /* OMERO's query timeout (seconds; administrators may have their own) */
    long long secs = omr_config_get_int (app->config, "omero.query.timeout", 1000);
    if (op.ctx.admin)
        secs = omr_config_get_int (app->config, "omero.query.timeout.admin", secs);
    char ms[32];
    snprintf (ms, sizeof ms, "%lld", secs > 0 ? secs * 1000 : 0);
    if (blz_db_exec (op.db, err, "SELECT set_config('statement_timeout', $1, true)", BLZ_P (ms)) < 0) {
        blz_db_rollback (op.db);
        return -1;
    }
    json_t *data = NULL;
    const char *hql = blz_str (op.body, "query");
    switch ((qkind_t) kind) {
    case Q_GET: data = q_get (&op, true, err); break;
    case Q_FIND: data = q_get (&op, false, err); break;
    case Q_FIND_ALL: data = q_find_all (&op, err); break;
    case Q_FIND_BY_QUERY:
        data = blz_query_run (op.db, hql, op.params, op.offset, op.limit, op.flags, err);
        data = data ? single (data, err) : NULL;
        break;
    case Q_FIND_ALL_BY_QUERY:
        data = blz_query_run (op.db, hql, op.params, op.offset, op.limit, op.flags, err);
        if (data && op.unique)
            data = single (data, err);
        break;
    case Q_PROJECTION:
        data = blz_query_run (op.db, hql, op.params, op.offset, op.limit, op.flags | BLZ_MJ_ROWS, err);
        break;
    case Q_FIND_BY_STRING:
        data = q_by_string (&op, err);
        data = data ? single (data, err) : NULL;
        break;
    case Q_FIND_ALL_BY_STRING: data = q_by_string (&op, err); break;
    }
    blz_db_rollback (op.db);    /* reads only */
    if (!data)
        return -1;
    call->reply = json_pack ("{s:o}", "data", data);
    return 0;
}

void
blz_query_register (blz_app_t *app)
{
    omr_server_on (app->server, "IQuery.*", dispatch, app);
}
