/* png_reader.h: PNG files (libpng) as single-plane images. */
#ifndef FMT_PNG_READER_H
#define FMT_PNG_READER_H
#include "fileset.h"

/* Add the PNG at path as one image (grey 1 channel, grey+alpha 2, RGB 3, RGBA 4). */
int fmt_png_load (fmt_fileset_t *fs, const char *path, omr_err_t *err);
/* Read region (x, y, w, h) of channel `channel` by decoding rows up to y+h. */
int fmt_png_read_region (const char *path, const fmt_image_t *img, int channel, uint32_t x, uint32_t y,
                         uint32_t w, uint32_t h, void *buf, omr_err_t *err);
#endif
