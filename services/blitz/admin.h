/* admin: IAdmin — experimenters, groups, membership and group owners, passwords, group
 * permission levels and the caller's event context, with OMERO's rules on who may change what. */
#ifndef BLZ_ADMIN_H
#define BLZ_ADMIN_H
#include "blitz.h"

/* Register the IAdmin.* operations. */
void blz_admin_register (blz_app_t *app);
/* JSON of one experimenter / group by id (JSON API shapes), or NULL with NotFoundException. */
json_t *blz_admin_experimenter_json (blz_db_t *db, int64_t id, omr_err_t *err);
json_t *blz_admin_group_json (blz_db_t *db, int64_t id, omr_err_t *err);
#endif
