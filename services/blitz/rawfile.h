/* rawfile: RawFileStore over the grid — the bytes of OriginalFiles under OMERO's permission
 * rules. Files imported into the managed repository (repo = its UUID) are read from there and
 * are read-only; other OriginalFiles (created with IUpdate, for attachments and scripts) live in
 * omero.data.dir/Files/<id> and may be written by whoever may edit them.
 *
 *   RawFileStore.size {fileId} -> {value}
 *   RawFileStore.read {fileId, offset?, length?} -> bytes (raw frame 0; at most 64 MiB a call)
 *   RawFileStore.write {fileId, offset} + bytes -> {written}
 *   RawFileStore.save {fileId} -> {size, hash}: records size and SHA1-160 of the written file
 *   RawFileStore.exists {fileId} -> {value} */
#ifndef BLZ_RAWFILE_H
#define BLZ_RAWFILE_H
#include "blitz.h"

/* Register RawFileStore.* on the server. */
void blz_rawfile_register (blz_app_t *app);
/* The on-disk path of an OriginalFile row (malloc'ed): the repository's file when repo_uuid is
 * the managed repository's, else omero.data.dir/Files/<id>. NULL with err when it would lie
 * outside its directory. */
char *blz_rawfile_path (omr_config_t *config, int64_t id, const char *repo, const char *path, const char *name,
                        omr_err_t *err);
#endif
