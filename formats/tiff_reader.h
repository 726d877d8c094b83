/* tiff_reader.h: libtiff access for the format readers: open a TIFF with per-handle
 * message capture, select an IFD (or one of its SubIFDs) in O(1), describe it, and read a
 * rectangular region of one sample by decoding only the strips/tiles it touches. */
#ifndef FMT_TIFF_READER_H
#define FMT_TIFF_READER_H
#include <stdint.h>
#include "fileset.h"

typedef struct fmt_tiff fmt_tiff_t;

/* What a reader needs to know about one IFD. */
typedef struct {
    uint32_t width, height;
    uint16_t spp, bps, sample_format, photometric, planar, compression;
    int tiled;
    uint32_t tile_w, tile_h;        /* tiles, or width x rows-per-strip */
    uint32_t subfile_type;          /* NewSubfileType bits */
    int subifd_count;
    int pixtype_ok;                 /* 0 when bps/sample format has no OMERO pixel type */
    fmt_pixtype_t pixtype;
} fmt_tiffdir_t;

/* Open a TIFF/BigTIFF and index its IFDs; NULL with err naming the file on failure. */
fmt_tiff_t *fmt_tiff_open (const char *path, omr_err_t *err);
/* Close and free; sets *self_p to NULL. */
void fmt_tiff_close (fmt_tiff_t **self_p);
/* Path the handle was opened with. */
const char *fmt_tiff_path (const fmt_tiff_t *self);
/* Number of IFDs in the main chain. */
int64_t fmt_tiff_ifd_count (const fmt_tiff_t *self);
/* Make IFD ifd current (sub 0) or its SubIFD sub-1 (sub >= 1). */
int fmt_tiff_select (fmt_tiff_t *self, int64_t ifd, int sub, omr_err_t *err);
/* Describe the current IFD. */
int fmt_tiff_dir (fmt_tiff_t *self, fmt_tiffdir_t *dir, omr_err_t *err);
/* Copy of the current IFD's ImageDescription (caller frees), NULL when absent. */
char *fmt_tiff_description (fmt_tiff_t *self);
/* Copy of a string tag of the current IFD (caller frees), NULL when absent. */
char *fmt_tiff_string_tag (fmt_tiff_t *self, uint32_t tag);
/* X/Y resolution and resolution unit of the current IFD; 0 when present, -1 when not. */
int fmt_tiff_resolution (fmt_tiff_t *self, double *xres, double *yres, int *unit);
/* Append the current IFD's baseline tags to img's original metadata (prefix names the IFD);
 * with skip_description the ImageDescription is left out (OME-XML is kept elsewhere). */
void fmt_tiff_add_tags (fmt_tiff_t *self, fmt_image_t *img, const char *prefix, int skip_description);
/* Read region (x, y, w, h) of sample `sample` of the current IFD into buf (w*h pixels of
 * the IFD's pixel type, host byte order; bit images one byte 0/1 per pixel). */
int fmt_tiff_read_region (fmt_tiff_t *self, int sample, uint32_t x, uint32_t y,
                          uint32_t w, uint32_t h, void *buf, omr_err_t *err);
/* When the current IFD is one uncompressed strip run (strips back to back, chunky), give the
 * offset of its first byte and its size; 0 when so, -1 otherwise. */
int fmt_tiff_contiguous (fmt_tiff_t *self, uint64_t *offset, uint64_t *bytes);
/* Like fmt_tiff_read_region, for an uncompressed plane with the current IFD's layout stored
 * at file offset `offset` (reads only the rows the region needs). */
int fmt_tiff_read_raw (fmt_tiff_t *self, uint64_t offset, int sample, uint32_t x, uint32_t y,
                       uint32_t w, uint32_t h, void *buf, omr_err_t *err);
#endif
