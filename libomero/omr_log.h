/* omr_log: one log per process, written to stderr (which the launcher points at
 * var/log/<id>.log) with size-based rotation as omero.logging.logsize/lognum ask. */
#ifndef OMR_LOG_H
#define OMR_LOG_H
#include <stdarg.h>

enum { OMR_LOG_DEBUG = 10, OMR_LOG_INFO = 20, OMR_LOG_WARN = 30, OMR_LOG_ERROR = 40 };

/* Configure the process log: path of the file behind stderr ("" = none, no rotation),
 * maximum size in bytes before rotating, number of rotated files kept, minimum level,
 * and a name printed in every line (server id). */
void omr_log_init (const char *path, long long maxsize, int lognum, int level, const char *name);
/* Write one line at a level. Thread-safe. */
void omr_log (int level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void omr_log_v (int level, const char *fmt, va_list ap);
/* Parse a level name (DEBUG, INFO, WARN, ERROR or a number). */
int omr_log_level_parse (const char *s);

#define omr_info(...)  omr_log (OMR_LOG_INFO, __VA_ARGS__)
#define omr_warn(...)  omr_log (OMR_LOG_WARN, __VA_ARGS__)
#define omr_error(...) omr_log (OMR_LOG_ERROR, __VA_ARGS__)
#define omr_debug(...) omr_log (OMR_LOG_DEBUG, __VA_ARGS__)
#endif
