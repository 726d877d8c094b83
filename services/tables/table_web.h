/* table_web: OMERO.web's table URLs over one table file, answered with OMERO.web's JSON:
 *   /webgateway/table/{fileid}/query/?query=<cond|*>&col_names=..&offset=..&limit=..
 *     -> {"data": {"column_types": [..], "columns": [names], "rows": [[..], ..]},
 *         "meta": {"rowCount": n, "totalCount": hits, "limit": l|null, "offset": o}}
 *   /webgateway/table/{fileid}/metadata/
 *     -> {"columns": [{"name", "description", "type"}], "totalCount": n, "user_metadata": {..}}
 * `query` "Word-7" is shorthand for "(Word==7)", "*" is every row; col_names (repeatable) picks
 * columns in the order given, unknown names are skipped (as OMERO.web). Errors are
 * {"error": "..."} with an HTTP status (400 bad input, 404 no such table). */
#ifndef TBL_TABLE_WEB_H
#define TBL_TABLE_WEB_H
#include "table_api.h"
#include <stdint.h>

/* What a /webgateway/table/ path names: the file id and "query" or "metadata"; -1 when the
 * path is not one of the two URLs. */
int tbl_web_parse_path (const char *path, int64_t *fileid, char kind[16]);
/* OMERO.web's object_table_query URL, /webgateway/table/<objtype>/<objid>/query/: objtype is a
 * class name, optionally followed by properties leading to the object whose id is given
 * ("Plate", "Plate.wells", "Screen.plateLinks.child.wells"; identifiers only). 0, or -1 when
 * the path is not of that form. */
int tbl_web_parse_object_path (const char *path, char *objtype, size_t len, int64_t *objid);
/* The HQL OMERO.web runs for the bulk annotations of objtype (as _bulk_file_annotations), in
 * two parts with parameter :id, malloc'ed: *exists selects the first object's id when the
 * object exists; *links selects (first object id, annotation id, link owner first and last
 * name, link creation time) for every annotation linked to it. */
int tbl_web_bulk_hql (const char *objtype, char **exists, char **links);
/* Answer a query (query = the URL's query string, undecoded) on the table at path; sets
 * *status and returns the JSON body (new reference, never NULL). */
json_t *tbl_web_query (const char *path, const char *query, const tbl_api_opts_t *opts, int *status);
/* Answer the metadata URL for the table at path; sets *status, returns the JSON body. */
json_t *tbl_web_metadata (const char *path, const tbl_api_opts_t *opts, int *status);
#endif
