/* rnd_encode: encoders for rendered RGB buffers (JPEG with libjpeg-turbo, PNG with libpng,
 * TIFF with libtiff, all in memory) and the area-average scaler used for thumbnails. */
#ifndef RND_ENCODE_H
#define RND_ENCODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "omr_error.h"

typedef enum { RND_FMT_JPEG, RND_FMT_PNG, RND_FMT_TIFF } rnd_format_t;

/* The webgateway's default compression quality (q=0.9). */
#define RND_DEFAULT_QUALITY 0.9

/* MIME type of a format ("image/jpeg" …). */
const char *rnd_format_mime (rnd_format_t f);
/* libjpeg quality 1..100 for a quality given as 0..1 (the webgateway's q=: round(q*100)) or,
 * above 1, as percent 1..100 (capped); at least 1. */
int rnd_jpeg_quality (double q);
/* Encode w×h RGB (row-major, 3 bytes per pixel). *out is malloc'ed; the caller frees it.
 * quality (0..1, or percent above 1; see rnd_jpeg_quality) is only used for JPEG. */
int rnd_encode (rnd_format_t f, const uint8_t *rgb, int w, int h, double quality, uint8_t **out,
                size_t *out_len, omr_err_t *err);
int rnd_encode_jpeg (const uint8_t *rgb, int w, int h, int quality_1_100, uint8_t **out, size_t *out_len,
                     omr_err_t *err);

/* A reusable JPEG encoder: one libjpeg-turbo handle and its output buffer, kept across calls
 * (one per worker; not thread-safe). It uses libjpeg-turbo's fast integer DCT, which a server
 * answering tiles can afford at the webgateway's qualities. */
typedef struct rnd_jpeg_t rnd_jpeg_t;
/* A new encoder; NULL (err set) when libjpeg-turbo cannot start. */
rnd_jpeg_t *rnd_jpeg_new (omr_err_t *err);
/* Free the encoder; *self becomes NULL. */
void rnd_jpeg_destroy (rnd_jpeg_t **self);
/* rnd_encode, using enc for JPEG (enc NULL: as rnd_encode). */
int rnd_encode_with (rnd_jpeg_t *enc, rnd_format_t f, const uint8_t *rgb, int w, int h, double quality,
                     uint8_t **out, size_t *out_len, omr_err_t *err);
/* A one-component JPEG of w×h grey bytes (what the greyscale model renders: R = G = B), which
 * decodes to the same pixels as the RGB one and costs less to encode and to send. */
int rnd_encode_grey_jpeg (rnd_jpeg_t *enc, const uint8_t *grey, int w, int h, double quality, uint8_t **out,
                          size_t *out_len, omr_err_t *err);
int rnd_encode_png (const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, omr_err_t *err);
int rnd_encode_tiff (const uint8_t *rgb, int w, int h, uint8_t **out, size_t *out_len, omr_err_t *err);

/* Area-average (box) resampling of an RGB image to dw×dh: every destination pixel is the
 * mean of the source area it covers, fractional coverage weighted, rounded to nearest. */
int rnd_scale_rgb (const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, omr_err_t *err);
/* Thumbnail size by longest side as OMERO's ThumbnailBean computes it: the longer side
 * becomes `longest`, the other is truncated (int)(side * longest / longer), at least 1. */
int rnd_thumbnail_size (int sx, int sy, int longest, int *w, int *h, omr_err_t *err);
#endif
