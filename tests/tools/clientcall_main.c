/* clientcall: a test driver of the public client API (omero.h). It runs a list of steps on one
 * client, so tests can check logins, JSON calls, byte uploads and downloads, errors and the reuse
 * of one connection:
 *   omero-clientcall HOST PORT [--insecure] [--ca FILE] STEP…
 *   steps: login USER PASS [GROUP|-] | sudo ADMIN PASS USER | join KEY | session | keepalive |
 *          logout | ec | group ID | call SERVICE METHOD JSON | upload SERVICE METHOD JSON FILE |
 *          download SERVICE METHOD JSON FILE | stream SERVICE METHOD JSON FILE [LEN]
 * (stream uploads FILE through a read callback in 64 KiB pieces, claiming LEN bytes if given)
 * Each step prints one line (JSON replies compact); a failure prints
 * "ERROR <name> <status> <message>" and ends with status 1. */
#include "omero.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
fail (const omero_err_t *e)
{
    printf ("ERROR %s %d %s\n", e->name, e->status, e->msg);
    return 1;
}

static void
print_json (json_t *j)
{
    char *s = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    printf ("%s\n", s ? s : "null");
    free (s);
}

static long
read_file (void *buf, size_t cap, void *arg)
{
    if (cap > 65536)
        cap = 65536;
    size_t n = fread (buf, 1, cap, arg);
    return n ? (long) n : -1;
}

static json_t *
parse (const char *text)
{
    return json_loads (text, JSON_DECODE_ANY, NULL);
}

int
main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr, "usage: omero-clientcall HOST PORT [--insecure] [--ca FILE] STEP…\n");
        return 2;
    }
    omero_err_t err = {0};
    omero_client_t *c = omero_client_new (argv[1], atoi (argv[2]), &err);
    if (!c)
        return fail (&err);
    int rc = 0;
    for (int i = 3; i < argc && rc == 0; i++) {
        const char *s = argv[i];
        int left = argc - i - 1;
        json_t *r = NULL;
        if (!strcmp (s, "--insecure"))
            omero_client_set_insecure (c, true);
        else if (!strcmp (s, "--ca") && left >= 1) {
            if (omero_client_set_ca_file (c, argv[++i], &err) < 0)
                rc = fail (&err);
        }
        else if (!strcmp (s, "login") && left >= 3) {
            const char *g = strcmp (argv[i + 3], "-") ? argv[i + 3] : NULL;
            if (omero_client_login (c, argv[i + 1], argv[i + 2], g, &err) < 0)
                rc = fail (&err);
            else
                printf ("%s\n", omero_client_session (c));
            i += 3;
        }
        else if (!strcmp (s, "sudo") && left >= 3) {
            if (omero_client_login_sudo (c, argv[i + 1], argv[i + 2], argv[i + 3], NULL, &err) < 0)
                rc = fail (&err);
            else
                printf ("%s\n", omero_client_session (c));
            i += 3;
        }
        else if (!strcmp (s, "join") && left >= 1) {
            if (omero_client_join (c, argv[++i], &err) < 0)
                rc = fail (&err);
            else
                printf ("%s\n", omero_client_session (c));
        }
        else if (!strcmp (s, "session"))
            printf ("%s\n", omero_client_session (c) ? omero_client_session (c) : "(none)");
        else if (!strcmp (s, "keepalive")) {
            if (omero_client_keepalive (c, &err) < 0)
                rc = fail (&err);
            else
                printf ("alive\n");
        }
        else if (!strcmp (s, "logout")) {
            if (omero_client_logout (c, &err) < 0)
                rc = fail (&err);
            else
                printf ("closed\n");
        }
        else if (!strcmp (s, "ec")) {
            if (!(r = omero_client_event_context (c, &err)))
                rc = fail (&err);
            else
                print_json (r);
        }
        else if (!strcmp (s, "group") && left >= 1) {
            if (omero_client_set_group (c, atoll (argv[++i]), &err) < 0)
                rc = fail (&err);
            else
                printf ("switched\n");
        }
        else if (!strcmp (s, "call") && left >= 3) {
            json_t *args = parse (argv[i + 3]);
            if (!(r = omero_client_call (c, argv[i + 1], argv[i + 2], args, &err)))
                rc = fail (&err);
            else
                print_json (r);
            json_decref (args);
            i += 3;
        }
        else if (!strcmp (s, "upload") && left >= 4) {
            json_t *args = parse (argv[i + 3]);
            FILE *f = fopen (argv[i + 4], "rb");
            char *data = NULL;
            size_t len = 0;
            if (f) {
                fseek (f, 0, SEEK_END);
                len = (size_t) ftell (f);
                fseek (f, 0, SEEK_SET);
                data = malloc (len + 1);
                if (fread (data, 1, len, f) != len)
                    len = 0;
                fclose (f);
            }
            if (!(r = omero_client_upload (c, argv[i + 1], argv[i + 2], args, data, len, &err)))
                rc = fail (&err);
            else
                print_json (r);
            free (data);
            json_decref (args);
            i += 4;
        }
        else if (!strcmp (s, "stream") && left >= 4) {
            const char *svc = argv[i + 1], *meth = argv[i + 2], *path = argv[i + 4];
            json_t *args = parse (argv[i + 3]);
            i += 4;
            FILE *f = fopen (path, "rb");
            size_t len = 0;
            if (f) {
                fseek (f, 0, SEEK_END);
                len = (size_t) ftell (f);
                fseek (f, 0, SEEK_SET);
            }
            if (i + 1 < argc && strspn (argv[i + 1], "0123456789") == strlen (argv[i + 1]))
                len = (size_t) atoll (argv[++i]);
            if (!f) {
                fprintf (stderr, "omero-clientcall: cannot read %s\n", path);
                rc = 2;
            }
            else if (!(r = omero_client_upload_stream (c, svc, meth, args, read_file, f, len, &err)))
                rc = fail (&err);
            else
                print_json (r);
            if (f)
                fclose (f);
            json_decref (args);
        }
        else if (!strcmp (s, "download") && left >= 4) {
            json_t *args = parse (argv[i + 3]);
            void *data = NULL;
            size_t len = 0;
            if (omero_client_download_buf (c, argv[i + 1], argv[i + 2], args, &data, &len, &r, &err) < 0)
                rc = fail (&err);
            else {
                FILE *f = fopen (argv[i + 4], "wb");
                if (f) {
                    fwrite (data, 1, len, f);
                    fclose (f);
                }
                print_json (r);
            }
            free (data);
            json_decref (args);
            i += 4;
        }
        else {
            fprintf (stderr, "omero-clientcall: bad step '%s'\n", s);
            rc = 2;
        }
        json_decref (r);
        fflush (stdout);
    }
    omero_client_destroy (&c);
    return rc;
}
