/* omr_log: timestamped, levelled lines on stderr with size rotation of the file behind it.
 * Process-wide by nature (it owns fd 2), so its few settings are the one global here. */
#include "omr_log.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    char path[4096];
    char name[128];
    long long maxsize;
    int lognum;
    int level;
} L = {PTHREAD_MUTEX_INITIALIZER, "", "", 0, 9, OMR_LOG_INFO};

void
omr_log_init (const char *path, long long maxsize, int lognum, int level, const char *name)
{
    pthread_mutex_lock (&L.lock);
    snprintf (L.path, sizeof L.path, "%s", path ? path : "");
    snprintf (L.name, sizeof L.name, "%s", name ? name : "");
    L.maxsize = maxsize;
    L.lognum = lognum;
    L.level = level;
    pthread_mutex_unlock (&L.lock);
}

int
omr_log_level_parse (const char *s)
{
    if (!s || !*s)
        return OMR_LOG_INFO;
    if (!strcasecmp (s, "DEBUG") || !strcasecmp (s, "TRACE"))
        return OMR_LOG_DEBUG;
    if (!strcasecmp (s, "INFO"))
        return OMR_LOG_INFO;
    if (!strcasecmp (s, "WARN") || !strcasecmp (s, "WARNING"))
        return OMR_LOG_WARN;
    if (!strcasecmp (s, "ERROR"))
        return OMR_LOG_ERROR;
    int n = atoi (s);
    return n > 0 ? n : OMR_LOG_INFO;
}

/* Rename path -> path.1 -> … -> path.N and reopen path on fds 1 and 2. Lock held. */
static void
rotate (void)
{
    char from[4200], to[4200];
    for (int i = L.lognum - 1; i >= 1; i--) {
        snprintf (from, sizeof from, "%s.%d", L.path, i);
        snprintf (to, sizeof to, "%s.%d", L.path, i + 1);
        rename (from, to);
    }
    if (L.lognum >= 1) {
        snprintf (to, sizeof to, "%s.1", L.path);
        rename (L.path, to);
    }
    int fd = open (L.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0) {
        dup2 (fd, 1);
        dup2 (fd, 2);
        close (fd);
    }
}

void
omr_log_v (int level, const char *fmt, va_list ap)
{
    if (level < L.level)
        return;
    char msg[4096];
    vsnprintf (msg, sizeof msg, fmt, ap);
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    localtime_r (&tv.tv_sec, &tm);
    char ts[64];
    strftime (ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    const char *lv = level >= OMR_LOG_ERROR ? "ERROR" : level >= OMR_LOG_WARN ? "WARN"
                   : level >= OMR_LOG_INFO ? "INFO" : "DEBUG";
    char line[4400];
    int n = snprintf (line, sizeof line, "%s,%03d %-5s [%s] %s\n", ts, (int) (tv.tv_usec / 1000), lv,
                      L.name, msg);
    if (n > (int) sizeof line - 1)
        n = sizeof line - 1;
    pthread_mutex_lock (&L.lock);
    if (write (2, line, n) < 0) {
        /* nowhere left to report a failing log */
    }
    if (L.path[0] && L.maxsize > 0) {
        struct stat st;
        if (fstat (2, &st) == 0 && st.st_size > L.maxsize)
            rotate ();
    }
    pthread_mutex_unlock (&L.lock);
}

void
omr_log (int level, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    omr_log_v (level, fmt, ap);
    va_end (ap);
}
