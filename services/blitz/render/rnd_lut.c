/* rnd_lut: reading ImageJ/NIH lookup tables and the per-directory table provider. */
#include "rnd_lut.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define LUT_SIZE 256
/* No legitimate table is larger than this; bounds what we read into memory. */
#define LUT_FILE_MAX (1 << 20)

struct rnd_lut_provider {
    int n;
    rnd_lut_t *luts;
};

/* BinaryLutReader.interpolate: stretch n colours to 256. */
static void
interpolate (uint8_t *c, int n)
{
    uint8_t src[LUT_SIZE];
    memcpy (src, c, (size_t) n);
    double scale = n / (double) LUT_SIZE;
    for (int i = 0; i < LUT_SIZE; i++) {
        int i1 = (int) (i * scale), i2 = i1 + 1;
        if (i2 == n) i2 = n - 1;
        double fr = i * scale - i1;
        c[i] = (uint8_t) (int) ((1.0 - fr) * src[i1] + fr * src[i2]);
    }
}

/* NIH Image table with the "ICOL" header (raw = false) or a raw 768-byte table. */
static int
read_binary (const uint8_t *d, size_t len, bool raw, rnd_lut_t *out)
{
    int n = LUT_SIZE;
    size_t off = 0;
    if (!raw) {
        if (len < 32 || memcmp (d, "ICOL", 4) != 0)
            return 0;
        n = (d[6] << 8) | d[7];
        if (n < 1 || n > LUT_SIZE)
            return 0;
        off = 32;
    }
    if (off + 3 * (size_t) n > len)
        return 0;
    memcpy (out->r, d + off, (size_t) n);
    memcpy (out->g, d + off + n, (size_t) n);
    memcpy (out->b, d + off + 2 * n, (size_t) n);
    if (n < LUT_SIZE) {
        interpolate (out->r, n);
        interpolate (out->g, n);
        interpolate (out->b, n);
    }
    return LUT_SIZE;
}

/* Java's (byte) cast of a float, read back as unsigned. */
static uint8_t
jbyte (double v)
{
    if (isnan (v))
        return 0;
    double t = trunc (v);
    long long i = t > 2147483647.0 ? 2147483647LL : t < -2147483648.0 ? -2147483648LL : (long long) t;
    return (uint8_t) (i & 0xFF);
}

/* TextLutReader: rows of 3 or 4 numeric columns (comma/space separated), 256..258 rows,
 * an optional header row of non-numbers. */
static int
read_text (const uint8_t *d, size_t len, rnd_lut_t *out)
{
    char *text = malloc (len + 1);
    if (!text)
        return 0;
    memcpy (text, d, len);
    text[len] = 0;
    int rows = 0, cols = 0, cap = 0;
    double *vals = NULL;
    int nvals = 0, result = 0;
    bool header = false;
    char *save = NULL;
    for (char *line = strtok_r (text, "\r\n", &save); line; line = strtok_r (NULL, "\r\n", &save)) {
        int words = 0;
        double row[8];
        bool numeric = true;
        char *s2 = NULL;
        for (char *w = strtok_r (line, " \t,", &s2); w; w = strtok_r (NULL, " \t,", &s2)) {
            char *end;
            double v = strtod (w, &end);
            if (*end) numeric = false;
            if (words < 8) row[words] = v;
            words++;
        }
        if (words == 0)
            continue;
        if (rows == 0 && !numeric) {
            header = true;
            cols = words;
            continue;
        }
        if (cols == 0)
            cols = words;
        if (words != cols || cols > 8 || !numeric)
            goto done;
        if (nvals + cols > cap) {
            cap = cap ? cap * 2 : 1024;
            double *nv = realloc (vals, (size_t) cap * sizeof *vals);
            if (!nv)
                goto done;
            vals = nv;
        }
        memcpy (vals + nvals, row, (size_t) cols * sizeof *row);
        nvals += cols;
        rows++;
    }
    (void) header;
    if (cols < 3 || cols > 4 || rows < LUT_SIZE || rows > LUT_SIZE + 2)
        goto done;
    int x = cols == 4 ? 1 : 0, y = rows > LUT_SIZE ? 1 : 0;
    for (int i = 0; i < LUT_SIZE; i++) {
        const double *r = vals + (size_t) (i + y) * cols + x;
        out->r[i] = jbyte (r[0]);
        out->g[i] = jbyte (r[1]);
        out->b[i] = jbyte (r[2]);
    }
    result = LUT_SIZE;
done:
    free (vals);
    free (text);
    return result;
}

