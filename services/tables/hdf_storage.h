/* hdf_storage: OMERO.tables files on HDF5 in OMERO's layout version 2, byte-compatible with what
 * omero-py's hdfstorageV2 writes through PyTables (group /OME, compound table /OME/Measurements,
 * /OME/ColumnTypes, /OME/ColumnDescriptions, masks in /OME/Measurements_masks, metadata as
 * attributes of /OME/Measurements).  One tbl_store_t is one open file held under a lock:
 * shared for readers, exclusive for the one writer.
 *
 * Row data moves through "row buffers": rows packed one after another, each row holding the
 * values of a chosen list of columns at the offsets given by tbl_rowfmt_t.  Value layout per
 * kind: ids/Long int64, Bool one byte 0/1, Double double, String `size` bytes (NUL padded),
 * FloatArray float[size], DoubleArray double[size], LongArray int64[size], Mask tbl_mask_t. */
#ifndef TBL_HDF_STORAGE_H
#define TBL_HDF_STORAGE_H
#include <stddef.h>
#include <stdint.h>
#include "omr_error.h"

typedef enum {
    TBL_FILE, TBL_IMAGE, TBL_ROI, TBL_WELL, TBL_PLATE, TBL_DATASET, TBL_LONG,
    TBL_BOOL, TBL_DOUBLE, TBL_STRING, TBL_FLOATARR, TBL_DOUBLEARR, TBL_LONGARR, TBL_MASK,
    TBL_NKINDS
} tbl_kind_t;

/* The fixed part of a MaskColumn row; the mask bytes live in the VLArray. */
typedef struct {
    int64_t i;
    int32_t z, t;
    double x, y, w, h;
} tbl_mask_t;

/* One column: name, description, kind and size (string bytes / array length, else 0). */
typedef struct {
    char *name;
    char *description;
    tbl_kind_t kind;
    size_t size;
} tbl_col_t;

/* Row layout for a list of columns (indices into the table's columns). */
typedef struct {
    size_t ncols;
    size_t *cols;       /* column indices */
    size_t *offsets;    /* byte offset of each column inside a row */
    size_t stride;      /* bytes per row */
    int file_layout;    /* rows exactly as on disk (tbl_rowfmt_init_file) */
} tbl_rowfmt_t;

/* Mask bytes of one row. */
typedef struct {
    size_t len;
    unsigned char *data;
} tbl_bytes_t;

typedef struct tbl_store tbl_store_t;

#define TBL_E_LOCK "LockTimeout"

/* The OMERO class name of a kind ("LongColumn"). */
const char *tbl_kind_name (tbl_kind_t kind);
/* Parse "LongColumn" or "::omero::grid::LongColumn"; -1 when unknown. */
int tbl_kind_parse (const char *name, tbl_kind_t *out);
/* True for kinds whose per-row value is a 64-bit id or long. */
int tbl_kind_is_long (tbl_kind_t kind);
/* True when the kind carries a size (String and the array columns). */
int tbl_kind_has_size (tbl_kind_t kind);
/* Bytes one value of this column takes in a row buffer. */
size_t tbl_col_value_size (const tbl_col_t *col);

/* Check a column list for initialize(): names non-empty, unique, not "__"-prefixed, sizes > 0. */
int tbl_cols_validate (const tbl_col_t *cols, size_t n, omr_err_t *err);
/* Free the strings of n columns and the array itself. */
void tbl_cols_free (tbl_col_t *cols, size_t n);

/* Open path; writable takes the exclusive lock (waiting up to timeout_s seconds), else a shared one.
 * create: a missing or empty file is created (only with writable). A missing file without create
 * gives ApiUsageException "Not yet initialized". */
tbl_store_t *tbl_store_open (const char *path, int writable, int create, double timeout_s, omr_err_t *err);
/* Flush (when writable), release the lock and close. */
void tbl_store_close (tbl_store_t *st);

/* 1 when /OME/Measurements, ColumnTypes and ColumnDescriptions exist. */
int tbl_store_initialized (const tbl_store_t *st);
/* Create the v2 layout with these columns (validated first); internal attributes __version and
 * __initialized are set. Fails with "Already initialized." when the table exists. */
