/* graph: OMERO's asynchronous commands for graph requests (graph_rules.h does the work).
 *
 *   Command.submit {request: {"@type": "omero.cmd.Delete2" | "Chgrp2" | "Chown2" | "DiskUsage2" |
 *                  "SkipHead" | "DoAll" (requests: [...] in one transaction), targetObjects: {"Image": [1, 2]}, childOptions: [{includeType,
 *                  excludeType, includeNs, excludeNs}], dryRun, groupId, userId, startFrom, request}}
 *                  -> {handle}
 *   Command.status {handle}   -> {handle, type, state: RUNNING|FINISHED|FAILURE|CANCELLED, steps,
 *                                currentStep, startTime, finishTime (ms), cancelled}
 *   Command.response {handle} -> the response (Delete2Response deletedObjects …, or ERR with
 *                                category, name, parameters.message) once the handle is done
 *   Command.cancel {handle}   -> {cancelled: bool} (a running request stops before its commit)
 *   Command.cleanse {dryRun}  -> {removed: [paths], pending: n}: administrators only; removes the
 *                                files that deleted rows left (recorded in graph_pending_file
 *                                before the commit) and files of the repository directories
 *                                (ManagedRepository, Files, Thumbnails, Pixels) that no row names
 *
 * A request runs on its own thread and database connection in one transaction; its handle is a
 * row of graph_handle (any replica answers status and response). Files of deleted rows are
 * recorded in graph_pending_file inside the transaction and removed from disk after the commit,
 * so a crash in between leaves only files that Command.cleanse removes. */
#ifndef BLZ_GRAPH_H
#define BLZ_GRAPH_H
#include "blitz.h"

/* Register Command.* on the server. */
void blz_graph_register (blz_app_t *app);
#endif
