/* fileset_priv.h: the insides of a fileset, shared by the per-format readers that fill it
 * (ometiff.c, tiff_series.c, imagej.c, png_reader.c, jpeg_reader.c) and by fileset.c that
 * serves reads from it. Not part of the public API. */
#ifndef FMT_FILESET_PRIV_H
#define FMT_FILESET_PRIV_H
#include "fileset.h"

/* Limits that keep a lying header from making us allocate what it claims. */
#define FMT_MAX_PLANES   (1u << 20)          /* planes (Z*C*T) per image */
#define FMT_MAX_IMAGES   4096                /* images per fileset */
#define FMT_MAX_CHUNK    ((uint64_t) 256 << 20)  /* one decoded strip or tile */
#define FMT_MAX_FILES    100000              /* files per fileset */
#define FMT_MAX_OPEN     64                  /* TIFF handles kept open per fileset */

typedef enum { FMT_FILE_TIFF, FMT_FILE_PNG, FMT_FILE_JPEG, FMT_FILE_XML } fmt_filekind_t;

/* Where one plane (z, c, t) of an image lives. */
typedef struct {
    int file;               /* index into the fileset's files */
    int64_t ifd;            /* IFD number in that file; -1 when the plane is not stored */
    int sample;             /* sample of that IFD (RGB pages give one channel per sample) */
    uint64_t raw_offset;    /* non-zero: the plane is stored uncompressed at this file offset
                             * with the layout of IFD `ifd` (ImageJ files with more images than IFDs) */
} fmt_planeref_t;

/* How the resolution levels above 0 are found. */
typedef enum {
    FMT_LEVELS_NONE,        /* one level */
    FMT_LEVELS_SUBIFD,      /* level k is SubIFD k-1 of the plane's IFD (OME-TIFF pyramids) */
    FMT_LEVELS_IFDS         /* level k is IFD level_ifds[k] of the plane's file (SVS, boxes.tiff) */
} fmt_levelkind_t;

typedef struct {
    fmt_planeref_t *refs;   /* size_z*size_c*size_t entries, index z + Z*(c + C*t) */
    fmt_levelkind_t level_kind;
    int64_t *level_ifds;    /* FMT_LEVELS_IFDS: level_count entries */
} fmt_imgsrc_t;

struct fmt_tiff;

struct fmt_fileset {
    char *format;
    int file_count;
    char **files;
    fmt_filekind_t *kinds;
    struct fmt_tiff **tiffs;        /* opened on first use, at most FMT_MAX_OPEN at a time */
    uint64_t *last_use;             /* per file: use_clock of the last access */
    uint64_t use_clock;
    int open_count;
    int image_count;
    fmt_image_t *images;
    fmt_imgsrc_t *srcs;
    int instrument_count;
    fmt_instrument_t *instruments;
    char *ome_xml;
};

/* Add a used file (or find it); returns its index or -1 with err set. */
int fmt_fileset_add_file (fmt_fileset_t *fs, const char *path, fmt_filekind_t kind, omr_err_t *err);
/* Append a zeroed image (instrument -1, one level); NULL with err set. *src receives its source. */
fmt_image_t *fmt_fileset_add_image (fmt_fileset_t *fs, fmt_imgsrc_t **src, omr_err_t *err);
/* Once sizes are set: allocate channels and plane references (all "not stored"). */
int fmt_image_alloc (fmt_image_t *img, fmt_imgsrc_t *src, const char *file, omr_err_t *err);
/* Index of plane (z, c, t) into fmt_imgsrc_t.refs. */
size_t fmt_image_ref_index (const fmt_image_t *img, uint32_t z, uint32_t c, uint32_t t);
/* Allocate the level table with n levels. */
int fmt_image_set_levels (fmt_image_t *img, int n, omr_err_t *err);
/* Append an original-metadata pair (copied). */
int fmt_image_add_kv (fmt_image_t *img, const char *key, const char *value);
/* Set a quantity. */
void fmt_quantity_set (fmt_quantity_t *q, double value, const char *unit);
/* The TIFF handle of file i, opened on first use; valid until the next call (the least
 * recently used handle is closed when too many are open). */
struct fmt_tiff *fmt_fileset_tiff (fmt_fileset_t *fs, int file, omr_err_t *err);
/* 0 when order is a valid dimension order ("XYZCT", "XYCZT" … all five letters, XY first). */
int fmt_order_valid (const char *order);
/* Split plane index `index` of the stored order into z, c, t (order must be valid). */
void fmt_order_zct (const char *order, uint32_t Z, uint32_t C, uint32_t T, uint64_t index,
                    uint32_t *z, uint32_t *c, uint32_t *t);
/* Last path component of a path (pointer into it). */
const char *fmt_basename (const char *path);
#endif
