/* rnd_quantum: the quantization step of OMERO's renderer (QuantumStrategy and its maps). */
#include "rnd_quantum.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QMAX 255.0      /* QuantumStrategy.MAX */
#define DECILE 10       /* QuantumStrategy.DECILE */

/* The value maps: PolynomialMap x^k, ExponentialMap exp(x^k), LogarithmicMap ln(x) (x <= 0 → 1). */
static double
family_map (rnd_family_t f, double x, double k)
{
    switch (f) {
    case RND_FAMILY_EXPONENTIAL: return exp (pow (x, k));
    case RND_FAMILY_LOGARITHMIC: return log (x <= 0 ? 1.0 : x);
    default:                     return pow (x, k);
    }
}

/* Java's Math.round. */
static double
jround (double v)
{
    return floor (v + 0.5);
}

/* The decile map, curve and codomain of OMERO's buildLUT / _quantize for a value x. */
static int
map_value (const rnd_quantum_t *q, double x)
{
    double v;
    if (x > q->q1)
        v = x <= q->q9 ? q->a_decile * x - q->b_decile : q->cd_end;
    else
        v = q->cd_start;
    v = q->transform ? q->a_norm * (family_map (q->family, v, q->k) - q->ys_norm) : q->a_norm * (v - q->ys_norm);
    v = jround (v);
    v = jround (q->a1 * v + q->cd_start);
    /* OMERO keeps the low byte; every value the map can produce is within 0..255 except
     * for NaN (Math.round gives 0) and extreme curves, which we clamp. */
    if (isnan (v) || v < 0)
        return 0;
    return v > 255 ? 255 : (int) v;
}

/* QuantumStrategy.getMiddleRange: clamp to the window, then move the value to the middle
 * of the previous of (cdEnd - cdStart + 1) equal bins (sic), which OMERO caches. */
static double
middle_range (const rnd_quantum_t *q, double value)
{
    double min = q->ws, max = q->we;
    if (value < min) return min;
    if (value > max) return max;
    if (value == min) return min + q->step / 2;
    int v = (int) ((value - min) / q->step);
    return (min + (v - 1) * q->step + min + v * q->step) / 2;
}

int
rnd_quantum_eval (const rnd_quantum_t *q, double x)
{
    if (q->lut) {
        double i = x - q->lut_min;
        if (!(i >= 0)) i = 0;
        if (i > q->lut_size - 1) i = q->lut_size - 1;
        return q->lut[(int) i];
    }
    if (isnan (x))
        return map_value (q, q->ws);
    return map_value (q, middle_range (q, x));
}

/* QuantumStrategy.verifyInterval: start <= end and a span the type can hold. */
static bool
interval_ok (rnd_ptype_t type, double min, double max)
{
    if (!(min <= max))
        return false;
    double range = max - min;
    switch (type) {
    case RND_INT8: case RND_UINT8: return range < 0x100;
    case RND_INT16: case RND_UINT16: return range < 0x10000;
    case RND_INT32: case RND_UINT32: return range < 4294967296.0;
    default: return true;
    }
}

