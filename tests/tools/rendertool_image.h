/* rendertool_image: loading raw planes described by a JSON document for omero-rendertool
 * (format in rendertool_main.c's header comment), and small file helpers. */
#ifndef RENDERTOOL_IMAGE_H
#define RENDERTOOL_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include "omr_error.h"
#include "../../services/blitz/render/rnd_pixels.h"
#include "../../services/blitz/render/rnd_settings.h"

typedef struct {
    rnd_pixels_t px;
    rnd_channel_meta_t *meta;
    uint8_t *data;          /* all planes, host byte order */
    size_t plane_bytes;
} image_t;

/* Read a whole file (malloc'ed). */
uint8_t *rt_read_file (const char *path, size_t *len, omr_err_t *err);
/* Write a whole file. */
int rt_write_file (const char *path, const uint8_t *d, size_t n, omr_err_t *err);
/* Load the JSON description and its raw planes (converted to host byte order). */
int rt_load_image (const char *path, image_t *im, omr_err_t *err);
/* Free what rt_load_image allocated. */
void rt_free_image (image_t *im);
/* The plane (z, c, t) of a loaded image. */
rnd_plane_t rt_plane_at (const image_t *im, int z, int c, int t);
#endif
