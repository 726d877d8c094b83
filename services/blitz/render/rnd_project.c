/* rnd_project: maximum / mean / sum intensity projection along Z. */
#include "rnd_project.h"
#include <string.h>

const char *
rnd_proj_name (rnd_proj_t p)
{
    switch (p) {
    case RND_PROJ_MAX:  return "intmax";
    case RND_PROJ_MEAN: return "intmean";
    case RND_PROJ_SUM:  return "intsum";
    default:            return "normal";
    }
}

int
rnd_project (rnd_proj_t kind, const rnd_plane_t *planes, int n, int start, int end, int step,
             long long max_bytes, void *out, omr_err_t *err)
{
    if (kind != RND_PROJ_MAX && kind != RND_PROJ_MEAN && kind != RND_PROJ_SUM)
        return omr_err_set (err, OMR_E_API, 400, "unknown projection type %d", (int) kind);
    if (n < 1 || !planes)
        return omr_err_set (err, OMR_E_API, 400, "no planes to project");
    if (step < 1)
        return omr_err_set (err, OMR_E_API, 400, "projection stepping %d must be >= 1", step);
    if (start < 0 || end >= n || start > end)
        return omr_err_set (err, OMR_E_API, 400,
                            "projection z range %d:%d is invalid for %d z-sections (need 0 <= start <= end <= %d)",
                            start, end, n, n - 1);
    const rnd_plane_t *p0 = &planes[start];
    size_t plane_bytes = rnd_plane_bytes (p0->type, p0->size_x, p0->size_y);
    if (plane_bytes == 0)
        return omr_err_set (err, OMR_E_API, 400, "invalid plane size");
    int count = (end - start) / step + 1;
    if (max_bytes <= 0)
        max_bytes = RND_MAX_PROJECTION_BYTES;
    if ((long double) plane_bytes * count > (long double) max_bytes)
        return omr_err_set (err, OMR_E_VALIDATION, 400,
                            "projection would read %zu bytes, more than omero.pixeldata.max_projection_bytes %lld",
                            plane_bytes * (size_t) count, max_bytes);
    for (int z = start; z <= end; z += step)
        if (planes[z].type != p0->type || planes[z].size_x != p0->size_x || planes[z].size_y != p0->size_y
            || !planes[z].data)
            return omr_err_set (err, OMR_E_API, 400, "plane z=%d differs in type or size or is missing", z);
    size_t npix = (size_t) p0->size_x * (size_t) p0->size_y;
    if (p0->type == RND_BIT)
        memset (out, 0, plane_bytes);
    for (size_t i = 0; i < npix; i++) {
        double acc = kind == RND_PROJ_MAX ? rnd_plane_get (&planes[start], i) : 0;
        for (int z = start; z <= end; z += step) {
            double v = rnd_plane_get (&planes[z], i);
            if (kind == RND_PROJ_MAX) {
                if (v > acc) acc = v;
            } else
                acc += v;
        }
        if (kind == RND_PROJ_MEAN)
            acc /= count;
        rnd_raster_set (p0->type, out, i, acc);
    }
    return 0;
}
