/* Unit tests of services/tables/table_web: OMERO.web's table URLs (path parsing, query with
 * "*", conditions, "Word-N", col_names, offset/limit, masks, errors) and metadata, over a
 * table built with the Table API in a temporary directory. */
/* UNIT_LINK: services/tables */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "../../services/tables/table_web.h"

static char dir[64], path[128];
static const tbl_api_opts_t opts = {.lock_timeout_s = 5.0};

static void
make_table (void)
{
    omr_err_t err = {0};
    json_t *cols = json_loads ("{\"columns\": [{\"name\": \"Well\", \"type\": \"WellColumn\", \"description\": \"wells\"},"
                               "{\"name\": \"Name\", \"type\": \"StringColumn\", \"size\": 4},"
                               "{\"name\": \"v\", \"type\": \"DoubleColumn\"}]}", 0, NULL);
    json_t *r = tbl_api_initialize (path, cols, &opts, &err);
    CHECK (r != NULL);
    json_decref (r);
    json_decref (cols);
    /* 2500 rows: more than one of OMERO.web's 1000-row batches */
    json_t *w = json_array (), *n = json_array (), *v = json_array ();
    for (int i = 0; i < 2500; i++) {
        char s[8];
        snprintf (s, sizeof s, "r%d", i % 100);
        json_array_append_new (w, json_integer (i));
        json_array_append_new (n, json_string (s));
        json_array_append_new (v, json_real (i * 0.5));
    }
    json_t *data = json_pack ("{s:[{s:o},{s:o},{s:o}]}", "columns", "values", w, "values", n, "values", v);
    r = tbl_api_add_data (path, data, &opts, &err);
    CHECK (r != NULL);
    json_decref (r);
    json_decref (data);
    json_t *md = json_pack ("{s:s, s:s, s:i}", "key", "origin", "value", "unit", "x", 0);
    r = tbl_api_set_metadata (path, md, &opts, &err);
    CHECK (r != NULL);
    json_decref (r);
    json_decref (md);
}

static void
test_parse_path (void)
{
    int64_t id = 0;
    char kind[16];
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/12/query/", &id, kind), 0);
    CHECK_INT (id, 12);
    CHECK_STR (kind, "query");
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/7/metadata", &id, kind), 0);
    CHECK_STR (kind, "metadata");
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/7/metadata/x", &id, kind), -1);
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/Plate/1/query/", &id, kind), -1);
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/0/query/", &id, kind), -1);
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/1x/query/", &id, kind), -1);
    CHECK_INT (tbl_web_parse_path ("/webgateway/table/1/slice/", &id, kind), -1);
    CHECK_INT (tbl_web_parse_path (NULL, &id, kind), -1);
}

static void
test_object_path (void)
{
    char t[256];
    int64_t id = 0;
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate/3/query/", t, sizeof t, &id), 0);
    CHECK_STR (t, "Plate");
    CHECK_INT (id, 3);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Screen.plateLinks.child.wells/22/query", t, sizeof t, &id), 0);
    CHECK_STR (t, "Screen.plateLinks.child.wells");
    CHECK_INT (id, 22);
    /* only identifiers reach the HQL */
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate p where 1=1/3/query/", t, sizeof t, &id), -1);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate..wells/3/query/", t, sizeof t, &id), -1);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate./3/query/", t, sizeof t, &id), -1);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/.wells/3/query/", t, sizeof t, &id), -1);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate/3/metadata/", t, sizeof t, &id), -1);
    CHECK_INT (tbl_web_parse_object_path ("/webgateway/table/Plate/x/query/", t, sizeof t, &id), -1);
    char *e, *l;
    CHECK_INT (tbl_web_bulk_hql ("Screen.plateLinks.child.wells", &e, &l), 0);
    CHECK_STR (e, "select obj0.id from Screen obj0 join obj0.plateLinks obj1 join obj1.child obj2 join obj2.wells obj3 "
                  "where obj3.id = :id");
    CHECK (strstr (l, "from Screen obj0 join obj0.plateLinks obj1 join obj1.child obj2 join obj2.wells obj3 "
                      "join obj0.annotationLinks links where obj3.id = :id") != NULL);
    free (e);
    free (l);
    CHECK_INT (tbl_web_bulk_hql ("Dataset", &e, &l), 0);
    CHECK_STR (e, "select obj0.id from Dataset obj0 where obj0.id = :id");
    free (e);
    free (l);
}

