/* rnd_pixels: pixel type table and sample access for the rendering engine. */
#include "rnd_pixels.h"
#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int bits;
    bool is_signed, is_float;
    double min, max;
} ptypes[RND_PTYPE_COUNT] = {
    [RND_INT8]   = { "int8",   8,  true,  false, -128.0, 127.0 },
    [RND_UINT8]  = { "uint8",  8,  false, false, 0.0, 255.0 },
    [RND_INT16]  = { "int16",  16, true,  false, -32768.0, 32767.0 },
    [RND_UINT16] = { "uint16", 16, false, false, 0.0, 65535.0 },
    [RND_INT32]  = { "int32",  32, true,  false, -2147483648.0, 2147483647.0 },
    [RND_UINT32] = { "uint32", 32, false, false, 0.0, 4294967295.0 },
    [RND_FLOAT]  = { "float",  32, true,  true,  -FLT_MAX, FLT_MAX },
    [RND_DOUBLE] = { "double", 64, true,  true,  -DBL_MAX, DBL_MAX },
    [RND_BIT]    = { "bit",    1,  false, false, 0.0, 1.0 },
};

const char *
rnd_ptype_name (rnd_ptype_t type)
{
    return (unsigned) type < RND_PTYPE_COUNT ? ptypes[type].name : "unknown";
}

int
rnd_ptype_parse (const char *name, rnd_ptype_t *out, omr_err_t *err)
{
    for (int i = 0; name && i < RND_PTYPE_COUNT; i++)
        if (strcasecmp (name, ptypes[i].name) == 0) {
            *out = (rnd_ptype_t) i;
            return 0;
        }
    return omr_err_set (err, OMR_E_VALIDATION, 400,
                        "unknown pixel type '%s' (expected int8, uint8, int16, uint16, int32, uint32, "
                        "float, double or bit)", name ? name : "(null)");
}

int
rnd_ptype_bits (rnd_ptype_t type)
{
    return (unsigned) type < RND_PTYPE_COUNT ? ptypes[type].bits : 0;
}

bool
rnd_ptype_signed (rnd_ptype_t type)
{
    return (unsigned) type < RND_PTYPE_COUNT && ptypes[type].is_signed;
}

bool
rnd_ptype_is_float (rnd_ptype_t type)
{
    return (unsigned) type < RND_PTYPE_COUNT && ptypes[type].is_float;
}

void
rnd_ptype_range (rnd_ptype_t type, double *min, double *max)
{
    if ((unsigned) type >= RND_PTYPE_COUNT)
        type = RND_UINT8;
    if (min) *min = ptypes[type].min;
    if (max) *max = ptypes[type].max;
}

size_t
rnd_plane_bytes (rnd_ptype_t type, int w, int h)
{
    if (w <= 0 || h <= 0 || (unsigned) type >= RND_PTYPE_COUNT)
        return 0;
    size_t n = (size_t) w * (size_t) h;
    if (n / (size_t) w != (size_t) h)
        return 0;
    if (type == RND_BIT)
        return (n + 7) / 8;
    size_t bytes = (size_t) ptypes[type].bits / 8;
    if (n > SIZE_MAX / bytes)
        return 0;
    return n * bytes;
}

double
rnd_plane_get (const rnd_plane_t *p, size_t i)
{
    const void *d = p->data;
    switch (p->type) {
    case RND_INT8:   return ((const int8_t *) d)[i];
    case RND_UINT8:  return ((const uint8_t *) d)[i];
    case RND_INT16:  return ((const int16_t *) d)[i];
    case RND_UINT16: return ((const uint16_t *) d)[i];
    case RND_INT32:  return ((const int32_t *) d)[i];
    case RND_UINT32: return ((const uint32_t *) d)[i];
    case RND_FLOAT:  return ((const float *) d)[i];
    case RND_DOUBLE: return ((const double *) d)[i];
    case RND_BIT:    return (((const uint8_t *) d)[i >> 3] >> (7 - (i & 7))) & 1;
    default:         return 0;
    }
}

/* Truncate toward zero and saturate to [lo, hi]; NaN becomes 0. */
static double
trunc_sat (double v, double lo, double hi)
{
    if (isnan (v))
        return 0;
    v = trunc (v);
    return v < lo ? lo : v > hi ? hi : v;
}

void
rnd_raster_set (rnd_ptype_t type, void *d, size_t i, double v)
{
    double lo, hi;
    rnd_ptype_range (type, &lo, &hi);
    switch (type) {
    case RND_INT8:   ((int8_t *) d)[i] = (int8_t) trunc_sat (v, lo, hi); break;
    case RND_UINT8:  ((uint8_t *) d)[i] = (uint8_t) trunc_sat (v, lo, hi); break;
    case RND_INT16:  ((int16_t *) d)[i] = (int16_t) trunc_sat (v, lo, hi); break;
    case RND_UINT16: ((uint16_t *) d)[i] = (uint16_t) trunc_sat (v, lo, hi); break;
    case RND_INT32:  ((int32_t *) d)[i] = (int32_t) trunc_sat (v, lo, hi); break;
    case RND_UINT32: ((uint32_t *) d)[i] = (uint32_t) trunc_sat (v, lo, hi); break;
    case RND_FLOAT:  ((float *) d)[i] = (float) v; break;
    case RND_DOUBLE: ((double *) d)[i] = v; break;
    case RND_BIT: {
        uint8_t *b = (uint8_t *) d + (i >> 3), m = (uint8_t) (0x80 >> (i & 7));
        if (trunc_sat (v, 0, 1) != 0) *b |= m; else *b &= (uint8_t) ~m;
        break;
    }
    default: break;
    }
}
