/* jsonapi_m: the model URLs of OMERO's JSON API (/api/v0/m/, seed 3.2.7) behind JsonApi.handle:
 * listings with paging (offset, limit; omero.web.api.limit default 200, omero.web.api.max_limit
 * default 500) and the `meta` block, filters (owner, group, project, dataset, image, screen,
 * plate, experimenter, experimentergroup, orphaned), normalize and childCount; single objects;
 * nested URLs (projects/{id}/datasets/ …); POST/PUT /m/save/ (Projects, Datasets, Screens) and
 * DELETE of those (a Delete2 graph request, graph_rules.h), with Django's CSRF rule. Every read runs as the caller (row-level security),
 * in all the caller's groups unless `group` narrows it. A listing costs three SQL statements
 * whatever its length (count, one page of ids, the page's objects) plus one for childCount. */
#ifndef BLZ_JSONAPI_M_H
#define BLZ_JSONAPI_M_H
#include "blitz.h"

/* One JsonApi.handle request, as jsonapi.c parsed it. */
typedef struct {
    blz_app_t *app;
    omr_call_t *call;
    const char *method;         /* "GET", "POST" … */
    const char *path;           /* without the query string, ending in '/' */
    const char *query;          /* raw query string ("" when none) */
    const json_t *headers;      /* lower-case name -> value */
    const json_t *cookies;
    const char *base;           /* "https://host" (no trailing slash) */
} blz_jsonapi_req_t;

/* Serve a path under /api/v0/m/ (sets the call's reply, errors as {"message": …}); 0. */
int blz_jsonapi_m_handle (const blz_jsonapi_req_t *r);
#endif
