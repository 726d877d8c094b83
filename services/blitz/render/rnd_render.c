/* rnd_render: region rendering with row bands over pthreads. */
#include "rnd_render.h"
#include "rnd_quantum.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16

/* One rendered channel: its quantum map and the RGB contribution of each quantized value
 * (reverse intensity, colour with alpha or lookup table already folded in). */
typedef struct {
    const rnd_quantum_t *q;         /* own, or a cache's */
    rnd_quantum_t own;
    const rnd_plane_t *plane;
    uint8_t add[3][256];
} chan_job_t;

typedef struct {
    chan_job_t *jobs;
    int n_jobs;
    rnd_region_t r;
    int row0, row1;         /* rows of the region this band renders */
    uint8_t *rgb;
    bool failed;            /* out of memory in the band */
} band_t;

/* Quantize one row of the region into qrow. */
static void
quantize_row (const chan_job_t *j, const rnd_region_t *r, int row, uint8_t *restrict qrow)
{
    /* A local copy of the table pointer: stores through qrow (a byte pointer) could alias it. */
    const uint8_t *restrict lut = j->q->lut;
    const rnd_plane_t *p = j->plane;
    size_t base = (size_t) (r->y + row) * (size_t) p->size_x + (size_t) r->x;
    const rnd_quantum_t *q = j->q;
    int w = r->w;
    switch (p->type) {
    case RND_UINT8: {
        const uint8_t *s = (const uint8_t *) p->data + base;
        for (int x = 0; x < w; x++) qrow[x] = lut[s[x]];
        break;
    }
    case RND_INT8: {
        const int8_t *s = (const int8_t *) p->data + base;
        for (int x = 0; x < w; x++) qrow[x] = lut[s[x] + 128];
        break;
    }
    case RND_UINT16: {
        const uint16_t *s = (const uint16_t *) p->data + base;
        for (int x = 0; x < w; x++) qrow[x] = lut[s[x]];
        break;
    }
    case RND_INT16: {
        const int16_t *s = (const int16_t *) p->data + base;
        for (int x = 0; x < w; x++) qrow[x] = lut[s[x] + 32768];
        break;
    }
    default:
        for (int x = 0; x < w; x++)
            qrow[x] = (uint8_t) rnd_quantum_eval (q, rnd_plane_get (p, base + (size_t) x));
        break;
    }
}

static void *
render_band (void *arg)
{
    band_t *b = arg;
    int w = b->r.w > 0 ? b->r.w : 1;
    /* Contributions are summed in 16 bits (at most 255 per channel, so no overflow below
     * 257 channels; more are summed in chunks) and clamped once per row. */
    uint8_t *qrow = malloc ((size_t) w);
    uint16_t *acc = malloc ((size_t) w * 3 * sizeof *acc);
    if (!qrow || !acc) {
        free (qrow);
        free (acc);
        b->failed = true;
        return NULL;
    }
    for (int row = b->row0; row < b->row1; row++) {
        uint8_t *out = b->rgb + (size_t) row * (size_t) b->r.w * 3;
        if (b->n_jobs == 0)
            memset (out, 0, (size_t) b->r.w * 3);
        for (int c0 = 0; c0 < b->n_jobs; c0 += 256) {
            if (c0 == 0)
                memset (acc, 0, (size_t) b->r.w * 3 * sizeof *acc);
            else
                for (int k = 0; k < 3 * b->r.w; k++)
                    acc[k] = out[k];
            for (int c = c0; c < b->n_jobs && c < c0 + 256; c++) {
                const chan_job_t *j = &b->jobs[c];
                quantize_row (j, &b->r, row, qrow);
                const uint8_t *ar = j->add[0], *ag = j->add[1], *ab = j->add[2];
                for (int x = 0; x < b->r.w; x++) {
                    uint8_t v = qrow[x];
                    acc[3 * x] += ar[v];
                    acc[3 * x + 1] += ag[v];
                    acc[3 * x + 2] += ab[v];
                }
            }
            for (int k = 0; k < 3 * b->r.w; k++)
                out[k] = (uint8_t) (acc[k] > 255 ? 255 : acc[k]);
        }
    }
    free (qrow);
    free (acc);
    return NULL;
}

/* Fill the contribution tables of one channel, following RenderHSBRegionTask.renderPackedInt
 * (colour: (int)(c/255.0 * v), times the float alpha when any active channel has alpha < 255)
 * and GreyScaleStrategy (v in all three components). */
static void
fill_tables (chan_job_t *j, const rnd_settings_t *s, const rnd_channel_binding_t *cb, bool grey,
             bool alphaless, const rnd_lut_t *lut)
{
    double ratio[3] = { cb->red / 255.0, cb->green / 255.0, cb->blue / 255.0 };
    float alpha = (float) cb->alpha / 255.0f;
    for (int v = 0; v < 256; v++) {
        int d = v;
        if (cb->reverse) {
            d = s->qdef.cd_end - v;
            if (d < 0) d = 0;
        }
        for (int k = 0; k < 3; k++) {
            int add;
            if (grey)
                add = d;
            else if (lut)
                add = (k == 0 ? lut->r : k == 1 ? lut->g : lut->b)[d];
            else {
                add = (int) (ratio[k] * d);
                if (!alphaless)
                    add = (int) ((float) add * alpha);
            }
            j->add[k][v] = (uint8_t) (add < 0 ? 0 : add > 255 ? 255 : add);
        }
    }
}

