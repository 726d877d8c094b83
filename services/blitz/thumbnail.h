/* thumbnail: OMERO's ThumbnailStore. Thumbnails are JPEGs rendered from the caller's rendering
 * settings (rendering_settings.h), scaled from the smallest resolution level still at least as
 * large as the thumbnail, recorded as Thumbnail rows (ref, mimeType, sizeX, sizeY, version of
 * the settings they were made from) and cached under <omero.data.dir>/Thumbnails; a cached file
 * is reused while the settings' version is unchanged.
 *
 *   ThumbnailStore.getThumbnail {pixelsId, sizeX, sizeY}
 *   ThumbnailStore.getThumbnailByLongestSide {pixelsId, size}
 *   ThumbnailStore.getThumbnailSet {pixelsIds:[…], sizeX, sizeY} / getThumbnailByLongestSideSet
 *       {pixelsIds:[…], size}   (map pixelsId -> JPEG, in raw frames)
 *   ThumbnailStore.thumbnailExists {pixelsId, sizeX?, sizeY?}
 *   ThumbnailStore.createThumbnails {pixelsIds:[…]} / createThumbnail {pixelsId, sizeX?, sizeY?}
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
 * caller's context; the Thumbnail row is written in it (the caller commits). */
int blz_thumb_get (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int w, int h, uint8_t **jpeg, size_t *len,
                   omr_err_t *err);
/* The same by longest side (getThumbnailByLongestSide). */
int blz_thumb_get_longest (blz_app_t *app, blz_db_t *db, int64_t pixels_id, int size, uint8_t **jpeg,
                           size_t *len, omr_err_t *err);
/* After a server-side import: default rendering settings for the image's owner and the default
 * thumbnail (omero.thumbnail size) of Pixels:pixels_id, when make_thumbnail. Runs in db's open
 * transaction. */
int blz_thumb_import_hook (blz_app_t *app, blz_db_t *db, int64_t pixels_id, bool make_thumbnail, omr_err_t *err);
#endif
