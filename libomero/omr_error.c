/* omr_error: filling and formatting error objects. */
#include "omr_error.h"
#include <stdio.h>
#include <string.h>

int
omr_err_vset (omr_err_t *err, const char *name, int status, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    snprintf (err->name, sizeof err->name, "%s", name ? name : OMR_E_INTERNAL);
    vsnprintf (err->msg, sizeof err->msg, fmt, ap);
    err->status = status;
    return -1;
}

int
omr_err_set (omr_err_t *err, const char *name, int status, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    omr_err_vset (err, name, status, fmt, ap);
    va_end (ap);
    return -1;
}

void
omr_err_clear (omr_err_t *err)
{
    if (err)
        memset (err, 0, sizeof *err);
}

void
omr_err_prefix (omr_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char pre[512], old[sizeof err->msg];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (pre, sizeof pre, fmt, ap);
    va_end (ap);
    snprintf (old, sizeof old, "%s", err->msg);
    snprintf (err->msg, sizeof err->msg, "%s%s", pre, old);
}
