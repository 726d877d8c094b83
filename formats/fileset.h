/* fileset.h: the public API of the image format readers.
 *
 * A fileset is what OMERO imports as one unit: the files that together encode one or more
 * images (a single TIFF, a multi-file OME-TIFF set with or without a companion .ome file,
 * a PNG, a JPEG).  fmt_fileset_open() takes ANY file of the set, detects the format from
 * the content (never the extension), resolves every used file, and fills plain read-only
 * metadata structs (fmt_image_t) that mirror OMERO's Image / Pixels / Channel / PlaneInfo.
 * Pixels are read on demand, region by region, decoding only the strips or tiles that a
 * region touches; nothing plane-sized is ever held in memory by the library.
 *
 * Supported: TIFF and BigTIFF through libtiff (every compression libtiff decodes, strips or
 * tiles, chunky or planar, 8/16/32-bit integer, 32/64-bit float, 1-bit (type bit), and packed
 * 2-7 bit (as uint8) or 9-15 bit (as uint16) unsigned samples), OME-TIFF (OME-XML
 * 2016-06 through libxml2; multi-file sets, BinaryOnly and .companion.ome metadata, SubIFD
 * pyramids), ImageJ hyperstacks, separate-IFD pyramids (Aperio SVS, generic tiled pyramids),
 * PNG (libpng) and JPEG (libjpeg-turbo) as single planes.
 *
 * Buffers are in host byte order; pixel type "bit" is returned one byte per pixel (0 or 1).
 * Each TIFF handle keeps its last decoded strip/tile, so reading the channels of an RGB tile
 * one after the other decodes it once; at most 64 files of a fileset are open at a time.
 * Threads: one handle may be used by one thread at a time; distinct handles may be used by
 * distinct threads concurrently (no global state; libtiff messages go to per-handle
 * handlers and end up in the omr_err_t of the failing call).
 *
 * Typical use (import, RawPixelsStore, rendering):
 *
 *     omr_err_t err = { 0 };
 *     fmt_fileset_t *fs = fmt_fileset_open (path, &err);       // NULL: err.msg says why
 *     for (int i = 0; fs && i < fmt_fileset_image_count (fs); i++) {
 *         const fmt_image_t *im = fmt_fileset_image (fs, i);
 *         size_t n = fmt_image_region_bytes (im, 256, 256);
 *         void *buf = malloc (n);
 *         // level 0, plane z=0 c=0 t=0, the 256x256 tile at (512, 0)
 *         if (fmt_fileset_read_region (fs, i, 0, 0, 0, 0, 512, 0, 256, 256, buf, n, &err) < 0) …
 *         free (buf);
 *     }
 *     fmt_fileset_destroy (&fs);
 *
 * Levels: fmt_image_t.levels[k] gives each level's size and native tile; regions are in
 * that level's pixel coordinates. Reading whole native tiles is cheapest. PNG and JPEG have
 * no random access: every region read decodes from the top of the image down to the
 * region's last row, so read those as whole planes. Errors: ApiUsageException for bad arguments (plane or
 * region out of range, small buffer), ValidationException for bad files, NotFoundException
 * for missing files. The test tool tests/tools/imgdump_main.c shows every call in use. */
#ifndef FMT_FILESET_H
#define FMT_FILESET_H
#include <stddef.h>
#include <stdint.h>
#include "omr_error.h"

/* OMERO pixel types, in OMERO's order. */
typedef enum {
    FMT_PT_INT8, FMT_PT_UINT8, FMT_PT_INT16, FMT_PT_UINT16, FMT_PT_INT32, FMT_PT_UINT32,
    FMT_PT_FLOAT, FMT_PT_DOUBLE, FMT_PT_BIT
} fmt_pixtype_t;

/* A value with a unit symbol as OMERO stores it ("µm", "nm", "s", "ms", "reference frame"). */
typedef struct {
    int set;                /* 0 when the metadata does not give this value */
    double value;
    char unit[24];
} fmt_quantity_t;

/* One channel (OMERO Channel + LogicalChannel). */
typedef struct {
    char *name;             /* NULL when unknown */
    char *fluor;            /* NULL when unknown */
    fmt_quantity_t emission, excitation;
    int has_color;          /* 1 when color is given */
    int32_t color;          /* OME colour: RGBA packed into a signed 32-bit int (R in the top byte) */
    int samples_per_pixel;  /* OME SamplesPerPixel of the Channel element (3 for an RGB channel) */
} fmt_channel_t;

/* Per-plane acquisition info (OMERO PlaneInfo), only for planes the metadata describes. */
typedef struct {
    uint32_t z, c, t;
    fmt_quantity_t delta_t, exposure_time, position_x, position_y, position_z;
} fmt_plane_t;

/* One resolution level; level 0 is full resolution. tile_w x tile_h is the native chunk
 * (the TIFF tile, or width x rows-per-strip for strips, or the whole plane). */
typedef struct {
    uint32_t size_x, size_y;
    uint32_t tile_w, tile_h;
} fmt_level_t;

