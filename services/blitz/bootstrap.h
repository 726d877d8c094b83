/* bootstrap: what Blitz checks and prepares in the database before serving: the schema
 * version (dbpatch), Blitz's own tables (blitz_schema.sql), OMERO's special ids (_roles), the
 * database uuid, root's password (never a fixed default) and this server's Node row. */
#ifndef BLZ_BOOTSTRAP_H
#define BLZ_BOOTSTRAP_H
#include "blitz.h"

/* Wait up to wait_ms for the OMERO schema (table dbpatch) to appear: the database may have
 * just been created and still be loading. */
int blz_bootstrap_wait_schema (blz_db_t *db, int wait_ms, omr_err_t *err);
/* Run every start-up check on db; fills app's ids, uuid and node. */
int blz_bootstrap (blz_app_t *app, blz_db_t *db, omr_err_t *err);
/* Mark this server's Node row down (at a clean stop). */
void blz_bootstrap_node_down (blz_app_t *app, blz_db_t *db);
/* The embedded text of blitz_schema.sql. */
const char *blz_bootstrap_schema_sql (void);
#endif
