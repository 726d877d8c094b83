/* rnd_render: region rendering with row bands over pthreads. */
#include "rnd_render.h"
#include "rnd_quantum.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16

/* One rendered channel: its quantum map and the RGB contribution of each quantized value
 * (reverse intensity, colour with alpha or lookup table already folded in), also packed in one
 * word per value, 10 bits per component, so that a pixel costs one look-up and one addition. */
typedef struct {
    const rnd_quantum_t *q;         /* own, or a cache's */
    rnd_quantum_t own;
    const rnd_plane_t *plane;
    uint8_t add[3][256];
    uint32_t packed[256];           /* add[0][v] | add[1][v] << 10 | add[2][v] << 20 */
    bool identity0;                 /* add[0][v] == v for every v (grey, not reversed) */
} chan_job_t;

typedef struct {
    chan_job_t *jobs;
    int n_jobs;
    rnd_region_t r;
    int row0, row1;         /* rows of the region this band renders */
    uint8_t *rgb;
    bool grey_out;          /* one byte per pixel (greyscale model, at most one channel) */
    bool failed;            /* out of memory in the band */
} band_t;

/* Add (or, when first, store) one row of a channel's packed contributions into acc: the raw
 * value indexes the quantum table, whose value indexes the packed contributions. 8/16-bit
 * types index the tables directly; other types go through rnd_quantum_eval via qrow. */
static void
accumulate_row (const chan_job_t *j, const rnd_region_t *r, int row, bool first, uint32_t *restrict acc,
                uint8_t *restrict qrow)
{
    /* Local copies of the table pointers: stores through acc could otherwise alias them. */
    const uint8_t *restrict lut = j->q->lut;
    const uint32_t *restrict pk = j->packed;
    const rnd_plane_t *p = j->plane;
    size_t base = (size_t) (r->y + row) * (size_t) p->size_x + (size_t) r->x;
    int w = r->w;
#define ACCUMULATE(T, OFF)                                                                                            \
    do {                                                                                                              \
        const T *src = (const T *) p->data + base;                                                                    \
        if (first)                                                                                                    \
            for (int x = 0; x < w; x++) acc[x] = pk[lut[(int) src[x] + (OFF)]];                                       \
        else                                                                                                          \
            for (int x = 0; x < w; x++) acc[x] += pk[lut[(int) src[x] + (OFF)]];                                      \
    } while (0)
    switch (p->type) {
    case RND_UINT8: ACCUMULATE (uint8_t, 0); return;
    case RND_INT8: ACCUMULATE (int8_t, 128); return;
    case RND_UINT16: ACCUMULATE (uint16_t, 0); return;
    case RND_INT16: ACCUMULATE (int16_t, 32768); return;
    default: break;
    }
#undef ACCUMULATE
    const rnd_quantum_t *q = j->q;
#define BINNED(T)                                                                                                     \
    do {                                                                                                              \
        const T *src = (const T *) p->data + base;                                                                    \
        for (int x = 0; x < w; x++) qrow[x] = (uint8_t) rnd_quantum_eval_binned (q, (double) src[x]);                 \
    } while (0)
    switch (q->bins ? p->type : RND_BIT) {
    case RND_INT32: BINNED (int32_t); break;
    case RND_UINT32: BINNED (uint32_t); break;
    case RND_FLOAT: BINNED (float); break;
    case RND_DOUBLE: BINNED (double); break;
    default:
        for (int x = 0; x < w; x++)
            qrow[x] = (uint8_t) rnd_quantum_eval (q, rnd_plane_get (p, base + (size_t) x));
        break;
    }
#undef BINNED
    if (first)
        for (int x = 0; x < w; x++) acc[x] = pk[qrow[x]];
    else
        for (int x = 0; x < w; x++) acc[x] += pk[qrow[x]];
}

/* One row of a greyscale rendering of an 8/16-bit type straight into grey bytes: the raw value
 * indexes the quantum table, whose value indexes the channel's grey contribution (identity unless
 * reversed). False for other types (the caller goes the general way). */