int tbl_store_initialize (tbl_store_t *st, const tbl_col_t *cols, size_t n, omr_err_t *err);
/* Fail with "Not yet initialized" unless initialized. */
int tbl_store_check_init (const tbl_store_t *st, omr_err_t *err);
/* Columns of an initialized table. */
size_t tbl_store_ncols (const tbl_store_t *st);
const tbl_col_t *tbl_store_col (const tbl_store_t *st, size_t i);
/* Index of the column with this name, -1 when none. */
long tbl_store_find_col (const tbl_store_t *st, const char *name);
/* Committed number of rows. */
int64_t tbl_store_nrows (const tbl_store_t *st);
/* Rows per HDF5 chunk of /OME/Measurements. */
size_t tbl_store_chunk_rows (const tbl_store_t *st);
/* Modification time of the file in milliseconds since the epoch. */
int64_t tbl_store_mtime_ms (const tbl_store_t *st);
/* The path this store was opened on. */
const char *tbl_store_path (const tbl_store_t *st);

/* Build the row layout of a column list (NULL cols with n = ncols means every column). */
int tbl_rowfmt_init (tbl_rowfmt_t *fmt, const tbl_store_t *st, const size_t *cols, size_t n, omr_err_t *err);
/* The same columns at their offsets inside whole on-disk rows (stride = file row size), so reads
 * need neither conversion nor copying; falls back to tbl_rowfmt_init's layout when the file's
 * types differ from the memory types. Only for reading. */
int tbl_rowfmt_init_file (tbl_rowfmt_t *fmt, const tbl_store_t *st, const size_t *cols, size_t n, omr_err_t *err);
void tbl_rowfmt_free (tbl_rowfmt_t *fmt);

/* Read rows [start, start+count) into buf (count * fmt->stride bytes). */
int tbl_store_read_range (tbl_store_t *st, const tbl_rowfmt_t *fmt, int64_t start, size_t count,
                          void *buf, omr_err_t *err);
/* Read the given rows (any order, repeats allowed) into buf in the same order. */
int tbl_store_read_points (tbl_store_t *st, const tbl_rowfmt_t *fmt, const int64_t *rows, size_t n,
                           void *buf, omr_err_t *err);
/* Read the mask bytes of the given rows; out[i] gets malloc'd data (free with tbl_bytes_free). */
int tbl_store_read_masks (tbl_store_t *st, const int64_t *rows, size_t n, tbl_bytes_t *out, omr_err_t *err);
void tbl_bytes_free (tbl_bytes_t *b, size_t n);

/* Append a batch: begin reserves space after the committed rows, write_rows stores `count` full
 * rows (layout from tbl_rowfmt_init with every column) at batch offset `at`, write_masks stores
 * mask bytes of the same rows, commit makes the batch visible (rows are flushed first, NROWS is
 * written last) and abort forgets it. A process killed before commit leaves the old rows only. */
int tbl_store_append_begin (tbl_store_t *st, size_t total, omr_err_t *err);
int tbl_store_append_rows (tbl_store_t *st, const tbl_rowfmt_t *fmt, size_t at, size_t count,
                           const void *buf, omr_err_t *err);
int tbl_store_append_masks (tbl_store_t *st, size_t at, size_t count, const tbl_bytes_t *masks,
                            omr_err_t *err);
int tbl_store_append_commit (tbl_store_t *st, omr_err_t *err);
void tbl_store_append_abort (tbl_store_t *st);

/* Overwrite the columns of fmt in the given rows (all < nrows, checked by the caller). */
int tbl_store_write_points (tbl_store_t *st, const tbl_rowfmt_t *fmt, const int64_t *rows, size_t n,
                            const void *buf, omr_err_t *err);

/* Metadata values: attributes of /OME/Measurements. */
typedef enum { TBL_META_STR, TBL_META_INT, TBL_META_FLOAT } tbl_meta_type_t;
typedef struct {
    char *key;
    tbl_meta_type_t type;
    char *s;
    int64_t i;
    double f;
} tbl_meta_t;

/* Layout version: 2 (attribute __version) or 1 (attribute version = "v1"); -1 with err otherwise. */
int tbl_store_version (tbl_store_t *st, omr_err_t *err);
/* All user attributes (PyTables' _v_attrnamesuser, including __version/__initialized), sorted. */
int tbl_store_meta_list (tbl_store_t *st, tbl_meta_t **out, size_t *n, omr_err_t *err);
void tbl_meta_free (tbl_meta_t *m, size_t n);
/* Write attributes; replace first deletes every non-internal user attribute. */
int tbl_store_meta_write (tbl_store_t *st, const tbl_meta_t *m, size_t n, int replace, omr_err_t *err);
#endif
