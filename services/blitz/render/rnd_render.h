/* rnd_render: OMERO's rendering of a region of one plane into an RGB buffer: per channel
 * quantization (rnd_quantum), the reverse-intensity codomain map, then greyscale (first
 * active channel in grey) or colour (additive blending of active channels' colours or
 * lookup tables, clamped at 255). Rows are split into bands rendered by parallel threads;
 * every band is computed the same way, so the output does not depend on the thread count. */
#ifndef RND_RENDER_H
#define RND_RENDER_H
#include <stdint.h>
#include "omr_error.h"
#include "rnd_lut.h"
#include "rnd_pixels.h"
#include "rnd_quantum.h"
#include "rnd_settings.h"

/* A rectangle of a plane in pixels. */
typedef struct {
    int x, y, w, h;
} rnd_region_t;

typedef struct {
    const rnd_settings_t *settings;
    const rnd_plane_t *planes;       /* settings->n_channels planes (whole planes, or just the region
                                        to render); inactive ones may have data == NULL */
    const double *global_min;        /* per-channel StatsInfo, or NULL (noise reduction then uses the window) */
    const double *global_max;
    const rnd_lut_provider_t *luts;  /* NULL: lookup tables are ignored and the channel colour is used */
    rnd_region_t region;             /* w == 0 or h == 0: the whole plane */
    int threads;                     /* 0: one per online CPU (at most 16) */
} rnd_render_req_t;

/* Render into rgb (region w × h × 3 bytes, row-major RGB). Errors: invalid settings,
 * a region outside the plane, missing or mismatched planes of active channels. */
int rnd_render (const rnd_render_req_t *req, uint8_t *rgb, omr_err_t *err);
/* rnd_render taking the channels' quantum maps from a cache (NULL: none), so that a series of
 * tiles with the same settings prepares each map once. The output is the same. */
int rnd_render_cached (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *rgb, omr_err_t *err);
/* rnd_render_cached for the greyscale model into one byte per pixel (region w × h bytes), the
 * value rnd_render gives each of R, G and B. Error for the colour model. */
int rnd_render_grey_cached (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *grey, omr_err_t *err);
#endif