static bool
grey_row (const chan_job_t *j, const rnd_region_t *r, int row, uint8_t *restrict g)
{
    const uint8_t *restrict lut = j->q->lut;
    const uint8_t *restrict a0 = j->add[0];
    const rnd_plane_t *p = j->plane;
    size_t base = (size_t) (r->y + row) * (size_t) p->size_x + (size_t) r->x;
    int w = r->w;
    bool identity = j->identity0;
#define GREY(T, OFF)                                                                                                  \
    do {                                                                                                              \
        const T *src = (const T *) p->data + base;                                                                    \
        if (identity)                                                                                                 \
            for (int x = 0; x < w; x++) g[x] = lut[(int) src[x] + (OFF)];                                             \
        else                                                                                                          \
            for (int x = 0; x < w; x++) g[x] = a0[lut[(int) src[x] + (OFF)]];                                         \
    } while (0)
    switch (p->type) {
    case RND_UINT8: GREY (uint8_t, 0); return true;
    case RND_INT8: GREY (int8_t, 128); return true;
    case RND_UINT16: GREY (uint16_t, 0); return true;
    case RND_INT16: GREY (int16_t, 32768); return true;
    default: return false;
    }
#undef GREY
}

/* Clamp the packed sums of a row to 0..255 and store them as RGB. A single channel's sums
 * need no clamp. Local restrict pointers: the compiler may not otherwise keep w in a register
 * across byte stores. */
static void
unpack_row (const uint32_t *restrict acc, uint8_t *restrict out, int w, bool clamp)
{
    if (!clamp) {
        for (int x = 0; x < w; x++) {
            uint32_t v = acc[x];
            out[3 * x] = (uint8_t) v;
            out[3 * x + 1] = (uint8_t) (v >> 10);
            out[3 * x + 2] = (uint8_t) (v >> 20);
        }
        return;
    }
    for (int x = 0; x < w; x++) {
        uint32_t v = acc[x], r = v & 1023, g = (v >> 10) & 1023, bl = v >> 20;
        out[3 * x] = (uint8_t) (r > 255 ? 255 : r);
        out[3 * x + 1] = (uint8_t) (g > 255 ? 255 : g);
        out[3 * x + 2] = (uint8_t) (bl > 255 ? 255 : bl);
    }
}

/* Two to four channels of one 8/16-bit type in a single pass: the packed contributions are
 * summed in a register and clamped, with no accumulator row. False when not applicable. */
static bool
fused_row (const chan_job_t *jobs, int n, const rnd_region_t *r, int row, uint8_t *restrict out)
{
    if (n < 2 || n > 4)
        return false;
    rnd_ptype_t type = jobs[0].plane->type;
    if (type != RND_UINT16 && type != RND_UINT8)
        return false;
    const void *src[4];
    const uint8_t *lut[4];
    const uint32_t *pk[4];
    for (int c = 0; c < n; c++) {
        const rnd_plane_t *p = jobs[c].plane;
        if (p->type != type || !jobs[c].q->lut)
            return false;
        size_t base = (size_t) (r->y + row) * (size_t) p->size_x + (size_t) r->x;
        src[c] = type == RND_UINT16 ? (const void *) ((const uint16_t *) p->data + base)
                                    : (const void *) ((const uint8_t *) p->data + base);
        lut[c] = jobs[c].q->lut;
        pk[c] = jobs[c].packed;
    }
    int w = r->w;
#define TERM(T, c) pk[c][lut[c][((const T *) src[c])[x]]]
#define STORE                                                                                                         \
    do {                                                                                                              \
        uint32_t rr = v & 1023, gg = (v >> 10) & 1023, bb = v >> 20;                                                 \
        out[3 * x] = (uint8_t) (rr > 255 ? 255 : rr);                                                                 \
        out[3 * x + 1] = (uint8_t) (gg > 255 ? 255 : gg);                                                             \
        out[3 * x + 2] = (uint8_t) (bb > 255 ? 255 : bb);                                                             \
    } while (0)
#define FUSED(T)                                                                                                      \
    do {                                                                                                              \
        if (n == 2)                                                                                                   \
            for (int x = 0; x < w; x++) { uint32_t v = TERM (T, 0) + TERM (T, 1); STORE; }                            \
        else if (n == 3)                                                                                              \
            for (int x = 0; x < w; x++) { uint32_t v = TERM (T, 0) + TERM (T, 1) + TERM (T, 2); STORE; }              \
        else                                                                                                          \
            for (int x = 0; x < w; x++) {                                                                             \
                uint32_t v = TERM (T, 0) + TERM (T, 1) + TERM (T, 2) + TERM (T, 3);                                   \
                STORE;                                                                                                \
            }                                                                                                         \
    } while (0)
    if (type == RND_UINT16)
        FUSED (uint16_t);
    else
        FUSED (uint8_t);
#undef FUSED
#undef STORE
#undef TERM
    return true;
}

