/* omr_config: OMERO configuration properties (omero.db.host, omero.ports.prefix …).
 * Values come from OMERO's defaults, then etc/grid/config.yaml (written by `omero config`),
 * then a server's own descriptor properties; every process reads the same file. */
#ifndef OMR_CONFIG_H
#define OMR_CONFIG_H
#include "omr_error.h"
#include <stdbool.h>

typedef struct omr_config_t omr_config_t;

/* Create an empty configuration (defaults still answer through omr_config_get). */
omr_config_t *omr_config_new (void);
/* Free a configuration and set *self to NULL. */
void omr_config_destroy (omr_config_t **self);
/* Load key: value pairs from a YAML mapping file; a missing file is not an error. */
int omr_config_load_file (omr_config_t *self, const char *path, omr_err_t *err);
/* Load $OMERODIR/etc/grid/config.yaml, then the file named by $OMERO_SERVER_PROPS if set. */
omr_config_t *omr_config_load_omerodir (const char *omerodir, omr_err_t *err);
/* Save the explicitly set keys (not defaults) as YAML, atomically (write + rename). */
int omr_config_save_file (omr_config_t *self, const char *path, omr_err_t *err);
/* Set a key (value NULL removes it). */
void omr_config_set (omr_config_t *self, const char *key, const char *value);
/* Value of a key set explicitly, or NULL. */
const char *omr_config_get_set (omr_config_t *self, const char *key);
/* Value of a key: explicitly set, else OMERO's default, else NULL. */
const char *omr_config_get (omr_config_t *self, const char *key);
/* Integer value with a fallback when unset or unparsable. */
long long omr_config_get_int (omr_config_t *self, const char *key, long long fallback);
/* Boolean value ("true"/"1"/"yes"/"on"). */
bool omr_config_get_bool (omr_config_t *self, const char *key, bool fallback);
/* A port property with omero.ports.prefix applied as OMERO does (prefix "1" + 4064 = 14064). */
int omr_config_port (omr_config_t *self, const char *key);
/* Number of explicitly set keys and the i-th key (sorted). */
int omr_config_size (omr_config_t *self);
const char *omr_config_key_at (omr_config_t *self, int i);
/* OMERO's default for a key, or NULL. */
const char *omr_config_default (const char *key);
/* Iterate the table of known defaults: returns key i (or NULL past the end) and its value. */
const char *omr_config_default_at (int i, const char **value);
#endif
