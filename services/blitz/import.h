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
 *
 * Any failure (bad names, wrong checksums, unreadable or unsupported files, files the metadata
 * names but the fileset lacks) leaves no Fileset, OriginalFile or file behind; the jobs keep
 * the error message, which names the file and the problem. */
#ifndef BLZ_IMPORT_H
#define BLZ_IMPORT_H
#include "blitz.h"

/* Register the operations above, prepare the repository and start the import runners. */
void blz_import_register (blz_app_t *app);
#endif