static void *
render_band (void *arg)
{
    band_t *b = arg;
    int w = b->r.w > 0 ? b->r.w : 1;
    /* Contributions are summed in 10-bit fields: the first 4 channels (4 × 255 < 1024), then
     * groups of 3 on top of the clamped result so far (255 + 3 × 255 < 1024). Contributions are
     * never negative, so clamping in between gives the same as clamping the whole sum. */
    uint8_t *qrow = malloc ((size_t) w);
    uint32_t *acc = malloc ((size_t) w * sizeof *acc);
    if (!qrow || !acc) {
        free (qrow);
        free (acc);
        b->failed = true;
        return NULL;
    }
    for (int row = b->row0; row < b->row1; row++) {
        if (b->grey_out) {
            uint8_t *restrict g = b->rgb + (size_t) row * (size_t) b->r.w;
            int n = b->r.w;
            if (b->n_jobs == 0) {
                memset (g, 0, (size_t) n);
                continue;
            }
            if (grey_row (&b->jobs[0], &b->r, row, g))
                continue;
            /* Grey contributions are the same in all three fields: keep the first. */
            accumulate_row (&b->jobs[0], &b->r, row, true, acc, qrow);
            for (int x = 0; x < n; x++)
                g[x] = (uint8_t) acc[x];
            continue;
        }
        uint8_t *out = b->rgb + (size_t) row * (size_t) b->r.w * 3;
        if (b->n_jobs == 0)
            memset (out, 0, (size_t) b->r.w * 3);
        if (fused_row (b->jobs, b->n_jobs, &b->r, row, out))
            continue;
        for (int c0 = 0; c0 < b->n_jobs;) {
            int c1 = c0 == 0 ? 4 : c0 + 3;
            if (c1 > b->n_jobs) c1 = b->n_jobs;
            if (c0 > 0)
                for (int x = 0; x < b->r.w; x++)
                    acc[x] = out[3 * x] | (uint32_t) out[3 * x + 1] << 10 | (uint32_t) out[3 * x + 2] << 20;
            for (int c = c0; c < c1; c++)
                accumulate_row (&b->jobs[c], &b->r, row, c == 0, acc, qrow);
            unpack_row (acc, out, b->r.w, c1 - c0 + (c0 > 0) > 1);
            c0 = c1;
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
        j->packed[v] = j->add[0][v] | (uint32_t) j->add[1][v] << 10 | (uint32_t) j->add[2][v] << 20;
    }
    j->identity0 = true;
    for (int v = 0; v < 256; v++)
        j->identity0 = j->identity0 && j->add[0][v] == v;
}

int
rnd_render (const rnd_render_req_t *req, uint8_t *rgb, omr_err_t *err)
{
    return rnd_render_cached (req, NULL, rgb, err);
}

static int render_impl (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *out, bool grey_out,
                        omr_err_t *err);

int
rnd_render_cached (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *rgb, omr_err_t *err)
{
    return render_impl (req, cache, rgb, false, err);
}

int
rnd_render_grey_cached (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *grey, omr_err_t *err)
{
    if (req->settings && req->settings->model != RND_MODEL_GREYSCALE)
        return omr_err_set (err, OMR_E_API, 400, "render: one byte per pixel needs the greyscale model");
    return render_impl (req, cache, grey, true, err);
}

static int
render_impl (const rnd_render_req_t *req, rnd_qcache_t *cache, uint8_t *rgb, bool grey_out, omr_err_t *err)
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
        bands[i] = (band_t) { jobs, n_jobs, r, (int) ((long) r.h * i / nt), (int) ((long) r.h * (i + 1) / nt), rgb,
                              grey_out, false };
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
