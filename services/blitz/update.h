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

/* Register the IUpdate.* operations. */
void blz_update_register (blz_app_t *app);
#endif
