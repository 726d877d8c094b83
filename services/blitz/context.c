/* context: caller context parsing, encoding and the AdminPrivilege names. */
#include "context.h"
#include <stdio.h>
#include <string.h>

static const char *privileges[BLZ_NPRIVILEGES] = {
    "Chgrp", "Chown", "DeleteFile", "DeleteManagedRepo", "DeleteOwned", "DeleteScriptRepo", "ModifyGroup",
    "ModifyGroupMembership", "ModifyUser", "ReadSession", "Sudo", "WriteFile", "WriteManagedRepo", "WriteOwned",
    "WriteScriptRepo",
};

const char *
blz_privilege_name (int i)
{
    return i >= 0 && i < BLZ_NPRIVILEGES ? privileges[i] : NULL;
}

int
blz_privilege_index (const char *name)
{
    for (int i = 0; name && i < BLZ_NPRIVILEGES; i++)
        if (strcmp (privileges[i], name) == 0)
            return i;
    return -1;
}

void
blz_ctx_internal (blz_ctx_t *ctx)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->user_id = 0;
    snprintf (ctx->user_name, sizeof ctx->user_name, "root");
    ctx->group_id = -1;
    ctx->admin = true;
    ctx->privileges = BLZ_ALL_PRIVILEGES;
    ctx->sudoer_id = -1;
    ctx->group_ids[0] = 0;
    ctx->group_ids[1] = 1;
    ctx->ngroups = 2;
    snprintf (ctx->event_type, sizeof ctx->event_type, "Internal");
}

static void
copy_str (char *dst, size_t len, const json_t *v)
{
    const char *s = json_string_value (v);
    snprintf (dst, len, "%s", s ? s : "");
}

static int
id_array (const json_t *arr, int64_t *out, int *n, const char *what, omr_err_t *err)
{
    *n = 0;
    if (!arr || json_is_null (arr))
        return 0;
    if (!json_is_array (arr))
        return omr_err_set (err, OMR_E_API, 400, "ctx.%s must be an array of ids", what);
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        if (!json_is_integer (v))
            return omr_err_set (err, OMR_E_API, 400, "ctx.%s must be an array of ids", what);
        if (*n >= BLZ_MAX_GROUPS)
            return omr_err_set (err, OMR_E_API, 400, "ctx.%s has more than %d groups", what, BLZ_MAX_GROUPS);
        out[(*n)++] = json_integer_value (v);
    }
    return 0;
}

int
blz_ctx_from_json (blz_ctx_t *ctx, const json_t *json, omr_err_t *err)
{
    memset (ctx, 0, sizeof *ctx);
    ctx->sudoer_id = -1;
    ctx->group_id = -1;
    if (!json || !json_is_object (json) || !json_is_integer (json_object_get (json, "userId")))
        return omr_err_set (err, OMR_E_SESSION, 401, "not logged in: this call needs a session");
    ctx->user_id = json_integer_value (json_object_get (json, "userId"));
    copy_str (ctx->session, sizeof ctx->session, json_object_get (json, "session"));
    ctx->session_id = json_integer_value (json_object_get (json, "sessionId"));
    copy_str (ctx->user_name, sizeof ctx->user_name, json_object_get (json, "userName"));
    json_t *g = json_object_get (json, "groupId");
    ctx->group_id = json_is_integer (g) ? json_integer_value (g) : -1;
    if (id_array (json_object_get (json, "groupIds"), ctx->group_ids, &ctx->ngroups, "groupIds", err) < 0
        || id_array (json_object_get (json, "ownedGroupIds"), ctx->owned_ids, &ctx->nowned, "ownedGroupIds", err) < 0)
        return -1;
    ctx->admin = json_is_true (json_object_get (json, "admin"));
    json_t *privs = json_object_get (json, "privileges");
    size_t i;
    json_t *v;
    if (ctx->admin) {
        json_array_foreach (privs, i, v) {
            int k = blz_privilege_index (json_string_value (v));
            if (k >= 0)
                ctx->privileges |= 1u << k;
        }
    }
    json_t *sudoer = json_object_get (json, "sudoer");
    if (json_is_object (sudoer)) {
        ctx->sudoer_id = json_integer_value (json_object_get (sudoer, "id"));
        copy_str (ctx->sudoer_name, sizeof ctx->sudoer_name, json_object_get (sudoer, "userName"));
    }
    else if (json_is_integer (sudoer))
        ctx->sudoer_id = json_integer_value (sudoer);
    copy_str (ctx->ip, sizeof ctx->ip, json_object_get (json, "ip"));
    copy_str (ctx->agent, sizeof ctx->agent, json_object_get (json, "agent"));
    copy_str (ctx->event_type, sizeof ctx->event_type, json_object_get (json, "eventType"));
    if (!ctx->event_type[0])
        snprintf (ctx->event_type, sizeof ctx->event_type, "User");
    return 0;
}

json_t *
blz_ctx_to_json (const blz_ctx_t *ctx)
{
    json_t *gids = json_array (), *owned = json_array (), *privs = json_array ();
    for (int i = 0; i < ctx->ngroups; i++)
        json_array_append_new (gids, json_integer (ctx->group_ids[i]));
    for (int i = 0; i < ctx->nowned; i++)
        json_array_append_new (owned, json_integer (ctx->owned_ids[i]));
    for (int i = 0; ctx->admin && i < BLZ_NPRIVILEGES; i++)
        if (ctx->privileges & (1u << i))
            json_array_append_new (privs, json_string (privileges[i]));
    json_t *sudoer = ctx->sudoer_id >= 0
                         ? json_pack ("{s:I,s:s}", "id", (json_int_t) ctx->sudoer_id, "userName", ctx->sudoer_name)
                         : json_null ();
    return json_pack ("{s:s,s:I,s:I,s:s,s:I,s:o,s:o,s:b,s:o,s:o,s:s,s:s,s:s}", "session", ctx->session, "sessionId",
                      (json_int_t) ctx->session_id, "userId", (json_int_t) ctx->user_id, "userName", ctx->user_name,
                      "groupId", (json_int_t) ctx->group_id, "groupIds", gids, "ownedGroupIds", owned, "admin",
                      ctx->admin, "privileges", privs, "sudoer", sudoer, "ip", ctx->ip, "agent", ctx->agent,
                      "eventType", ctx->event_type[0] ? ctx->event_type : "User");
}

bool
blz_ctx_member (const blz_ctx_t *ctx, int64_t gid)
{
    for (int i = 0; i < ctx->ngroups; i++)
        if (ctx->group_ids[i] == gid)
            return true;
    return false;
}

bool
blz_ctx_owner (const blz_ctx_t *ctx, int64_t gid)
{
    for (int i = 0; i < ctx->nowned; i++)
        if (ctx->owned_ids[i] == gid)
            return true;
    return false;
}

bool
blz_ctx_can (const blz_ctx_t *ctx, const char *privilege)
{
    int k = blz_privilege_index (privilege);
    return ctx->admin && k >= 0 && (ctx->privileges & (1u << k));
}

void
blz_ctx_idlist (const int64_t *ids, int n, char *out, size_t len)
{
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < n && off + 24 < len; i++)
        off += snprintf (out + off, len - off, "%s%lld", i ? "," : "", (long long) ids[i]);
}
