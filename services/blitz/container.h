/* container: IContainer (loadContainerHierarchy, findContainerHierarchies, getImages,
 * getCollectionCount) over /rpc/v1/IContainer/<method>, with OMERO's parameter names and result
 * semantics. Everything is HQL run as the caller (row-level security decides what is visible);
 * objects come back in the JSON API's form (model_json.h).
 *
 * Arguments (JSON):
 *   loadContainerHierarchy   {"rootType": "Project"|"Dataset"|"Screen"|"Plate"|"Folder",
 *                             "ids": [ids] | null, "options": {"leaves": bool, "experimenter": id}}
 *       Project -> DatasetLinks -> Child (Dataset) -> ImageLinks -> Child (Image, with leaves);
 *       without ids also the orphaned Datasets (in no Project). Screen -> PlateLinks -> Plate
 *       (with leaves its Wells -> WellSamples -> Image); without ids also the orphaned Plates.
 *       Folder: the folder tree (ChildFolders nested; roots = folders without a parent, or
 *       the given ids) with their ImageLinks and RoiLinks (children loaded with leaves).
 *       Without leaves, Datasets carry "omero:imageLinksCountPerOwner" and Plates
 *       "omero:wellsCountPerOwner"… ({"<owner id>": count}): the link counts per owner.
 *   findContainerHierarchies {"rootType": "Project", "ids": [image ids], "options"}: the Projects
 *       and orphaned Datasets leading to those images (holding only them), and the images in no
 *       Dataset.
 *   getImages                {"rootType": "Project"|"Dataset"|"Image"|"Screen"|"Plate"|"Well"|
 *                             "Folder", "ids": [ids], "options"}: the images inside, with Pixels.
 *   getCollectionCount       {"type": "Dataset", "property": "imageLinks" (or OMERO's
 *                             "ome.model.containers.Dataset_imageLinks"), "ids": [ids]}
 *       -> {"data": {"<id>": count}} (links the caller can see).
 * "options" may also hold "group" (-1 = all the caller's groups), as may the arguments; OMERO's
 * omero.sys.Parameters form is accepted too (see blz_container_options).
 * Replies: {"data": [objects]} unless said otherwise. */
#ifndef BLZ_CONTAINER_H
#define BLZ_CONTAINER_H
#include "blitz.h"

/* Options of IContainer and IMetadata calls. */
typedef struct {
    bool leaves, orphan;
    int64_t owner;              /* -1 = anyone */
} blz_container_opts_t;

/* Read the "options" of a call: plain ({"leaves", "orphan", "experimenter" | "owner", "group"})
 * or OMERO's omero.sys.Parameters ({"map": {"leaves": true, "orphan": true}, "theFilter":
 * {"ownerId": id, "groupId": id}}, values bare or rtype-wrapped {"value": …}); the group (also
 * one given in the arguments) is applied to ctx. -1 with ApiUsageException/SecurityViolation. */
int blz_container_options (const json_t *body, blz_container_opts_t *out, blz_ctx_t *ctx, omr_err_t *err);
/* Ends a read-only IContainer or IMetadata call begun on db: rolls back, frees ids and replies
 * {"data": data} (data is taken); -1 when data is NULL (its maker set err). */
int blz_container_reply (omr_call_t *call, blz_db_t *db, json_t *ids, json_t *data);
/* Register the IContainer.* operations. */
void blz_container_register (blz_app_t *app);
/* The integer ids of a JSON array (NULL with ApiUsageException when not an array of integers;
 * an absent or null value gives an empty array when allow_none). New reference. */
json_t *blz_container_ids (const json_t *v, bool allow_none, omr_err_t *err);
#endif