int
rnd_lut_read_file (const char *path, rnd_lut_t *out, omr_err_t *err)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return omr_err_set (err, OMR_E_RESOURCE, 500, "cannot open lookup table %s: %s", path, strerror (errno));
    uint8_t *d = malloc (LUT_FILE_MAX);
    size_t len = d ? fread (d, 1, LUT_FILE_MAX, f) : 0;
    bool too_big = d && len == LUT_FILE_MAX && fgetc (f) != EOF;
    fclose (f);
    if (!d)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory reading %s", path);
    memset (out, 0, sizeof *out);
    const char *base = strrchr (path, '/');
    snprintf (out->name, sizeof out->name, "%s", base ? base + 1 : path);
    int size = 0;
    if (!too_big) {
        /* The order of LutReaderFactory: NIH header, raw table, text table. */
        if (len > 768)
            size = read_binary (d, len, false, out);
        if (size == 0 && (len == 768 || len == 970))
            size = read_binary (d, len, true, out);
        if (size == 0 && len > 768)
            size = read_text (d, len, out);
    }
    free (d);
    if (size == 0)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "%s is not a lookup table (expected an NIH Image 'ICOL' table, a raw 768-byte "
                            "table or a text table of 256 rows of 3 or 4 columns)", path);
    return 0;
}

static int
cmp_lut (const void *a, const void *b)
{
    return strcasecmp (((const rnd_lut_t *) a)->name, ((const rnd_lut_t *) b)->name);
}

rnd_lut_provider_t *
rnd_lut_provider_new (const char *dir, omr_err_t *err)
{
    rnd_lut_provider_t *p = calloc (1, sizeof *p);
    if (!p)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory"), NULL;
    if (!dir || !*dir)
        return p;
    DIR *dh = opendir (dir);
    if (!dh) {
        omr_err_set (err, OMR_E_CONFIG, 500, "cannot open lookup table directory %s: %s", dir, strerror (errno));
        free (p);
        return NULL;
    }
    struct dirent *de;
    int cap = 0;
    while ((de = readdir (dh))) {
        size_t nl = strlen (de->d_name);
        if (nl < 5 || nl >= RND_LUT_NAME_MAX || strcasecmp (de->d_name + nl - 4, ".lut") != 0)
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        rnd_lut_t lut;
        omr_err_t ignored;
        if (rnd_lut_read_file (path, &lut, &ignored) != 0)
            continue;
        if (p->n == cap) {
            cap = cap ? cap * 2 : 16;
            rnd_lut_t *nl2 = realloc (p->luts, (size_t) cap * sizeof *nl2);
            if (!nl2) {
                closedir (dh);
                rnd_lut_provider_destroy (&p);
                return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory"), NULL;
            }
            p->luts = nl2;
        }
        p->luts[p->n++] = lut;
    }
    closedir (dh);
    if (p->n > 1)
        qsort (p->luts, (size_t) p->n, sizeof *p->luts, cmp_lut);
    return p;
}

const rnd_lut_t *
rnd_lut_provider_get (const rnd_lut_provider_t *p, const char *name)
{
    for (int i = 0; p && name && i < p->n; i++)
        if (strcasecmp (p->luts[i].name, name) == 0)
            return &p->luts[i];
    return NULL;
}

int
rnd_lut_provider_count (const rnd_lut_provider_t *p)
{
    return p ? p->n : 0;
}

const rnd_lut_t *
rnd_lut_provider_at (const rnd_lut_provider_t *p, int i)
{
    return p && i >= 0 && i < p->n ? &p->luts[i] : NULL;
}

void
rnd_lut_provider_destroy (rnd_lut_provider_t **self)
{
    if (!self || !*self)
        return;
    free ((*self)->luts);
    free (*self);
    *self = NULL;
}
