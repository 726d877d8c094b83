/* iconfig: IConfig (server version, server and database time, database uuid, the
 * client-visible omero.client.* configuration). */
#ifndef BLZ_ICONFIG_H
#define BLZ_ICONFIG_H
#include "blitz.h"

/* Register the IConfig.* operations. */
void blz_iconfig_register (blz_app_t *app);
/* The omero.client.* values (defaults merged with the configuration), new reference. */
json_t *blz_iconfig_client_values (blz_app_t *app, bool defaults_only);
#endif
