/* thumbnail: OMERO's ThumbnailStore. Thumbnails are JPEGs rendered from the caller's rendering
 * settings (rendering_settings.h), scaled from the smallest resolution level still at least as
 * large as the thumbnail, recorded as Thumbnail rows (ref, mimeType, sizeX, sizeY, version of
 * the settings they were made from) and cached under <omero.data.dir>/Thumbnails; a cached file
 * is reused while the settings' version is unchanged.
 *
 *   ThumbnailStore.getThumbnail {pixelsId, sizeX, sizeY}
 *   ThumbnailStore.getThumbnailByLongestSide {pixelsId, size}
 *   ThumbnailStore.getThumbnailSet {pixelsIds:[…], sizeX, sizeY} / getThumbnailByLongestSideSet
 *       {pixelsIds:[…], size, encoding?}: {"thumbnails": {"<id>": {offset, length, sizeX, sizeY}},
 *       "errors": {"<id>": message}} with the JPEGs concatenated in raw frame 0 (or, with
 *       encoding "base64", {"<id>": {data, length, sizeX, sizeY}} and no raw frame)
 *   ThumbnailStore.thumbnailExists {pixelsId, sizeX?, sizeY?}
 *   ThumbnailStore.createThumbnails {pixelsIds:[…]} / createThumbnailsByLongestSideSet
 *       {pixelsIds, size} / createThumbnail {pixelsId, sizeX?, sizeY?}
 * Sizes are 1..BLZ_THUMB_MAX; anything else is a 400. getThumbnail keeps the aspect ratio: the
 * reply's sizeX/sizeY give the size of the JPEG.
 */
#ifndef BLZ_THUMBNAIL_H
#define BLZ_THUMBNAIL_H
#include "blitz.h"
#include <stddef.h>
#include <stdint.h>

/* omero.thumbnail default longest side and the largest size a client may ask for. */
#define BLZ_THUMB_DEFAULT 96
#define BLZ_THUMB_MAX 1024

/* Register ThumbnailStore.* on the server. */
void blz_thumb_register (blz_app_t *app);

/* A JPEG thumbnail of the image's Pixels fitting w x h (aspect kept, as OMERO), from the
 * caller's settings; cached under <omero.data.dir>/Thumbnails and reused while the settings are
 * unchanged. *jpeg is malloc'ed (caller frees). db's transaction is already begun with the
 * caller's context. When the thumbnail is made (not cached) a Thumbnail row is written in that
 * transaction: commit it (a rollback leaves an unreferenced file, never a wrong thumbnail). */
int blz_thumb_get (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int w, int h, uint8_t **jpeg, size_t *len,
                   omr_err_t *err);
/* The same by longest side (getThumbnailByLongestSide). */
int blz_thumb_get_longest (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int size, uint8_t **jpeg,
                           size_t *len, omr_err_t *err);
/* One entry of blz_thumb_get_many: pixels_id in; jpeg (malloc'ed, caller frees), len and the
 * thumbnail's size out, or err set (NotFoundException, ResourceError …) for this entry alone. */
typedef struct {
    int64_t pixels_id;
    uint8_t *jpeg;
    size_t len;
    int size_x, size_y;
    omr_err_t err;
} blz_thumb_t;

/* Thumbnails of many pixels at once, by longest side w (longest) or fitting w x h: cached ones
 * are found with two queries for the whole list, the others made as blz_thumb_get makes them.
 * -1 only when the request as a whole fails (bad size, database error: roll back); errors of
 * single entries (unreadable pixels) are in items[i].err. Write rows as blz_thumb_get does. */
int blz_thumb_get_many (blz_app_t *app, blz_db_t *db, blz_thumb_t *items, int n, bool longest, int w, int h,
                        omr_err_t *err);
/* After a server-side import of Image:image_id: default rendering settings for the caller (the
 * image's owner) when they have none, and the default thumbnail (96 longest side) when
 * make_thumbnail. Runs in db's open transaction; a thumbnail that cannot be made from the file
 * (ResourceError, ValidationException) is logged and does not fail the import. */
int blz_thumb_import_image (blz_app_t *app, blz_db_t *db, int64_t image_id, bool make_thumbnail, omr_err_t *err);
#endif
