/* graph_rules: the traversal and execution behind OMERO's graph requests (Delete2, Chgrp2, Chown2,
 * DiskUsage2, SkipHead). The rules come from the model (model/omero.model through hql_model):
 * a reference whose target holds the inverse collection is a parent pointer (the referrer goes
 * with its parent: Pixels with Image, Shape with Roi, links with either end); other references
 * to owned objects are components (Instrument, LogicalChannel, a FileAnnotation's file), taken
 * only when nothing left behind still refers to them; a link's child is taken the same way
 * (an image also in another dataset stays). Filesets are indivisible. The whole request works on
 * a temporary table of (table, id) in the caller's transaction, so memory does not grow with the
 * number of objects and the effect is all or nothing. */
#ifndef BLZ_GRAPH_RULES_H
#define BLZ_GRAPH_RULES_H
#include "blitz.h"
#include <jansson.h>

/* DoAll: {requests: [...]} run one after the other in the same transaction (all or nothing). */
typedef enum { BLZ_GR_DELETE, BLZ_GR_CHGRP, BLZ_GR_CHOWN, BLZ_GR_USAGE, BLZ_GR_SKIPHEAD, BLZ_GR_DOALL } blz_gr_kind_t;

/* Progress: called at each step (1-based, of *steps); returns -1 to stop (cancelled). */
typedef int (*blz_gr_tick_fn) (void *arg, int step, int steps);

/* A file that goes with deleted rows: removed from disk only after the commit. */
typedef int (*blz_gr_file_fn) (void *arg, const char *path, omr_err_t *err);

/* The kind of a request's "@type" ("omero.cmd.Delete2" or "Delete2" …), -1 if unknown. */
int blz_gr_kind (const char *type);
/* Check a request before it is accepted (types, ids, options, group/user); 0 or -1 with
 * ApiUsageException saying what is wrong. */
int blz_gr_validate (const json_t *req, omr_err_t *err);
/* Run a request inside db's transaction (begun as ctx). Returns OMERO's response object
 * (Delete2Response …) or NULL with err (the caller rolls back). Deleted files are passed to
 * on_file before anything is deleted; the caller records them and removes them after commit. */
json_t *blz_gr_run (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const json_t *req, blz_gr_tick_fn tick,
                    blz_gr_file_fn on_file, void *arg, omr_err_t *err);
/* The on-disk paths that may hold a Thumbnail's cached image (several layouts, malloc'ed,
 * NULL-terminated array; free with blz_gr_paths_free). */
char **blz_gr_thumbnail_paths (omr_config_t *config, int64_t id);
/* Free a path array. */
void blz_gr_paths_free (char **paths);
/* Whether a request changes nothing (dryRun; for SkipHead its own or its request's; for DoAll
 * every request's). */
bool blz_gr_dry_run (const json_t *req);
#endif