/* One "original metadata" entry. */
typedef struct {
    char *key;
    char *value;
} fmt_kv_t;

/* Instrument basics from OME-XML. Strings are NULL when absent. */
typedef struct {
    char *id, *manufacturer, *model, *immersion;
    int has_magnification, has_lens_na;
    double nominal_magnification, lens_na;
} fmt_objective_t;

typedef struct {
    char *id, *manufacturer, *model, *type;
} fmt_detector_t;

typedef struct {
    char *id;
    int objective_count;
    fmt_objective_t *objectives;
    int detector_count;
    fmt_detector_t *detectors;
} fmt_instrument_t;

/* Metadata of one image (OMERO Image + Pixels). Owned by the fileset; read-only. */
typedef struct {
    char *name;                 /* never NULL */
    char *description;          /* NULL when absent */
    char *acquisition_date;     /* ISO 8601 "YYYY-MM-DDTHH:MM:SS", NULL when absent */
    uint32_t size_x, size_y, size_z, size_c, size_t;
    fmt_pixtype_t pixel_type;
    char dimension_order[8];    /* "XYZCT" etc. (order of the stored planes) */
    fmt_quantity_t physical_size_x, physical_size_y, physical_size_z, time_increment;
    int significant_bits;
    int rgb;                    /* channels come from the samples of one colour TIFF page */
    int interleaved;            /* those samples are stored interleaved (chunky) */
    fmt_channel_t *channels;    /* size_c entries */
    int plane_count;
    fmt_plane_t *planes;        /* plane_count entries */
    int level_count;            /* >= 1 */
    fmt_level_t *levels;
    int instrument;             /* index into the fileset's instruments, -1 when none */
    int original_count;
    fmt_kv_t *original;         /* TIFF tags, ImageJ keys, PNG text … as key/value pairs */
} fmt_image_t;

typedef struct fmt_fileset fmt_fileset_t;

/* OMERO's name for a pixel type ("uint16"). */
const char *fmt_pixtype_name (fmt_pixtype_t type);
/* Bytes one pixel takes in a read buffer (bit: 1). */
int fmt_pixtype_bytes (fmt_pixtype_t type);
/* Parse an OMERO/OME pixel type name; 0 on success, -1 when unknown. */
int fmt_pixtype_parse (const char *name, fmt_pixtype_t *type);

/* Open the fileset that the file at path belongs to; NULL with err filled on failure
 * (the message names the file and the problem). */
fmt_fileset_t *fmt_fileset_open (const char *path, omr_err_t *err);
/* Close every file of the fileset and free it; sets *self_p to NULL. */
void fmt_fileset_destroy (fmt_fileset_t **self_p);

/* Format name: "OME-TIFF", "TIFF", "ImageJ TIFF", "Aperio SVS", "PNG" or "JPEG". */
const char *fmt_fileset_format (const fmt_fileset_t *self);
/* Number of files the fileset uses (Bio-Formats' used files). */
int fmt_fileset_file_count (const fmt_fileset_t *self);
/* Path of used file i (as resolved from the opened path), NULL when out of range. */
const char *fmt_fileset_file (const fmt_fileset_t *self, int i);
/* Number of images (series). */
int fmt_fileset_image_count (const fmt_fileset_t *self);
/* Metadata of image i, NULL when out of range. */
const fmt_image_t *fmt_fileset_image (const fmt_fileset_t *self, int i);
/* Number of instruments described by the metadata. */
int fmt_fileset_instrument_count (const fmt_fileset_t *self);
/* Instrument i, NULL when out of range. */
const fmt_instrument_t *fmt_fileset_instrument (const fmt_fileset_t *self, int i);
/* 1 when image stores pixels in used file `file` or takes its metadata from it (OMERO's
 * PixelsOriginalFileMap), else 0. */
int fmt_fileset_image_uses_file (const fmt_fileset_t *self, int image, int file);
/* The OME-XML text of an OME-TIFF fileset (for "original metadata"), NULL otherwise. */
const char *fmt_fileset_ome_xml (const fmt_fileset_t *self);

/* Bytes of a w x h region of image at its pixel type. */
size_t fmt_image_region_bytes (const fmt_image_t *image, uint32_t w, uint32_t h);

/* Read region (x, y, w, h) of plane (z, c, t) of image at resolution level into buf
 * (row-major, w*h pixels, host byte order). buf_size must be at least
 * fmt_image_region_bytes(). Reads only the strips/tiles the region needs. */
int fmt_fileset_read_region (fmt_fileset_t *self, int image, int level,
                             uint32_t z, uint32_t c, uint32_t t,
                             uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                             void *buf, size_t buf_size, omr_err_t *err);

/* Minimum and maximum of plane (z, c, t) at full resolution, computed tile by tile with a
 * bounded buffer (OMERO StatsInfo globalMin/globalMax for that channel and plane). */
int fmt_fileset_plane_minmax (fmt_fileset_t *self, int image, uint32_t z, uint32_t c, uint32_t t,
                              double *min, double *max, omr_err_t *err);
#endif
