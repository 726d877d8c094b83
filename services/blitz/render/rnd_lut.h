/* rnd_lut: ImageJ-style lookup tables (.lut files) as OMERO's LutReaderFactory reads them:
 * NIH Image binary tables with the 32-byte "ICOL" header, raw 768-byte (or 970-byte)
 * tables of 256 reds, 256 greens, 256 blues, and text tables of 3 (or 4, with an index
 * column) columns × 256 rows, optionally with a header row. A provider loads every
 * *.lut file of a configured directory (OMERO: lib/scripts/luts) keyed by file name. */
#ifndef RND_LUT_H
#define RND_LUT_H
#include <stdint.h>
#include "omr_error.h"
#include "rnd_settings.h"

typedef struct {
    char name[RND_LUT_NAME_MAX];
    uint8_t r[256], g[256], b[256];
} rnd_lut_t;

typedef struct rnd_lut_provider rnd_lut_provider_t;

/* Read one .lut file; a file none of the three readers understands is an error. */
int rnd_lut_read_file (const char *path, rnd_lut_t *out, omr_err_t *err);
/* Load every *.lut file in dir (unreadable tables are skipped, as OMERO does). */
rnd_lut_provider_t *rnd_lut_provider_new (const char *dir, omr_err_t *err);
/* The table named `name` (case-insensitive file name), or NULL. */
const rnd_lut_t *rnd_lut_provider_get (const rnd_lut_provider_t *p, const char *name);
/* Number of tables and the i-th one (sorted by name), for listings. */
int rnd_lut_provider_count (const rnd_lut_provider_t *p);
const rnd_lut_t *rnd_lut_provider_at (const rnd_lut_provider_t *p, int i);
/* Free and set *self to NULL. */
void rnd_lut_provider_destroy (rnd_lut_provider_t **self);
#endif
