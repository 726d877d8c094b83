/* jpeg_reader.h: JPEG files (libjpeg-turbo) as single-plane images. */
#ifndef FMT_JPEG_READER_H
#define FMT_JPEG_READER_H
#include "fileset.h"

/* Add the JPEG at path as one image (grey 1 channel, colour 3 channels RGB, CMYK 4). */
int fmt_jpeg_load (fmt_fileset_t *fs, const char *path, omr_err_t *err);
/* Read region (x, y, w, h) of channel `channel` by decoding scanlines up to y+h. */
int fmt_jpeg_read_region (const char *path, const fmt_image_t *img, int channel, uint32_t x, uint32_t y,
                          uint32_t w, uint32_t h, void *buf, omr_err_t *err);
#endif
