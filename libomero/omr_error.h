/* omr_error: the error object every fallible call fills in.
 * `name` is OMERO's exception name (ApiUsageException, SecurityViolation, ValidationException …)
 * so the same value travels to clients; `msg` says what went wrong and what to do. */
#ifndef OMR_ERROR_H
#define OMR_ERROR_H
#include <stdarg.h>

typedef struct {
    char name[64];      /* OMERO exception name, "" when no error */
    char msg[1024];     /* human-readable message */
    int status;         /* HTTP-style status for clients (400, 403, 404, 409, 500, 503 …) */
} omr_err_t;

/* Set name, status and a formatted message; err may be NULL. Always returns -1. */
int omr_err_set (omr_err_t *err, const char *name, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* Same, taking a va_list. */
int omr_err_vset (omr_err_t *err, const char *name, int status, const char *fmt, va_list ap);
/* Clear an error object. */
void omr_err_clear (omr_err_t *err);
/* Prefix the existing message with a formatted context ("file.yaml:12: " …). */
void omr_err_prefix (omr_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Common exception names. */
#define OMR_E_API        "ApiUsageException"
#define OMR_E_SECURITY   "SecurityViolation"
#define OMR_E_VALIDATION "ValidationException"
#define OMR_E_NOTFOUND   "NotFoundException"
#define OMR_E_SESSION    "SessionException"
#define OMR_E_REMOVED    "RemovedSessionException"
#define OMR_E_LOCK       "OptimisticLockException"
#define OMR_E_QUERY      "QueryException"
#define OMR_E_INTERNAL   "InternalException"
#define OMR_E_RESOURCE   "ResourceError"
#define OMR_E_UNAVAIL    "ServiceUnavailable"
#define OMR_E_CONFIG     "ConfigError"
#endif
