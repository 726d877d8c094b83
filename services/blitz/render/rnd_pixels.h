/* rnd_pixels: OMERO pixel types and the 2-D planes the rendering engine reads.
 * A plane holds one channel's XY raster in host byte order, row-major (X fastest);
 * "bit" planes are packed 1 bit per pixel over the whole plane, most significant bit
 * first, exactly as OMERO's RawPixelsStore hands them out. */
#ifndef RND_PIXELS_H
#define RND_PIXELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "omr_error.h"

typedef enum {
    RND_INT8, RND_UINT8, RND_INT16, RND_UINT16, RND_INT32, RND_UINT32,
    RND_FLOAT, RND_DOUBLE, RND_BIT, RND_PTYPE_COUNT
} rnd_ptype_t;

/* One channel's plane (or a region-sized raster); data is borrowed, never freed here. */
typedef struct {
    rnd_ptype_t type;
    int size_x, size_y;
    const void *data;
} rnd_plane_t;

/* OMERO's name of a pixel type ("uint16" …). */
const char *rnd_ptype_name (rnd_ptype_t type);
/* Parse an OMERO pixel type name; unknown names give ValidationException/400. */
int rnd_ptype_parse (const char *name, rnd_ptype_t *out, omr_err_t *err);
/* Bits per sample (1 for "bit"). */
int rnd_ptype_bits (rnd_ptype_t type);
/* True for int8/int16/int32/float/double. */
bool rnd_ptype_signed (rnd_ptype_t type);
/* True for float and double. */
bool rnd_ptype_is_float (rnd_ptype_t type);
/* The range of the type (getPixelsTypeMin/Max); float/double give ±FLT_MAX/±DBL_MAX. */
void rnd_ptype_range (rnd_ptype_t type, double *min, double *max);
/* Bytes of a w×h raster of this type (bit: packed, rounded up); 0 on overflow. */
size_t rnd_plane_bytes (rnd_ptype_t type, int w, int h);
/* Value of sample i (row-major index) as a double. */
double rnd_plane_get (const rnd_plane_t *p, size_t i);
/* Store v into sample i of a writable raster of the given type; integer types saturate
 * to the type range and truncate toward zero, as Java's narrowing of a mean does. */
void rnd_raster_set (rnd_ptype_t type, void *data, size_t i, double v);
#endif
