/* jsonapi: JsonApi.handle, OMERO's JSON API over the router (docs/protocol.md "HTTP through
 * the router"). This module serves the bootstrap URLs: /api/ (versions), /api/v0/ (base URLs),
 * /api/v0/servers/, /api/v0/token/ (CSRF token cookie), POST /api/v0/login/ (session cookie
 * `sessionid` holding the session uuid) and POST /api/v0/logout/. */
#ifndef BLZ_JSONAPI_H
#define BLZ_JSONAPI_H
#include "blitz.h"

/* Register JsonApi.handle. */
void blz_jsonapi_register (blz_app_t *app);
/* Set the reply of a JsonApi call: status, JSON body (stolen), extra Set-Cookie values. */
void blz_jsonapi_reply (omr_call_t *call, int status, json_t *body, json_t *cookies);
#endif