static void
test_query (void)
{
    int status = 0;
    json_t *j = tbl_web_query (path, "query=*", &opts, &status);
    CHECK_INT (status, 200);
    json_t *rows = json_object_get (json_object_get (j, "data"), "rows");
    CHECK_INT (json_array_size (rows), 2500);
    CHECK_INT (json_integer_value (json_array_get (json_array_get (rows, 2499), 0)), 2499);
    CHECK_STR (json_string_value (json_array_get (json_array_get (rows, 1234), 1)), "r34");
    CHECK_STR (json_string_value (json_array_get (json_object_get (json_object_get (j, "data"), "column_types"), 0)),
               "WellColumn");
    json_t *meta = json_object_get (j, "meta");
    CHECK_INT (json_integer_value (json_object_get (meta, "rowCount")), 2500);
    CHECK_INT (json_integer_value (json_object_get (meta, "totalCount")), 2500);
    CHECK (json_is_null (json_object_get (meta, "limit")));
    json_decref (j);
    /* a condition (URL-encoded), two columns in the order asked, one page */
    j = tbl_web_query (path, "query=%28v+%3E%3D+1000%29&col_names=v&col_names=Well&col_names=nope&offset=5&limit=2",
                       &opts, &status);
    CHECK_INT (status, 200);
    char *s = json_dumps (json_object_get (j, "data"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR (s, "{\"column_types\":[\"DoubleColumn\",\"WellColumn\"],\"columns\":[\"v\",\"Well\"],"
                  "\"rows\":[[1002.5,2005],[1003.0,2006]]}");
    free (s);
    meta = json_object_get (j, "meta");
    CHECK_INT (json_integer_value (json_object_get (meta, "totalCount")), 500);
    CHECK_INT (json_integer_value (json_object_get (meta, "limit")), 2);
    CHECK_INT (json_integer_value (json_object_get (meta, "offset")), 5);
    json_decref (j);
    /* Word-N shorthand; an offset past the hits gives no rows */
    j = tbl_web_query (path, "query=Well-42", &opts, &status);
    rows = json_object_get (json_object_get (j, "data"), "rows");
    CHECK_INT (json_array_size (rows), 1);
    CHECK_STR (json_string_value (json_array_get (json_array_get (rows, 0), 1)), "r42");
    json_decref (j);
    j = tbl_web_query (path, "query=*&offset=9999", &opts, &status);
    CHECK_INT (status, 200);
    CHECK_INT (json_array_size (json_object_get (json_object_get (j, "data"), "rows")), 0);
    json_decref (j);
    /* col_names that match nothing: empty rows, as OMERO.web */
    j = tbl_web_query (path, "query=*&col_names=zz&limit=2", &opts, &status);
    s = json_dumps (json_object_get (json_object_get (j, "data"), "rows"), JSON_COMPACT);
    CHECK_STR (s, "[[],[]]");
    free (s);
    json_decref (j);
}

static void
test_errors (void)
{
    int status = 0;
    json_t *j = tbl_web_query (path, "", &opts, &status);
    CHECK_INT (status, 400);
    CHECK_STR (json_string_value (json_object_get (j, "error")), "Must specify query parameter, use * to retrieve all");
    json_decref (j);
    j = tbl_web_query (path, "query=v+%3E", &opts, &status);
    CHECK_INT (status, 400);
    CHECK (!strncmp (json_string_value (json_object_get (j, "error")), "Error executing query: v >", 26));
    json_decref (j);
    j = tbl_web_query (path, "query=*&limit=x", &opts, &status);
    CHECK_INT (status, 400);
    json_decref (j);
    j = tbl_web_query (path, "query=*&offset=-3", &opts, &status);
    CHECK_INT (status, 400);
    json_decref (j);
    char missing[160];
    snprintf (missing, sizeof missing, "%s/none.h5", dir);
    j = tbl_web_metadata (missing, &opts, &status);
    CHECK_INT (status, 400);
    CHECK_STR (json_string_value (json_object_get (j, "error")), "Not yet initialized");
    json_decref (j);
}

static void
test_metadata (void)
{
    int status = 0;
    json_t *j = tbl_web_metadata (path, &opts, &status);
    CHECK_INT (status, 200);
    char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR (s, "{\"columns\":[{\"description\":\"wells\",\"name\":\"Well\",\"type\":\"WellColumn\"},"
                  "{\"description\":\"\",\"name\":\"Name\",\"type\":\"StringColumn\"},"
                  "{\"description\":\"\",\"name\":\"v\",\"type\":\"DoubleColumn\"}],"
                  "\"totalCount\":2500,\"user_metadata\":{\"origin\":\"unit\"}}");
    free (s);
    json_decref (j);
}

static void
test_mask_cells (void)
{
    char mpath[160];
    snprintf (mpath, sizeof mpath, "%s/mask.h5", dir);
    omr_err_t err = {0};
    json_t *a = json_loads ("{\"columns\": [{\"name\": \"m\", \"type\": \"MaskColumn\"}]}", 0, NULL);
    json_decref (tbl_api_initialize (mpath, a, &opts, &err));
    json_decref (a);
    a = json_loads ("{\"columns\": [{\"imageId\": [5], \"theZ\": [0], \"theT\": [1], \"x\": [0.5], \"y\": [1], "
                    "\"w\": [4], \"h\": [7], \"bytes\": [[1, 2, 255]]}]}", 0, NULL);
    json_t *r = tbl_api_add_data (mpath, a, &opts, &err);
    CHECK (r != NULL);
    json_decref (r);
    json_decref (a);
    int status = 0;
    json_t *j = tbl_web_query (mpath, "query=*", &opts, &status);
    CHECK_INT (status, 200);
    json_t *c = json_array_get (json_array_get (json_object_get (json_object_get (j, "data"), "rows"), 0), 0);
    CHECK_INT (json_integer_value (json_object_get (c, "imageId")), 5);
    CHECK_INT (json_integer_value (json_array_get (json_object_get (c, "bytes"), 2)), 255);
    json_decref (j);
    unlink (mpath);
}

int
main (void)
{
    snprintf (dir, sizeof dir, "/tmp/test_table_web.XXXXXX");
    if (!mkdtemp (dir))
        return 1;
    snprintf (path, sizeof path, "%s/t.h5", dir);
    make_table ();
    RUN (test_parse_path);
    RUN (test_object_path);
    RUN (test_query);
    RUN (test_errors);
    RUN (test_metadata);
    RUN (test_mask_cells);
    unlink (path);
    rmdir (dir);
    return UNIT_DONE ();
}
