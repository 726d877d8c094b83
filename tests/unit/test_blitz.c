/* Unit tests of Blitz's self-contained modules: password hashes, permission strings, the caller
 * context JSON, the libpq conninfo and the embedded blitz_schema.sql. Prints the hash cost. */
/* UNIT_LINK: services/blitz */
#include "unit.h"
#include "../../services/blitz/blitz.h"
#include "../../services/blitz/bootstrap.h"
#include "../../services/blitz/password.h"
#include "omr_util.h"
#include <string.h>

static void
test_pbkdf2_roundtrip (void)
{
    char h1[BLZ_PASSWORD_MAX], h2[BLZ_PASSWORD_MAX];
    omr_err_t err = {0};
    CHECK_INT (blz_password_hash ("s3cret", 20000, h1, &err), 0);
    CHECK_INT (blz_password_hash ("s3cret", 20000, h2, &err), 0);
    CHECK (strncmp (h1, "$pbkdf2-sha256$i=20000$", 23) == 0);
    CHECK (strcmp (h1, h2) != 0);               /* salted */
    CHECK (strstr (h1, "s3cret") == NULL);
    CHECK (blz_password_is_hash (h1));
    CHECK (blz_password_verify ("s3cret", h1, 20000));
    CHECK (blz_password_verify ("s3cret", h2, 20000));
    CHECK (!blz_password_verify ("s3creT", h1, 20000));
    CHECK (!blz_password_verify ("", h1, 20000));
    CHECK (!blz_password_verify (NULL, h1, 20000));
}

static void
test_scrypt_roundtrip (void)
{
    char h[BLZ_PASSWORD_MAX];
    omr_err_t err = {0};
    CHECK_INT (blz_password_hash_scrypt ("pässwörd", 12, 8, 1, h, &err), 0);
    CHECK (strncmp (h, "$scrypt$ln=12,r=8,p=1$", 22) == 0);
    CHECK (blz_password_verify ("pässwörd", h, 20000));
    CHECK (!blz_password_verify ("passwort", h, 20000));
    CHECK_INT (blz_password_hash_scrypt ("x", 40, 8, 1, h, &err), -1);
    CHECK_STR (err.name, OMR_E_CONFIG);
}

static void
test_unusable_stored_values_never_match (void)
{
    const char *bad[] = {NULL, "", "ome", "$pbkdf2-sha256$i=10$AAAA$BBBB", "$md5$x$y$z",
                         "$pbkdf2-sha256$i=20000$!!!!$????", "$scrypt$ln=99,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK (!blz_password_verify ("ome", bad[i], 20000));
        CHECK (!blz_password_verify ("", bad[i], 20000));
    }
    CHECK (!blz_password_is_hash ("ome"));
    CHECK (!blz_password_is_hash (NULL));
}