int
rnd_quantum_init (rnd_quantum_t *q, const rnd_quantum_def_t *qd, const rnd_channel_binding_t *cb,
                  rnd_ptype_t type, double gmin, double gmax, omr_err_t *err)
{
    memset (q, 0, sizeof *q);
    if (qd->bit_resolution <= 0 || qd->cd_start < 0 || qd->cd_end > 255 || qd->cd_start > qd->cd_end)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "invalid quantum definition");
    if (!(cb->coefficient > 0))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "coefficient must be > 0");
    if (!isfinite (cb->input_start) || !isfinite (cb->input_end))
        return omr_err_set (err, OMR_E_VALIDATION, 400, "window must be finite");
    double tmin, tmax;
    rnd_ptype_range (type, &tmin, &tmax);
    bool tabulated = type == RND_INT8 || type == RND_UINT8 || type == RND_INT16 || type == RND_UINT16
                     || type == RND_BIT;
    q->family = cb->family;
    q->k = cb->family == RND_FAMILY_LINEAR ? 1.0 : cb->coefficient;
    q->transform = !((cb->family == RND_FAMILY_LINEAR || cb->family == RND_FAMILY_POLYNOMIAL) && q->k == 1.0);

    /* QuantumStrategy.setWindow. */
    q->ws = cb->input_start;
    q->we = cb->input_end;
    if (!interval_ok (type, q->ws, q->we)) {
        q->ws = tmin;
        q->we = tmax;
    }
    if (q->ws < tmin) q->ws = tmin;
    if (q->we > tmax) q->we = tmax;

    /* Normalised curve: aNormalized = bitResolution / (f(255) - f(0)). */
    q->ys_norm = family_map (q->family, 0, q->k);
    double ye = family_map (q->family, QMAX, q->k);
    q->a_norm = qd->bit_resolution / (ye - q->ys_norm);
    q->a1 = (qd->cd_end - qd->cd_start) / (double) qd->bit_resolution;

    /* Decile map (initDecileMap). The 8/16-bit strategy takes the global range from
     * setExtent (clamped to the type, the minimum floored, both cast to int); the 32-bit
     * and float strategies never set their integer min/max, which stay 0. */
    double mn = 0, mx = 0;
    if (tabulated) {
        if (!isfinite (gmin) || gmin < tmin) gmin = tmin;
        if (!isfinite (gmax) || gmax > tmax) gmax = tmax;
        if (!interval_ok (type, gmin, gmax)) {
            gmin = tmin;
            gmax = tmax;
        }
        mn = floor (gmin);
        mx = trunc (gmax);
    }
    q->cd_start = qd->cd_start;
    q->cd_end = qd->cd_end;
    double denum = q->we - q->ws, num = QMAX, b = q->ws;
    int e = 0;
    q->q1 = mn;
    q->q9 = mx;
    if (q->ws <= mn) q->q1 = q->ws;
    if (q->we >= mx) q->q9 = q->we;
    if (cb->noise_reduction) {
        double decile = (mx - mn) / DECILE;
        q->q1 += decile;
        q->q9 -= decile;
        denum = q->q9 - q->q1;
        e = DECILE;
        num = QMAX - 2 * DECILE;
        b = q->q1;
        if (q->ws >= q->q1 && q->we > q->q9) {
            denum = q->q9 - q->ws;
            b = q->ws;
        } else if (q->ws >= q->q1 && q->we <= q->q9) {
            denum = q->we - q->ws;
            b = q->ws;
        } else if (q->ws < q->q1 && q->we <= q->q9) {
            denum = q->we - q->q1;
        }
        if (q->cd_start < DECILE) q->cd_start = DECILE;
        if (q->cd_end > QMAX - DECILE) q->cd_end = (int) QMAX - DECILE;
    }
    q->a_decile = num / denum;
    q->b_decile = q->a_decile * b - e;

    if (!tabulated) {
        q->binned = true;
        q->n_bins = qd->cd_end - qd->cd_start + 1;
        q->step = fabs (q->we - q->ws) / q->n_bins;
        q->bins = malloc ((size_t) q->n_bins);
        if (!q->bins)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory building the quantum table");
        /* The values middle_range gives, mapped: the same expressions, so the same results. */
        double min = q->ws;
        for (int i = 0; i < q->n_bins; i++)
            q->bins[i] = (uint8_t) map_value (q, (min + (i - 1) * q->step + min + i * q->step) / 2);
        q->q_low = (uint8_t) map_value (q, q->ws);
        q->q_high = (uint8_t) map_value (q, q->we);
        q->q_start = (uint8_t) map_value (q, q->ws + q->step / 2);
        return 0;
    }
    /* 8/16-bit types: tabulate over the whole type range (buildLUT): cdStart below the
     * window, cdEnd from the window end on, the map in between. */
    int size = (int) (tmax - tmin) + 1;
    uint8_t *lut = malloc ((size_t) size);
    if (!lut)
        return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory building the quantum table");
    int i0 = (int) fmax (0.0, fmin ((double) size, ceil (q->ws - tmin)));
    int i1 = (int) fmax ((double) i0, fmin ((double) size, ceil (q->we - tmin)));
    memset (lut, q->cd_start, (size_t) i0);
    for (int i = i0; i < i1; i++)
        lut[i] = (uint8_t) map_value (q, tmin + i);
    memset (lut + i1, q->cd_end, (size_t) (size - i1));
    q->lut = lut;
    q->lut_min = (int) tmin;
    q->lut_size = size;
    return 0;
}

