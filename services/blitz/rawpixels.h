/* rawpixels: RawPixelsStore over the grid. Pixels are read from the original files in the
 * managed repository through formats/ (fmt_fileset_read_region) and returned as OMERO returns
 * them: big-endian, X fastest, planes in XYZCT order, as the reply's raw frame 0. Every call
 * names its pixels (`pixelsId`; OMERO's setPixelsId state is carried by the client):
 *
 *   getPlane {pixelsId, z, c, t, level?}            getTile {…, x, y, w, h, level?}
 *   getRow {pixelsId, y, z, c, t}                   getCol {pixelsId, x, z, c, t}
 *   getStack {pixelsId, c, t}                       getTimepoint {pixelsId, t}
 *   getHypercube {pixelsId, offset:[x,y,z,c,t], size:[…], step?:[…]}
 *   getResolutionLevels, getResolutionDescriptions, getTileSize, getByteWidth, isSigned,
 *   isFloat, getPlaneSize, getRowSize, getStackSize, getTimepointSize, getTotalSize,
 *   getPixels ({pixelsId} -> {pixelsId, imageId, sizeX … pixelsType, levels})
 *
 * `level` 0 is full resolution (getResolutionDescriptions lists the levels from full
 * resolution down); OMERO's `resolutionLevel` (levels-1 = full resolution) is accepted too.
 * Pixels the caller may not read are NotFoundException, as if they did not exist. */
#ifndef BLZ_RAWPIXELS_H
#define BLZ_RAWPIXELS_H
#include "blitz.h"

#include "formats/fileset.h"

/* Register RawPixelsStore.* on the server. */
void *blz_rawpixels_register (blz_app_t *app);
/* Free what blz_rawpixels_register made (call after the server stopped). */
void blz_rawpixels_free (void **handle);

/* Pixels opened for another Blitz service (rendering, thumbnails): read regions with
 * fmt_fileset_read_region (set, series, level, z, c, t, …) in host byte order. */
typedef struct {
    int64_t pixels_id, image_id, fileset;
    int series;                 /* the image's index in its fileset */
    fmt_fileset_t *set;
    const fmt_image_t *image;   /* sizes, type, levels */
} blz_pixels_t;

/* Open Pixels:pixels_id as the caller of db's open transaction may see it (begun with the
 * caller's context; NotFoundException when invisible or without files); close with
 * blz_pixels_close. */
int blz_pixels_open (blz_app_t *app, blz_db_t *db, int64_t pixels_id, blz_pixels_t *out, omr_err_t *err);
/* Close what blz_pixels_open opened. */
void blz_pixels_close (blz_pixels_t *px);
#endif
