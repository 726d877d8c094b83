/* omr_util: installation directory, clocks, files, processes, UUIDs. */
#include "omr_util.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *
omr_omerodir (omr_err_t *err)
{
    const char *env = getenv ("OMERODIR");
    char buf[PATH_MAX];
    if (env && *env) {
        if (!realpath (env, buf)) {
            omr_err_set (err, OMR_E_CONFIG, 500, "OMERODIR=%s: %s", env, strerror (errno));
            return NULL;
        }
        return strdup (buf);
    }
    ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        omr_err_set (err, OMR_E_CONFIG, 500, "cannot find the installation: set OMERODIR");
        return NULL;
    }
    buf[n] = 0;
    char *bin = dirname (buf);      /* .../bin */
    char *top = dirname (bin);      /* ... */
    return strdup (top);
}

int64_t
omr_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
omr_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
omr_mkdirs (const char *path, int mode, omr_err_t *err)
{
    char buf[PATH_MAX];
    snprintf (buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            /* Parents are ordinary directories; only the leaf gets the requested mode. */
            if (mkdir (buf, 0755) != 0 && errno != EEXIST)
                return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create directory %s: %s", buf,
                                    strerror (errno));
            *p = '/';
        }
    }
    if (mkdir (buf, mode) != 0 && errno != EEXIST)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot create directory %s: %s", buf, strerror (errno));
    return 0;
}

char *
omr_read_file (const char *path, size_t *len, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        omr_err_set (err, OMR_E_RESOURCE, 404, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc (cap);
    size_t r;
    while ((r = fread (buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc (buf, cap);
        }
    }
    fclose (f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int
omr_write_file (const char *path, const void *data, size_t len, int mode, omr_err_t *err)
{
    char tmp[PATH_MAX];
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ());
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write (fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close (fd);
            unlink (tmp);
            return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (e));
        }
        p += w;
        left -= w;
    }
    fchmod (fd, mode);
    if (close (fd) != 0 || rename (tmp, path) != 0) {
        int e = errno;
        unlink (tmp);
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot write %s: %s", path, strerror (e));
    }
    return 0;
}

bool
omr_pid_alive (pid_t pid)
{
    if (pid <= 0)
        return false;
    char path[64], buf[512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = 0;
    char *rp = strrchr (buf, ')');
    if (!rp || rp[1] != ' ')
        return false;
    return rp[2] != 'Z' && rp[2] != 'X';
}

void
omr_uuid (char out[37])
{
    unsigned char b[16];
    if (RAND_bytes (b, sizeof b) != 1) {
        FILE *f = fopen ("/dev/urandom", "rb");
        if (!f || fread (b, 1, sizeof b, f) != sizeof b)
            memset (b, 0, sizeof b);
        if (f)
            fclose (f);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
              b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
