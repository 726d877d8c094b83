/* rnd_project: OMERO's intensity projections (ProjectionService) of one channel's Z stack
 * into a plane of the same pixel type: maximum, mean and sum over z = start, start+step, …
 * ≤ end (inclusive). Mean and sum are accumulated in double precision; the result is
 * stored in the pixel type truncated toward zero and saturated to the type's range. */
#ifndef RND_PROJECT_H
#define RND_PROJECT_H
#include <stddef.h>
#include "omr_error.h"
#include "rnd_pixels.h"

typedef enum { RND_PROJ_NORMAL, RND_PROJ_MAX, RND_PROJ_MEAN, RND_PROJ_SUM } rnd_proj_t;

/* OMERO's default omero.pixeldata.max_projection_bytes. */
#define RND_MAX_PROJECTION_BYTES 268435456LL

/* "intmax" etc. for a projection type. */
const char *rnd_proj_name (rnd_proj_t p);
/* Project planes[start..end step step] (all of one type and size) into `out`, which must
 * hold rnd_plane_bytes(type, w, h) bytes. max_bytes limits the bytes read (0 = OMERO's
 * default); exceeding it is an error, as is an empty or out-of-range z interval. */
int rnd_project (rnd_proj_t kind, const rnd_plane_t *planes, int n_planes, int start, int end, int step,
                 long long max_bytes, void *out, omr_err_t *err);
#endif
