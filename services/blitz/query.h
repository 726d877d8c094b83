/* query: IQuery (get, find, findAll, findByQuery, findAllByQuery, findByString,
 * findAllByString, projection). HQL is translated (hql/hql.h) and run with bound parameters in
 * one transaction as the caller, so PostgreSQL's row-level security decides what is visible;
 * objects come back in the JSON API's form (model_json.h) with omero:details.
 *
 * Arguments of the query operations:
 *   {"query": HQL, "params": {"id": 1, "ids": [1, 2], "name": "x"},
 *    "filter": {"offset": 0, "limit": 25, "unique": false},
 *    "group": -1,                      (or "ctx"/"context": {"omero.group": "-1"})
 *    "nulls": true,                    (unset fields as null instead of left out)
 *    "fieldNames": "model",            (keys "name", "omeName" … instead of "Name", "UserName")
 *    "timestamps": "objects"}          (times as {"@type": "rtime", "value": ms}, not plain ms)
 * OMERO's omero.sys.Parameters shape is accepted too:
 *   {"query": HQL, "parameters": {"map": {...}, "theFilter": {"offset", "limit"}}}
 * Replies: {"data": object | null | [objects] | [[row values]]}. */
#ifndef BLZ_QUERY_H
#define BLZ_QUERY_H
#include "blitz.h"
#include "hql/hql.h"

/* Register the IQuery.* operations. */
void blz_query_register (blz_app_t *app);
/* Within the caller's open transaction: object t:id as the caller sees it (details, permissions),
 * or NULL; *err is set only on a failure (not for an invisible or missing row). */
json_t *blz_query_load (blz_db_t *db, const omr_type_t *t, int64_t id, omr_err_t *err);
/* Within the caller's open transaction: run HQL with JSON parameters (an object of name ->
 * value), paging offset/limit (limit < 0 = all). Flags BLZ_MJ_* (model_json.h): without
 * BLZ_MJ_ROWS the objects of the first item, with it one array per row. NULL with
 * QueryException/ApiUsageException in err. */
json_t *blz_query_run (blz_db_t *db, const char *hql, const json_t *params, long offset, long limit, unsigned flags,
                       omr_err_t *err);
/* The group context asked for by a call's arguments ("group", or "ctx"/"context" with
 * "omero.group"), applied to ctx; SecurityViolation for a group the caller may not use. */
int blz_query_group_context (const json_t *body, blz_ctx_t *ctx, omr_err_t *err);
#endif
