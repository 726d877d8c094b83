/* Unit tests of the managed repository's layout (omero.fs.repo.path terms, path rules,
 * confinement, removal of failed filesets) and of the upload checksums against known values. */
/* UNIT_LINK: services/blitz */
#include "unit.h"
#include "../../services/blitz/checksum.h"
#include "../../services/blitz/repository.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[256];

static blz_repo_vars_t
vars (void)
{
    static const char *const paths[] = {"a/b.tif", "a/c.tif"};
    blz_repo_vars_t v = {.user = "alice", .user_id = 4, .group = "lab", .group_id = 3, .perms = "rw----",
                         .institution = NULL, .session = "6c2dae43-cfad-48ce-af6f-025569f9e6df", .session_id = 592,
                         .thread = "Blitz-0-worker-1", .paths = paths, .npaths = 2};
    return v;
}

static void
test_default_template (void)
{
    blz_repo_vars_t v = vars ();
    omr_err_t err = {0};
    char *p = blz_repo_make_dir (root, NULL, &v, &err);
    CHECK (p != NULL);
    time_t now = time (NULL);
    struct tm tm;
    localtime_r (&now, &tm);
    char want[64];
    snprintf (want, sizeof want, "alice_4/%04d-%02d/%02d/", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    CHECK (p && strncmp (p, want, strlen (want)) == 0);
    /* %time%: HH-MM-SS.mmm */
    const char *t = p ? p + strlen (want) : "";
    CHECK (strlen (t) == 13 && t[2] == '-' && t[5] == '-' && t[8] == '.' && t[12] == '/');
    char full[512];
    snprintf (full, sizeof full, "%s/%s", root, p ? p : "");
    struct stat st;
    CHECK (stat (full, &st) == 0 && S_ISDIR (st.st_mode));
    /* a second expansion at the same millisecond still gives a new directory */
    char *q = blz_repo_make_dir (root, "%user%_%userId%", &v, &err);
    char *r = blz_repo_make_dir (root, "%user%_%userId%", &v, &err);
    CHECK (q && r && strcmp (q, r) != 0);
    CHECK_STR (q, "alice_4-2/");   /* alice_4/ holds the default expansion above */
    CHECK_STR (r, "alice_4-3/");
    free (p);
    free (q);
    free (r);
}

static void
test_every_term (void)
{
    blz_repo_vars_t v = vars ();
    omr_err_t err = {0};
    char *p = blz_repo_make_dir (root, "x/%group%-%groupId%/%perms%/%session%/%sessionId%/%thread%/%monthname%", &v, &err);
    static const char *const months[] = {"January", "February", "March", "April", "May", "June", "July", "August",
                                         "September", "October", "November", "December"};
    time_t now = time (NULL);
    struct tm tm;
    localtime_r (&now, &tm);
    char want[256];
    snprintf (want, sizeof want, "x/lab-3/rw----/6c2dae43-cfad-48ce-af6f-025569f9e6df/592/Blitz-0-worker-1/%s/",
              months[tm.tm_mon]);
    CHECK_STR (p, want);
    free (p);
    /* %institution% vanishes when unset, takes its default, or the user's value */
    p = blz_repo_make_dir (root, "inst/%institution%/end", &v, &err);
    CHECK_STR (p, "inst/end/");
    free (p);
    p = blz_repo_make_dir (root, "inst2/%institution:Dundee Uni%", &v, &err);
    CHECK_STR (p, "inst2/Dundee Uni/");
    free (p);
    v.institution = "Somewhere/Else";
    p = blz_repo_make_dir (root, "inst3/%institution%", &v, &err);
    CHECK_STR (p, "inst3/Somewhere_Else/");
    free (p);
    v.institution = NULL;
    /* %hash% is constant for the same paths; %hash:3,3,2% splits it */
    char *h1 = blz_repo_make_dir (root, "h/%hash%", &v, &err), *h2 = blz_repo_make_dir (root, "h/%hash%", &v, &err);
    CHECK (h1 && h2 && strlen (h1) == 11 && strncmp (h1, h2, 10) == 0);
    char *hs = blz_repo_make_dir (root, "hs/%hash:3,3,2%", &v, &err);
    CHECK (hs && strlen (hs) == strlen ("hs/123/456/78/") && hs[6] == '/' && hs[10] == '/');
    CHECK (hs && h1 && strncmp (hs + 3, h1 + 2, 3) == 0);
    free (h1);
    free (h2);
    free (hs);
    /* %increment%: one past the highest existing */
    char *i1 = blz_repo_make_dir (root, "inc/n-%increment:3%", &v, &err);
    char *i2 = blz_repo_make_dir (root, "inc/n-%increment:3%", &v, &err);
    CHECK_STR (i1, "inc/n-001/");
    CHECK_STR (i2, "inc/n-002/");
    free (i1);
    free (i2);
    /* %subdirs%: nothing until the parent is full */
    char *s1 = blz_repo_make_dir (root, "sub/%subdirs:1%/leaf", &v, &err);
    CHECK_STR (s1, "sub/leaf/");
    free (s1);
    char d[512];
    for (int k = 0; k < 10; k++) {
        snprintf (d, sizeof d, "%s/sub2/e%d", root, k);
        mkdir (root, 0755);
        snprintf (d, sizeof d, "%s/sub2", root);
        mkdir (d, 0755);
        snprintf (d, sizeof d, "%s/sub2/e%d", root, k);
        mkdir (d, 0755);
    }
    s1 = blz_repo_make_dir (root, "sub2/%subdirs:1%/leaf", &v, &err);
    CHECK_STR (s1, "sub2/0/leaf/");
    free (s1);
    /* bad templates */
    err = (omr_err_t) {0};
    CHECK (blz_repo_make_dir (root, "a/%nosuch%", &v, &err) == NULL && strstr (err.msg, "nosuch"));
    err = (omr_err_t) {0};
    CHECK (blz_repo_make_dir (root, "a/%time%%increment%", &v, &err) == NULL);
}

static void
test_path_rules (void)
{
    const char *rules = "Windows required, UNIX required";
    omr_err_t err = {0};
    char *p = blz_repo_check_path ("dir/./sub//x.tif", rules, &err);
    CHECK_STR (p, "dir/sub/x.tif");
    free (p);
    static const char *const bad[] = {"../x.tif", "a/../../x", "/etc/passwd", "C:/x.tif", "a\001b", "x\x7f",
                                      "\xc2\x85next", "aux.tif", "COM1", "lpt9.txt", "$x", "what?.tif", "a:b", "a|b",
                                      "", NULL};
    for (int i = 0; bad[i]; i++) {
        err = (omr_err_t) {0};
        p = blz_repo_check_path (bad[i], rules, &err);
        if (p)
            fprintf (stderr, "  accepted: %s\n", bad[i]);
        CHECK (p == NULL && strcmp (err.name, "ValidationException") == 0);
        free (p);
    }
    /* optional rules only when asked */
    p = blz_repo_check_path ("-dash/.hidden/end. ", rules, &err);
    CHECK_STR (p, "-dash/.hidden/end. ");
    free (p);
    err = (omr_err_t) {0};
    CHECK (blz_repo_check_path (".hidden", "UNIX optional", &err) == NULL);
    CHECK (blz_repo_check_path ("end.", "Windows optional", &err) == NULL);
    p = blz_repo_check_path ("COM10.tif", rules, &err);
    CHECK_STR (p, "COM10.tif");
    free (p);
}

static void
test_confinement_and_removal (void)
{
    omr_err_t err = {0};
    char *p = blz_repo_join (root, "ok/file.tif", &err);
    CHECK (p != NULL);
    free (p);
    CHECK (blz_repo_join (root, "../out", &err) == NULL);
    CHECK (blz_repo_join (root, "/abs", &err) == NULL);
    /* a directory link leading out of the repository is refused; a file link is allowed */
    char l[512];
    snprintf (l, sizeof l, "%s/escape", root);
    CHECK (symlink ("/tmp", l) == 0);
    err = (omr_err_t) {0};
    CHECK (blz_repo_join (root, "escape/x.tif", &err) == NULL && strcmp (err.name, "SecurityViolation") == 0);
    CHECK (blz_repo_make_parents (root, "escape/deeper/x.tif", &err) < 0);
    snprintf (l, sizeof l, "%s/filelink.tif", root);
    CHECK (symlink ("/etc/hostname", l) == 0);
    p = blz_repo_join (root, "filelink.tif", &err);
    CHECK (p != NULL);
    free (p);
    /* removal takes the tree and the parents it leaves empty, never the root */
    CHECK (blz_repo_make_parents (root, "rm/a/b/c/f.tif", &err) == 0);
    snprintf (l, sizeof l, "%s/rm/a/b/c/f.tif", root);
    FILE *f = fopen (l, "w");
    if (f)
        fclose (f);
    CHECK (blz_repo_remove_tree (root, "rm/a/b/", &err) == 0);
    snprintf (l, sizeof l, "%s/rm", root);
    struct stat st;
    CHECK (stat (l, &st) < 0);
    CHECK (stat (root, &st) == 0);
}

static void
test_checksums (void)
{
    static const struct {
        const char *alg, *in, *hex;
    } known[] = {
        {"SHA1-160", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"MD5-128", "abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"CRC-32", "123456789", "2639f4cb"},           /* 0xcbf43926, little-endian bytes */
        {"Adler-32", "Wikipedia", "9803e611"},         /* 0x11E60398, little-endian bytes */
        {"File-Size-64", "abcd", "0400000000000000"},
        {"Murmur3-32", "", "00000000"},
        {"Murmur3-128", "", "00000000000000000000000000000000"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        omr_err_t err = {0};
        blz_checksum_t *c = blz_checksum_new (known[i].alg, &err);
        CHECK (c != NULL);
        /* fed in two pieces: streaming gives the same answer */
        size_t n = strlen (known[i].in);
        blz_checksum_update (c, known[i].in, n / 2);
        blz_checksum_update (c, known[i].in + n / 2, n - n / 2);
        char out[65];
        blz_checksum_final (&c, out);
        char want[65];
        size_t w = 0;
        for (const char *s = known[i].hex; *s; s++)
            if (*s != ' ')
                want[w++] = *s;
        want[w] = 0;
        if (strcmp (out, want))
            fprintf (stderr, "  %s: %s\n", known[i].alg, out);
        CHECK_STR (out, want);
    }
    /* Murmur3 (seed 0, as Guava's murmur3_32/murmur3_128) against a reference implementation:
     * whole blocks, tails and a one-byte-at-a-time feed */
    static const char *const mm[][3] = {
        {"hello", "47fa8b24", "029bbd41b3a7d8cb191dae486a901e5b"},
        {"The quick brown fox jumps over the lazy dog", "23f74f2e", "6c1b07bc7bbc4be347939ac4a93c437a"},
        {"0123456789abcdefX", "07095970", "f7d670b5acd2ebcd274b10829711728f"},
    };
    char out[65];
    omr_err_t err = {0};
    for (size_t i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            blz_checksum_t *c = blz_checksum_new (k ? "Murmur3-128" : "Murmur3-32", &err);
            for (const char *p = mm[i][0]; *p; p++)
                blz_checksum_update (c, p, 1);
            blz_checksum_final (&c, out);
            CHECK_STR (out, mm[i][1 + k]);
        }
    CHECK (blz_checksum_new ("SHA3", &err) == NULL && strcmp (err.name, "ApiUsageException") == 0);
    CHECK_STR (blz_checksum_negotiate ("MD5-128, CRC-32", "SHA1-160,MD5-128,CRC-32"), "MD5-128");
    CHECK_STR (blz_checksum_negotiate (NULL, "SHA1-160,MD5-128"), "SHA1-160");
    CHECK (blz_checksum_negotiate ("Adler-32", "SHA1-160") == NULL);
}

int
main (void)
{
    snprintf (root, sizeof root, "/tmp/test_repository.%d", (int) getpid ());
    mkdir (root, 0755);
    RUN (test_default_template);
    RUN (test_every_term);
    RUN (test_path_rules);
    RUN (test_confinement_and_removal);
    RUN (test_checksums);
    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", root);
    return UNIT_DONE ();
}
