/* repository: OMERO.fs's managed repository on disk. Imports go below
 * omero.managed.dir (default omero.data.dir/ManagedRepository) into a new directory made from
 * the omero.fs.repo.path template (every documented term: %user% %userId% %group% %groupId%
 * %perms% %institution[:default]% %year% %month% %monthname% %day% %time% %session%
 * %sessionId% %thread% %hash[:digits]% %increment[:digits]% %subdirs[:digits]%), and client
 * file names are accepted only within the omero.fs.repo.path_rules restrictions. Every path
 * the server writes is normalised and confined to the repository (no "..", no absolute paths,
 * no control characters, no symbolic links leading out). */
#ifndef BLZ_REPOSITORY_H
#define BLZ_REPOSITORY_H
#include "omr_config.h"
#include "omr_error.h"
#include <stdint.h>

/* What the template terms expand to for one import. */
typedef struct {
    const char *user, *group, *perms, *institution, *session, *thread;
    int64_t user_id, group_id, session_id;
    const char *const *paths;   /* the client paths of the fileset (for %hash%) */
    int npaths;
} blz_repo_vars_t;

/* The repository's root directory (malloc'ed, no trailing '/'): omero.managed.dir, else
 * omero.data.dir + "/ManagedRepository". */
char *blz_repo_root (omr_config_t *config);
/* Expand template for vars at the current time and create the directory below root.
 * Returns the new directory relative to root with a trailing '/' (OMERO's templatePrefix,
 * "root_0/2026-11/29/10-01-02.345/"), malloc'ed, or NULL with err. The directory is new
 * (a numeric suffix is added when the expansion already exists). */
char *blz_repo_make_dir (const char *root, const char *tmpl, const blz_repo_vars_t *vars, omr_err_t *err);
/* Check a client's relative file path against the rules (comma-separated names of
 * omero.fs.repo.path_rules) and OMERO's fixed ones; returns the normalised path ("a/b.tif",
 * malloc'ed) or NULL with ValidationException naming the path and the problem. */
char *blz_repo_check_path (const char *path, const char *rules, omr_err_t *err);
/* root + "/" + rel, after checking that rel is relative and normal and that the existing part
 * of the result does not lead out of root through a symbolic link; malloc'ed or NULL. */
char *blz_repo_join (const char *root, const char *rel, omr_err_t *err);
/* Create the parent directories of rel below root (as mkdir -p), confined like blz_repo_join. */
int blz_repo_make_parents (const char *root, const char *rel, omr_err_t *err);
/* Remove a directory below root and everything in it (for failed imports); rel must be a
 * normal relative path. Then remove its parents up to root while they are empty. */
int blz_repo_remove_tree (const char *root, const char *rel, omr_err_t *err);
#endif
