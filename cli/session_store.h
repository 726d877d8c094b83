/* session_store: the CLI's sessions on disk, laid out as OMERO's CLI does:
 *   <dir>/<host>/<user>/<uuid>     key=value lines (omero.host, omero.user, omero.sess,
 *                                  omero.port, omero.group, omero.sudo, omero.timeout)
 *   <dir>/._LASTHOST_, <dir>/._LASTPORT_, <dir>/<host>/._LASTUSER_, <dir>/<host>/<user>/._LASTSESS_
 * where <dir> is $OMERO_SESSIONDIR, else (deprecated) $OMERO_SESSION_DIR/omero/sessions, else
 * $OMERO_USERDIR/sessions, else $HOME/omero/sessions, and
 * <host> is percent-encoded. The "current" session is the one those ._LAST files name. */
#ifndef CLI_SESSION_STORE_H
#define CLI_SESSION_STORE_H
#include "omr_error.h"
#include <stdbool.h>
#include <stddef.h>

/* Properties of one stored session (ordered key=value pairs). */
typedef struct {
    int n;
    char **keys;
    char **vals;
} cli_props_t;

/* Value of a property or NULL. */
const char *cli_props_get (const cli_props_t *p, const char *key);
/* Set (or with value NULL remove) a property. */
void cli_props_set (cli_props_t *p, const char *key, const char *value);
/* Free the contents of a property list. */
void cli_props_free (cli_props_t *p);

typedef struct cli_store_t cli_store_t;

/* The store in its default place (environment as above); creates the directory (mode 0700). */
cli_store_t *cli_store_new (omr_err_t *err);
/* A store in the given directory (created if missing). */
cli_store_t *cli_store_open (const char *dir, omr_err_t *err);
/* Free a store handle and set *self to NULL (files are untouched). */
void cli_store_destroy (cli_store_t **self);
/* The store's directory. */
const char *cli_store_dir (const cli_store_t *self);
/* Path of a session file into buf. */
char *cli_store_path (const cli_store_t *self, const char *host, const char *user, const char *uuid,
                      char *buf, size_t len);

/* Write <host>/<user>/<uuid> with props plus omero.host, omero.user, omero.sess. */
int cli_store_add (cli_store_t *self, const char *host, const char *user, const char *uuid,
                   const cli_props_t *props, omr_err_t *err);
/* Read a session file's properties (fills *props; -1 if missing). */
int cli_store_get (cli_store_t *self, const char *host, const char *user, const char *uuid,
                   cli_props_t *props, omr_err_t *err);
/* Whether the session file exists. */
bool cli_store_exists (cli_store_t *self, const char *host, const char *user, const char *uuid);
/* Remove a session file, and the ._LASTSESS_ marker when it names this session. */
void cli_store_remove (cli_store_t *self, const char *host, const char *user, const char *uuid);
/* The session uuids stored for host/user (NULL-terminated, sorted, malloc'ed; free with
 * cli_store_list_free). */
char **cli_store_available (cli_store_t *self, const char *host, const char *user);
void cli_store_list_free (char **list);
/* Make host/user/uuid current; port NULL leaves ._LASTPORT_ as it is ("4064" if never set). */
int cli_store_set_current (cli_store_t *self, const char *host, const char *user, const char *uuid,
                           const char *port, omr_err_t *err);
/* The current host, user, uuid and port (each malloc'ed or NULL; port defaults to "4064"). */
void cli_store_get_current (cli_store_t *self, char **host, char **user, char **uuid, char **port);
/* The last host ("localhost" if none) and port ("4064" if none) into buffers. */
const char *cli_store_last_host (cli_store_t *self, char *buf, size_t len);
const char *cli_store_last_port (cli_store_t *self, char *buf, size_t len);
/* The user directory under host holding uuid, or NULL (malloc'ed); -1 via *ambiguous when
 * several users hold it. */
char *cli_store_find_name_by_key (cli_store_t *self, const char *host, const char *uuid,
                                  bool *ambiguous);
/* Differences between the stored props and new ones for omero.port (and omero.group when
 * check_group) as "key: old!=new; …" (malloc'ed, "" when compatible). ignore_nulls: a key the
 * new props lack matches anything. */
char *cli_store_conflicts (cli_store_t *self, const char *host, const char *user, const char *uuid,
                           const cli_props_t *new_props, bool ignore_nulls, bool check_group);

/* One stored session as listed by cli_store_walk. */
typedef struct {
    const char *host;       /* decoded host */
    const char *user;
    const char *uuid;
} cli_store_entry_t;
/* Call fn for every stored session (sorted by host, user, uuid); filters may be NULL. Returns the
 * number visited. fn may remove the entry it is given. */
int cli_store_walk (cli_store_t *self, const char *host, const char *user,
                    void (*fn) (cli_store_t *store, const cli_store_entry_t *e, void *arg), void *arg);
#endif
