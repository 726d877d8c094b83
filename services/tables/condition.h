/* condition: the getWhereList condition language (PyTables/numexpr syntax) compiled once per call
 * into a typed expression tree and evaluated vector-wise over blocks of rows, reading only the
 * columns the condition names.  Types follow numexpr: bool, long (int64), double, bytes string. */
#ifndef TBL_CONDITION_H
#define TBL_CONDITION_H
#include <jansson.h>
#include <stdint.h>
#include "hdf_storage.h"
#include "omr_error.h"

typedef struct tbl_cond tbl_cond_t;

/* Compile `expr` against the columns of st. vars maps names to JSON numbers/booleans (constants)
 * or strings (the name of a column, as OMERO resolves string variables). NULL with err set to
 * ApiUsageException "Bad condition: ..." on a syntax, name or type error. */
tbl_cond_t *tbl_cond_compile (const char *expr, json_t *vars, const tbl_store_t *st, omr_err_t *err);
/* Columns the condition reads (table column indices, no repeats). */
const size_t *tbl_cond_cols (const tbl_cond_t *c, size_t *n);
/* Evaluate over n rows laid out by fmt (which must hold every column of tbl_cond_cols);
 * out[i] = 1 where the condition holds. n may not exceed tbl_cond_block_rows. */
int tbl_cond_eval (tbl_cond_t *c, const void *rows, const tbl_rowfmt_t *fmt, size_t n, uint8_t *out, omr_err_t *err);
/* The largest n tbl_cond_eval accepts (fixed at compile time). */
size_t tbl_cond_block_rows (const tbl_cond_t *c);
void tbl_cond_free (tbl_cond_t *c);

/* getWhereList: indices of rows in range(start, stop, step) where the condition holds, ascending.
 * As in OMERO, stop 0 and step 0 stand for None and PyTables' range rules follow: with both None
 * only row `start` is examined; otherwise Python slice semantics (negative values count from the
 * end, stop None = end, step None = 1). *rows is malloc'd. Memory use is one block of rows. */
int tbl_where_list (tbl_store_t *st, const char *expr, json_t *vars, int64_t start, int64_t stop, int64_t step,
                    int64_t **rows, size_t *n, omr_err_t *err);
#endif
