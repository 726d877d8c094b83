/* omr_util: small helpers every process needs: OMERODIR, clocks, files, processes. */
#ifndef OMR_UTIL_H
#define OMR_UTIL_H
#include "omr_error.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The installation directory: $OMERODIR, else the parent of the running binary's bin/.
 * Returns a malloc'ed absolute path or NULL with err set. */
char *omr_omerodir (omr_err_t *err);
/* Milliseconds since the epoch. */
int64_t omr_now_ms (void);
/* Monotonic milliseconds. */
int64_t omr_mono_ms (void);
/* mkdir -p with a mode. */
int omr_mkdirs (const char *path, int mode, omr_err_t *err);
/* Read a whole file into a malloc'ed NUL-terminated buffer (size in *len if given). */
char *omr_read_file (const char *path, size_t *len, omr_err_t *err);
/* Write a file atomically (temp + rename) with a mode. */
int omr_write_file (const char *path, const void *data, size_t len, int mode, omr_err_t *err);
/* Whether a pid is alive (and not a zombie). */
bool omr_pid_alive (pid_t pid);
/* A random UUID (version 4) string into a 37-byte buffer. */
void omr_uuid (char out[37]);
#endif
