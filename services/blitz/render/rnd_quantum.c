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

int
rnd_quantum_eval (const rnd_quantum_t *q, double x)
{
    if (q->lut) {
        double i = x - q->lut_min;
        if (i < 0) i = 0;
        if (i > q->lut_size - 1) i = q->lut_size - 1;
        return q->lut[(int) i];
    }
    if (isnan (x) || x < q->ws)
        return q->cd_start;
    if (x >= q->we)
        return q->cd_end;
    double v;
    if (x > q->q1)
        v = x <= q->q9 ? q->a_decile * x - q->b_decile : q->cd_end;
    else
        v = q->cd_start;
    v = q->transform ? q->a_norm * (family_map (q->family, v, q->k) - q->ys_norm) : q->a_norm * (v - q->ys_norm);
    v = jround (v);
    v = jround (q->a1 * v + q->cd_start);
    if (isnan (v) || v < 0)
        return 0;
    return v > 255 ? 255 : (int) v;
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
    if (cb->input_start > cb->input_end)
        return omr_err_set (err, OMR_E_VALIDATION, 400, "window start %g is greater than window end %g",
                            cb->input_start, cb->input_end);
    q->family = cb->family;
    q->k = cb->family == RND_FAMILY_LINEAR ? 1.0 : cb->coefficient;
    q->ws = cb->input_start;
    q->we = cb->input_end;
    q->transform = !((cb->family == RND_FAMILY_LINEAR || cb->family == RND_FAMILY_POLYNOMIAL) && q->k == 1.0);

    /* Normalised curve: aNormalized = bitResolution / (f(255) - f(0)). */
    q->ys_norm = family_map (q->family, 0, q->k);
    double ye = family_map (q->family, QMAX, q->k);
    q->a_norm = qd->bit_resolution / (ye - q->ys_norm);
    q->a1 = (qd->cd_end - qd->cd_start) / (double) qd->bit_resolution;

    /* Decile map (Quantization_8_16_bit.initDecileMap); the global range is truncated to
     * integers as OMERO's int min/max fields do. */
    double mn = trunc (gmin), mx = trunc (gmax);
    if (!isfinite (mn) || !isfinite (mx) || mn > mx) {
        mn = trunc (q->ws);
        mx = trunc (q->we);
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

    /* 8/16-bit types: tabulate the map over the whole type range. */
    if (type == RND_INT8 || type == RND_UINT8 || type == RND_INT16 || type == RND_UINT16 || type == RND_BIT) {
        double lo, hi;
        rnd_ptype_range (type, &lo, &hi);
        int size = (int) (hi - lo) + 1;
        uint8_t *lut = malloc ((size_t) size);
        if (!lut)
            return omr_err_set (err, OMR_E_INTERNAL, 500, "out of memory building the quantum table");
        /* Below the window the map is cdStart, from the window end on cdEnd: fill those
         * parts directly and evaluate only inside the window. */
        int i0 = (int) fmax (0.0, fmin ((double) size, ceil (q->ws - lo)));
        int i1 = (int) fmax ((double) i0, fmin ((double) size, ceil (q->we - lo)));
        memset (lut, q->cd_start, (size_t) i0);
        for (int i = i0; i < i1; i++)
            lut[i] = (uint8_t) rnd_quantum_eval (q, lo + i);
        memset (lut + i1, q->cd_end, (size_t) (size - i1));
        q->lut = lut;
        q->lut_min = (int) lo;
        q->lut_size = size;
    }
    return 0;
}

void
rnd_quantum_free (rnd_quantum_t *q)
{
    free (q->lut);
    q->lut = NULL;
}
