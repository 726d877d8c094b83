/* context: the caller context of a request (docs/protocol.md "ctx"): who calls, in which group,
 * with which rights. Parsed from the request header, produced by ISession.resolve, and applied
 * to every database transaction (db.c) so row-level security sees the same caller. */
#ifndef BLZ_CONTEXT_H
#define BLZ_CONTEXT_H
#include "omr_error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define BLZ_MAX_GROUPS 512
#define BLZ_NPRIVILEGES 15

typedef struct {
    char session[64];           /* session uuid, "" for internal work */
    int64_t session_id;         /* session row id (0 = the bootstrap session) */
    int64_t user_id;
    char user_name[256];
    int64_t group_id;           /* current group, -1 = all member groups (reads only) */
    int64_t group_ids[BLZ_MAX_GROUPS];
    int ngroups;
    int64_t owned_ids[BLZ_MAX_GROUPS];
    int nowned;
    bool admin;                 /* member of the system group */
    unsigned privileges;        /* bit i = blz_privilege_name (i) held (admins only) */
    int64_t sudoer_id;          /* -1 when not a sudo session */
    char sudoer_name[256];
    char ip[64];
    char agent[256];
    char event_type[32];        /* "User" unless the session asked for another */
} blz_ctx_t;

/* Name of AdminPrivilege i (0..BLZ_NPRIVILEGES-1), or NULL. */
const char *blz_privilege_name (int i);
/* Index of a privilege name, -1 if unknown. */
int blz_privilege_index (const char *name);
/* All privileges. */
#define BLZ_ALL_PRIVILEGES ((1u << BLZ_NPRIVILEGES) - 1)

/* An internal context: administrator (root) with every privilege, all groups. */
void blz_ctx_internal (blz_ctx_t *ctx);
/* Parse the request header's ctx; NULL or a ctx without userId = not logged in (SessionException). */
int blz_ctx_from_json (blz_ctx_t *ctx, const json_t *json, omr_err_t *err);
/* The protocol.md JSON of a context (new reference). */
json_t *blz_ctx_to_json (const blz_ctx_t *ctx);
/* Whether the caller is a member / owner of a group. */
bool blz_ctx_member (const blz_ctx_t *ctx, int64_t gid);
bool blz_ctx_owner (const blz_ctx_t *ctx, int64_t gid);
/* Whether the caller is an administrator holding a privilege ("ModifyUser" …). */
bool blz_ctx_can (const blz_ctx_t *ctx, const char *privilege);
/* Comma-separated id list ("1,3") of groups or owned groups, for SET LOCAL. */
void blz_ctx_idlist (const int64_t *ids, int n, char *out, size_t len);
#endif
