/* import: OMERO's import sequence on the managed repository.
 *
 *   ManagedRepository.importFileset {files:[{path, clientPath, size}], checksumAlgorithms?,
 *       name?, description?, target?, skip?[]}
 *     -> {fileset, process, handle, templatePrefix, checksumAlgorithm, files:[{index, path, originalFileId}]}
 *     Checks every path (repository.h rules), makes the template directory, and records the
 *     Fileset, its OriginalFiles and FilesetEntries (client paths), an UploadJob (the process)
 *     and a MetadataImportJob (the handle, Submitted until verification), linked to the fileset.
 *   ImportProcess.write {process, index, offset} + bytes (raw frame 0) -> {written}
 *     Writes a chunk of file `index`; never past the size declared for it.
 *   ImportProcess.verifyUpload {process, hashes:[hex...]} -> {handle}
 *     Computes every file's checksum on the server and compares; on success the import job is
 *     queued (a row in PostgreSQL): any Blitz runs it, even after the client has gone, and a
 *     killed server's job is taken up again when a Blitz next starts.
 *   ImportProcess.cancel {process} -> {}: removes an unfinished upload and its files.
 *   Handle.getStatus {handle} -> {status, message, step, steps, fileset, images:[ids], pixels:[ids]}
 *   ManagedRepository.listRepositories {} -> {data:[{id, uuid, type, path}]}
 *   ManagedRepository.listFilesets {limit, offset, order: newest|oldest|prefix, withoutImages?,
 *       withTransfer?, check?} -> {data:[{id, prefix, images, files, transfer, owner, check?}], total}
 *   ManagedRepository.listImages {limit, offset, order} -> {data:[{id, name, fileset, files, size}], total}
 *   ManagedRepository.list {path} -> {path, data:[{name, type: dir|file, size}]} (what the caller may see)
 *   ManagedRepository.usage {objects?: ["Image:1,2", "Dataset:3" …]} -> {size, files, components}
 *   ManagedRepository.importTime {fileset} -> {jobs:[{type, status, submitted, started, finished}]}
 *   ManagedRepository.findFilesetEntries {name? | clientPath?} -> {data:[{fileset, clientPath}]}
 *   ManagedRepository.makeDir {path, parents?}, renameFileset {fileset, noMove?} (administrators)
 *
 * Import settings (target dataset, name, description, skip, transfer, attempts) are kept in the
 * MetadataImportJob's versionInfo map. Configuration: omero.fs.repo.path, omero.fs.repo.path_rules,
 * omero.checksum.supported, omero.managed.dir, and (this server's own) omero.fs.upload_timeout
 * (ms without new data before an unfinished upload is removed, default 3600000),
 * omero.fs.import_attempts (claims before a job that keeps stopping its server fails, default 3),
 * omero.fs.import_threads (import runners per Blitz, default 2).
 *
 * Any failure (bad names, wrong checksums, unreadable or unsupported files, files the metadata
 * names but the fileset lacks) leaves no Fileset, OriginalFile or file behind; the jobs keep
 * the error message, which names the file and the problem. */
#ifndef BLZ_IMPORT_H
#define BLZ_IMPORT_H
#include "blitz.h"

/* Register the operations above, prepare the repository and start the import runners. */
void *blz_import_register (blz_app_t *app);
/* Stop the import runners (a job in progress finishes first), join them and free the handle. */
void blz_import_stop (void **handle);
#endif