static void
test_random_password (void)
{
    char a[25], b[25];
    omr_err_t err = {0};
    CHECK_INT (blz_password_random (a, sizeof a, &err), 0);
    CHECK_INT (blz_password_random (b, sizeof b, &err), 0);
    CHECK_INT (strlen (a), 24);
    CHECK (strcmp (a, b) != 0);
    CHECK (strspn (a, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") == 24);
}

static void
test_hash_cost (void)
{
    char h[BLZ_PASSWORD_MAX];
    omr_err_t err = {0};
    int64_t t0 = omr_mono_ms ();
    CHECK_INT (blz_password_hash ("benchmark", 0, h, &err), 0);
    int64_t t1 = omr_mono_ms ();
    CHECK (blz_password_verify ("benchmark", h, 0));
    int64_t t2 = omr_mono_ms ();
    CHECK (!blz_password_verify ("benchmark", NULL, 0));     /* unknown user: same work */
    int64_t t3 = omr_mono_ms ();
    printf ("BENCH PBKDF2-SHA256 %d iterations: hash %lld ms, verify %lld ms, unknown-user verify %lld ms\n",
            BLZ_PBKDF2_ITERATIONS, (long long) (t1 - t0), (long long) (t2 - t1), (long long) (t3 - t2));
}

static void
test_perms (void)
{
    static const struct { const char *s; long long v; } cases[] = {
        {"rw----", -120}, {"rwr---", -56}, {"rwra--", -40}, {"rwrw--", -8}, {"rwr-r-", -52},
        {"private", -120}, {"read-only", -56}, {"read-annotate", -40}, {"read-write", -8},
    };
    omr_err_t err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 0;
        CHECK_INT (blz_perms_parse (cases[i].s, &v, &err), 0);
        CHECK_INT (v, cases[i].v);
        char back[7];
        blz_perms_string (v, back);
        if (strchr (cases[i].s, '-') && strlen (cases[i].s) == 6)
            CHECK_STR (back, cases[i].s);
    }
    int64_t v;
    CHECK_INT (blz_perms_parse ("rwx---", &v, &err), -1);
    CHECK_STR (err.name, OMR_E_API);
    CHECK_INT (blz_perms_parse ("rw---", &v, &err), -1);
    CHECK_INT (blz_perms_parse (NULL, &v, &err), -1);
    json_t *j = blz_perms_json (-40, false);
    CHECK_STR (json_string_value (json_object_get (j, "perm")), "rwra--");
    CHECK (json_is_true (json_object_get (j, "isGroupAnnotate")));
    CHECK (json_is_false (json_object_get (j, "isGroupWrite")));
    json_decref (j);
}

static void
test_ctx_json (void)
{
    blz_ctx_t c, d;
    omr_err_t err = {0};
    CHECK_INT (blz_ctx_from_json (&c, NULL, &err), -1);
    CHECK_STR (err.name, OMR_E_SESSION);
    json_t *j = json_loads ("{\"session\":\"u-1\",\"sessionId\":7,\"userId\":2,\"userName\":\"alice\",\"groupId\":3,"
                            "\"groupIds\":[1,3],\"ownedGroupIds\":[3],\"admin\":true,\"privileges\":[\"Sudo\",\"Chown\","
                            "\"Bogus\"],\"sudoer\":{\"id\":0,\"userName\":\"root\"},\"ip\":\"::1\",\"agent\":\"cli\"}",
                            0, NULL);
    CHECK_INT (blz_ctx_from_json (&c, j, &err), 0);
    CHECK_INT (c.user_id, 2);
    CHECK_INT (c.group_id, 3);
    CHECK_INT (c.ngroups, 2);
    CHECK (blz_ctx_member (&c, 3) && !blz_ctx_member (&c, 4));
    CHECK (blz_ctx_owner (&c, 3) && !blz_ctx_owner (&c, 1));
    CHECK (blz_ctx_can (&c, "Sudo") && blz_ctx_can (&c, "Chown") && !blz_ctx_can (&c, "ModifyUser"));
    CHECK_INT (c.sudoer_id, 0);
    CHECK_STR (c.event_type, "User");
    json_t *out = blz_ctx_to_json (&c);
    CHECK_INT (blz_ctx_from_json (&d, out, &err), 0);
    CHECK (memcmp (&c, &d, sizeof c) == 0);
    CHECK_INT (json_array_size (json_object_get (out, "privileges")), 2);
    json_decref (out);
    json_decref (j);
    j = json_loads ("{\"userId\":2,\"groupIds\":\"1,3\"}", 0, NULL);
    CHECK_INT (blz_ctx_from_json (&c, j, &err), -1);
    CHECK_STR (err.name, OMR_E_API);
    json_decref (j);
    char list[64];
    int64_t ids[] = {1, 30, 500};
    blz_ctx_idlist (ids, 3, list, sizeof list);
    CHECK_STR (list, "1,30,500");
}

static void
test_conninfo_and_schema (void)
{
    char *ci = blz_db_conninfo ("127.0.0.1", "5432", "omero", "omero", "it's \\ secret");
    CHECK (strstr (ci, "host='127.0.0.1'") != NULL);
    CHECK (strstr (ci, "password='it\\'s \\\\ secret'") != NULL);
    free (ci);
    ci = blz_db_conninfo (NULL, "5432", "omero", "omero", "");
    CHECK (strstr (ci, "host=") == NULL && strstr (ci, "password") == NULL);
    free (ci);
    const char *sql = blz_bootstrap_schema_sql ();
    CHECK (strstr (sql, "CREATE TABLE IF NOT EXISTS blitz_session") != NULL);
    CHECK (strstr (sql, "blitz_login_failure") != NULL);
}

int
main (void)
{
    RUN (test_pbkdf2_roundtrip);
    RUN (test_scrypt_roundtrip);
    RUN (test_unusable_stored_values_never_match);
    RUN (test_random_password);
    RUN (test_hash_cost);
    RUN (test_perms);
    RUN (test_ctx_json);
    RUN (test_conninfo_and_schema);
    return UNIT_DONE ();
}
