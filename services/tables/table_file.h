/* table_file: the OriginalFile behind a table, in the database Blitz uses. Every function runs
 * inside a transaction begun as the caller (services/blitz/db.h), so PostgreSQL's row-level
 * security decides what the caller may see, and omero_rights() what they may edit, exactly as
 * for RawFileStore and IQuery. */
#ifndef TBL_TABLE_FILE_H
#define TBL_TABLE_FILE_H
#include "omr_config.h"
#include "omr_error.h"
#include "services/blitz/context.h"
#include "services/blitz/db.h"
#include <stdbool.h>
#include <stdint.h>

#define TBL_MIMETYPE "OMERO.tables"

typedef struct {
    int64_t id, owner, group;
    int rights;                 /* omero_rights bits: 1 edit, 2 annotate, 4 delete */
    bool in_repo;               /* a file of a managed repository (read-only for tables) */
    bool hashed;                /* the row holds a checksum (cleared by every write) */
    char mimetype[256];
    char *path;                 /* the file on disk (malloc'ed) */
} tbl_file_t;

/* Create the OriginalFile row of a new table (mimetype OMERO.tables, name, path) owned by the
 * caller in their current group, with an Event and EventLog row; returns its id or -1 with err
 * (ApiUsageException without a current group, SecurityViolation in a group they may not write). */
int64_t tbl_file_create (blz_db_t *db, const blz_ctx_t *ctx, const char *name, const char *path, omr_err_t *err);
/* Look up OriginalFile id as the transaction's caller into f: NotFoundException (404) when they
 * cannot see it; with write, SecurityViolation (403) when they may not edit it (or it lies in a
 * managed repository). f->path is where RawFileStore keeps the bytes. */
int tbl_file_load (blz_db_t *db, const blz_ctx_t *ctx, omr_config_t *config, int64_t id, bool write, tbl_file_t *f,
                   omr_err_t *err);
/* Record the file's size and mtime after a write; with hash, also its SHA1-160 checksum (else
 * the checksum is cleared, as it no longer matches). Logs an UPDATE of the OriginalFile. */
int tbl_file_record (blz_db_t *db, const tbl_file_t *f, bool hash, omr_err_t *err);
/* Delete the OriginalFile row (needs delete rights; ValidationException while annotations
 * still use it). The bytes are the caller's to remove after commit. */
int tbl_file_remove (blz_db_t *db, const tbl_file_t *f, omr_err_t *err);
/* Free what f holds. */
void tbl_file_clear (tbl_file_t *f);
#endif
