/* table_api: the omero.grid.Table methods as functions from JSON arguments to a JSON result, each
 * acting on one table file path (open, lock, work, close per call), so that a server only has to
 * route a request to tbl_api_call.  JSON shapes are documented in services/tables/README.md. */
#ifndef TBL_TABLE_API_H
#define TBL_TABLE_API_H
#include <jansson.h>
#include "omr_error.h"

typedef struct {
    double lock_timeout_s;     /* wait this long for the file lock (default 5 s) */
    int omit_row_numbers;      /* omero.tables.include_row_numbers = false */
} tbl_api_opts_t;

/* One Table method: path of the table file, arguments object (may be NULL for none); returns a
 * new reference (JSON null for void methods) or NULL with err set to the OMERO exception. */
typedef json_t *(*tbl_api_fn) (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);

typedef struct {
    const char *name;          /* OMERO method name, e.g. "getWhereList" */
    tbl_api_fn fn;
    int writes;                /* 1 when the method modifies the file */
} tbl_api_method_t;

/* The method table (initialize, addData, getHeaders, getNumberOfRows, read, readCoordinates, slice,
 * getWhereList, update, getMetadata, getAllMetadata, setMetadata, setAllMetadata, delete). */
const tbl_api_method_t *tbl_api_methods (size_t *n);
/* Find a method by name; NULL when unknown. */
const tbl_api_method_t *tbl_api_find (const char *name);
/* Look up and call a method; unknown names give ApiUsageException. */
json_t *tbl_api_call (const char *path, const char *method, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);

json_t *tbl_api_initialize (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_add_data (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_get_headers (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_get_number_of_rows (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_read (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_read_coordinates (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_slice (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_get_where_list (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_update (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_get_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_get_all_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_set_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_set_all_metadata (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
json_t *tbl_api_delete (const char *path, json_t *args, const tbl_api_opts_t *opts, omr_err_t *err);
#endif
