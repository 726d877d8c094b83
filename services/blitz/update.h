/* update: IUpdate (saveObject, saveAndReturnObject, saveArray, saveAndReturnArray,
 * saveAndReturnIds, deleteObject). A call saves whole graphs of new and changed objects in one
 * transaction as the caller: write rights per OMERO's permission matrix (the schema's
 * omero_rights: owner, group level, group owner, administrator privileges), optimistic locking
 * on `version` (OptimisticLockException), validation of names and values (ValidationException),
 * and one Event with an EventLog row per inserted, updated or deleted object.
 *
 * Arguments: {"object": {...}} or {"objects": [{...}, ...]} in the JSON API's form (model_json.h),
 * for deleteObject also "Class:ID"; optional "group" as in IQuery (the group new objects go to).
 * Replies: {} / {"data": object} / {"data": [objects]} / {"data": [ids]}. */
#ifndef BLZ_UPDATE_H
#define BLZ_UPDATE_H
#include "blitz.h"
#include "hql/hql_model.h"

/* Register the IUpdate.* operations. */
void blz_update_register (blz_app_t *app);
/* Within a transaction begun as ctx (blz_db_begin): save one object graph as saveObject does
 * (new objects go to ctx->group_id); the id of its root, or -1 with err (the caller rolls back).
 * For other services (the JSON API's save). */
int64_t blz_update_save (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const json_t *obj, omr_err_t *err);
/* Within a transaction begun as ctx: delete object t:id as deleteObject does. */
int blz_update_delete (blz_app_t *app, blz_db_t *db, const blz_ctx_t *ctx, const omr_type_t *t, int64_t id,
                       omr_err_t *err);
#endif