void
rnd_quantum_free (rnd_quantum_t *q)
{
    free (q->lut);
    free (q->bins);
    q->lut = NULL;
    q->bins = NULL;
}

/* ---- the cache ------------------------------------------------------------------------------ */

/* Everything rnd_quantum_init reads. Doubles are compared bitwise-exactly through ==. */
typedef struct {
    int bit_resolution, cd_start, cd_end;
    rnd_family_t family;
    double coefficient, ws, we, gmin, gmax;
    bool noise_reduction;
    rnd_ptype_t type;
} qkey_t;

typedef struct {
    qkey_t key;
    rnd_quantum_t q;
    uint64_t used;          /* tick of the last hit; 0 = empty slot */
} qslot_t;

struct rnd_qcache_t {
    int n;
    uint64_t tick;
    qslot_t *slots;
};

rnd_qcache_t *
rnd_qcache_new (int capacity)
{
    rnd_qcache_t *c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->n = capacity > 0 ? capacity : 1;
    c->slots = calloc ((size_t) c->n, sizeof *c->slots);
    if (!c->slots) {
        free (c);
        return NULL;
    }
    return c;
}

int
rnd_qcache_capacity (const rnd_qcache_t *self)
{
    return self->n;
}

void
rnd_qcache_destroy (rnd_qcache_t **self)
{
    if (!self || !*self)
        return;
    for (int i = 0; i < (*self)->n; i++)
        rnd_quantum_free (&(*self)->slots[i].q);
    free ((*self)->slots);
    free (*self);
    *self = NULL;
}

static bool
same_double (double a, double b)
{
    return a == b || (isnan (a) && isnan (b));
}

static bool
qkey_eq (const qkey_t *a, const qkey_t *b)
{
    return a->bit_resolution == b->bit_resolution && a->cd_start == b->cd_start && a->cd_end == b->cd_end
           && a->family == b->family && a->noise_reduction == b->noise_reduction && a->type == b->type
           && same_double (a->coefficient, b->coefficient) && same_double (a->ws, b->ws) && same_double (a->we, b->we)
           && same_double (a->gmin, b->gmin) && same_double (a->gmax, b->gmax);
}

const rnd_quantum_t *
rnd_qcache_get (rnd_qcache_t *self, const rnd_quantum_def_t *qd, const rnd_channel_binding_t *cb, rnd_ptype_t type,
                double gmin, double gmax, omr_err_t *err)
{
    qkey_t k = (qkey_t) {.bit_resolution = qd->bit_resolution, .cd_start = qd->cd_start, .cd_end = qd->cd_end,
                  .family = cb->family, .coefficient = cb->coefficient, .ws = cb->input_start,
                  .we = cb->input_end, .gmin = gmin, .gmax = gmax, .noise_reduction = cb->noise_reduction,
                  .type = type};
    qslot_t *victim = &self->slots[0];
    for (int i = 0; i < self->n; i++) {
        qslot_t *s = &self->slots[i];
        if (s->used && qkey_eq (&s->key, &k)) {
            s->used = ++self->tick;
            return &s->q;
        }
        if (s->used < victim->used)
            victim = s;
    }
    rnd_quantum_t q;
    if (rnd_quantum_init (&q, qd, cb, type, gmin, gmax, err) < 0)
        return NULL;
    rnd_quantum_free (&victim->q);
    victim->key = k;
    victim->q = q;
    victim->used = ++self->tick;
    return &victim->q;
}
