/* launch: starting one server process as the registry or a node agent does: environment,
 * working directory, log file, parent-death signal, executable lookup. */
#ifndef REG_LAUNCH_H
#define REG_LAUNCH_H
#include "descriptor.h"
#include <sys/types.h>

/* Where and how a node launches its servers. */
typedef struct {
    const char *omerodir;       /* installation */
    const char *node;           /* node name */
    const char *registry;       /* registry endpoint servers heartbeat to */
    const char *host;           /* address servers bind */
    const char *statedir;       /* var/master or var/<node>: pid and property files */
    const char *keydir;         /* grid CURVE keys */
    const json_t *extra_props;  /* properties every server gets (embedded database settings) */
} reg_launch_ctx_t;

/* Resolve a server's executable: absolute/relative path as given, else $OMERODIR/bin, else PATH.
 * Returns a malloc'ed path or NULL with err set ("executable not found"). */
char *reg_launch_resolve (const reg_launch_ctx_t *ctx, const char *exe, omr_err_t *err);
/* Fork and exec a server; returns its pid or -1 with err set. The child gets SIGTERM when
 * the launcher dies, its own process group, stdin from /dev/null and stdout/stderr appended to
 * var/log/<id>.log. Writes <statedir>/servers/<id>.pid and .yaml (its properties). */
pid_t reg_launch (const reg_launch_ctx_t *ctx, const reg_server_t *srv, omr_err_t *err);
/* Remove a server's pid file. */
void reg_launch_forget (const reg_launch_ctx_t *ctx, const char *id);
/* Stop processes left behind by an earlier launcher of this state directory that died without
 * stopping them (pid files whose process still runs our program): SIGTERM, then SIGKILL after
 * timeout_ms. Returns how many were found. */
int reg_launch_reap_orphans (const reg_launch_ctx_t *ctx, int timeout_ms);
#endif