int
rnd_render (const rnd_render_req_t *req, uint8_t *rgb, omr_err_t *err)
{
    return rnd_render_cached (req, NULL, rgb, err);
}

int
rnd_render_cached (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *rgb, omr_err_t *err)
{
    const rnd_settings_t *s = req->settings;
    if (!s || !req->planes || !rgb)
        return omr_err_set (err, OMR_E_API, 400, "render: settings, planes and output are required");
    if (rnd_settings_validate_stored (s, err))
        return -1;
    /* The plane geometry comes from the first active channel (or channel 0). */
    int ref = 0;
    for (int c = 0; c < s->n_channels; c++)
        if (s->channels[c].active) { ref = c; break; }
    const rnd_plane_t *p0 = &req->planes[ref];
    if (p0->size_x < 1 || p0->size_y < 1)
        return omr_err_set (err, OMR_E_API, 400, "render: plane size %dx%d is invalid", p0->size_x, p0->size_y);
    rnd_region_t r = req->region;
    if (r.w == 0 || r.h == 0)
        r = (rnd_region_t) { 0, 0, p0->size_x, p0->size_y };
    if (r.x < 0 || r.y < 0 || r.w < 0 || r.h < 0 || r.x > p0->size_x - r.w || r.y > p0->size_y - r.h)
        return omr_err_set (err, OMR_E_API, 400, "render: region %d,%d,%d,%d lies outside the %dx%d plane",
                            r.x, r.y, r.w, r.h, p0->size_x, p0->size_y);

    bool grey = s->model == RND_MODEL_GREYSCALE, alphaless = true;
    int n_jobs = 0;
    for (int c = 0; c < s->n_channels; c++)
        if (s->channels[c].active) {
            if (s->channels[c].alpha != 255) alphaless = false;
            if (!grey || n_jobs == 0) n_jobs++;
        }
    chan_job_t *jobs = calloc ((size_t) (n_jobs ? n_jobs : 1), sizeof *jobs);
    if (!jobs)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory");
    int rc = -1, made = 0;
    for (int c = 0; c < s->n_channels && made < n_jobs; c++) {
        const rnd_channel_binding_t *cb = &s->channels[c];
        if (!cb->active)
            continue;
        const rnd_plane_t *p = &req->planes[c];
        if (!p->data || p->type != p0->type || p->size_x != p0->size_x || p->size_y != p0->size_y) {
            omr_err_set (err, OMR_E_API, 400, "render: the plane of active channel %d is missing or differs "
                         "in type or size from channel %d", c, ref);
            goto done;
        }
        chan_job_t *j = &jobs[made];
        double gmin = req->global_min ? req->global_min[c] : cb->input_start;
        double gmax = req->global_max ? req->global_max[c] : cb->input_end;
        /* Maps handed out earlier in this call stay valid while the cache holds n_jobs of them. */
        if (cache && n_jobs <= rnd_qcache_capacity (cache))
            j->q = rnd_qcache_get (cache, &s->qdef, cb, p->type, gmin, gmax, err);
        else
            j->q = rnd_quantum_init (&j->own, &s->qdef, cb, p->type, gmin, gmax, err) < 0 ? NULL : &j->own;
        if (!j->q) {
            omr_err_prefix (err, "channel %d: ", c);
            goto done;
        }
        made++;
        j->plane = p;
        const rnd_lut_t *lut = cb->lut[0] ? rnd_lut_provider_get (req->luts, cb->lut) : NULL;
        fill_tables (j, s, cb, grey, alphaless, lut);
    }

    int nt = req->threads;
    if (nt <= 0) {
        long cpus = sysconf (_SC_NPROCESSORS_ONLN);
        nt = cpus > 0 ? (int) cpus : 1;
    }
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > r.h) nt = r.h > 0 ? r.h : 1;
    band_t bands[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    bool started[MAX_THREADS] = { false };
    for (int i = 0; i < nt; i++)
        bands[i] = (band_t) { jobs, n_jobs, r, (int) ((long) r.h * i / nt), (int) ((long) r.h * (i + 1) / nt), rgb, false };
    for (int i = 1; i < nt; i++)
        started[i] = pthread_create (&tids[i], NULL, render_band, &bands[i]) == 0;
    render_band (&bands[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i])
            pthread_join (tids[i], NULL);
        else
            render_band (&bands[i]);   /* no thread available: do the band here */
    }
    rc = 0;
    for (int i = 0; i < nt; i++)
        if (bands[i].failed)
            rc = omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory rendering");
done:
    for (int i = 0; i < made; i++)
        rnd_quantum_free (&jobs[i].own);
    free (jobs);
    return rc;
}
