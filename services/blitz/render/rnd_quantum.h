/* rnd_quantum: OMERO's quantum map — raw intensity → window → family curve with its
 * coefficient → codomain [cdStart, cdEnd] at the QuantumDef's bit resolution, with
 * OMERO's "noise reduction" (the decile map). See README.md for the exact formulas.
 * 8- and 16-bit types (and bit) use a table over the whole type range, as OMERO's
 * Quantization_8_16_bit does; 32-bit and floating types first bin the value inside the
 * window (QuantumStrategy.getMiddleRange) and then apply the same map, as
 * Quantization_32_bit/Quantization_float do. */
#ifndef RND_QUANTUM_H
#define RND_QUANTUM_H
#include <stdint.h>
#include "omr_error.h"
#include "rnd_pixels.h"
#include "rnd_settings.h"

typedef struct {
    rnd_family_t family;
    double k;                       /* coefficient (1.0 for linear) */
    double ws, we;                  /* window, after OMERO's setWindow corrections */
    double q1, q9;                  /* decile interval */
    double a_decile, b_decile;
    double ys_norm, a_norm;         /* normalisation of the family curve over [0,255] */
    double a1;                      /* (cdEnd - cdStart) / bitResolution */
    double step;                    /* bin width of getMiddleRange (32-bit and float types) */
    int cd_start, cd_end;           /* codomain after noise-reduction clamping */
    bool transform;                 /* false for linear/polynomial with k = 1 */
    bool binned;                    /* 32-bit/float path */
    uint8_t *lut;                   /* table for 8/16-bit types, NULL otherwise */
    int lut_min;                    /* raw value of lut[0] */
    int lut_size;
    /* 32-bit and floating types: the map of every bin of getMiddleRange, so that a value costs
     * one division and a look-up. bins[i] is the map of bin i (0..n_bins-1); values below the
     * window (and NaN) give q_low, above it q_high, the window start itself q_start. */
    uint8_t *bins;
    int n_bins;
    uint8_t q_low, q_high, q_start;
} rnd_quantum_t;

/* Prepare the map of one channel binding for a pixel type; gmin/gmax are the channel's
 * global minimum/maximum (StatsInfo), used by noise reduction. A window that OMERO's
 * QuantumStrategy.setWindow would not accept (start > end, or wider than the type allows)
 * is replaced by the pixel type's range, as OMERO does; windows are clamped to that range. */
int rnd_quantum_init (rnd_quantum_t *q, const rnd_quantum_def_t *qd, const rnd_channel_binding_t *cb,
                      rnd_ptype_t type, double gmin, double gmax, omr_err_t *err);
/* Map one raw value to 0..255 (before codomain maps such as reverse intensity). */
int rnd_quantum_eval (const rnd_quantum_t *q, double v);
/* rnd_quantum_eval for 32-bit and floating types through the bin table (the same arithmetic as
 * getMiddleRange for the bin index, so the same result). */
static inline int
rnd_quantum_eval_binned (const rnd_quantum_t *q, double x)
{
    if (!(x >= q->ws))                  /* below the window, or NaN */
        return q->q_low;
    if (x > q->we)
        return q->q_high;
    if (x == q->ws)
        return q->q_start;
    double f = (x - q->ws) / q->step;
    if (!(f < q->n_bins))               /* rounding at the window end: no bin, compute it */
        return rnd_quantum_eval (q, x);
    return q->bins[(int) f];
}
/* Release the table. */
void rnd_quantum_free (rnd_quantum_t *q);

/* A small cache of prepared maps keyed on everything rnd_quantum_init reads (window, family,
 * coefficient, noise reduction, QuantumDef, pixel type, global range), so that the tiles of one
 * image, rendered in series with the same settings, do not rebuild a 65,536-entry table each.
 * Not thread-safe: one per worker. */
typedef struct rnd_qcache_t rnd_qcache_t;
/* An empty cache holding at most capacity maps (at least 1); NULL when out of memory. */
rnd_qcache_t *rnd_qcache_new (int capacity);
/* How many maps the cache holds at most. */
int rnd_qcache_capacity (const rnd_qcache_t *self);
/* Free the cache and every map in it; *self becomes NULL. */
void rnd_qcache_destroy (rnd_qcache_t **self);
/* The map for these inputs, from the cache or prepared and added to it (evicting the least
 * recently used). Owned by the cache: valid until the next call on it or its destruction. */
const rnd_quantum_t *rnd_qcache_get (rnd_qcache_t *self, const rnd_quantum_def_t *qd, const rnd_channel_binding_t *cb,
                                     rnd_ptype_t type, double gmin, double gmax, omr_err_t *err);
#endif
