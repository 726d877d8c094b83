/* tabletool: test driver of the OMERO.tables API.  Usage:
 *   omero-tabletool [--timeout S] [--no-row-numbers] PATH METHOD [JSON-ARGS | -]
 * calls METHOD (an omero.grid.Table method name) on the table file PATH with the JSON arguments
 * (an object; "-" reads them from stdin, nothing means {}) and prints the JSON result.  On error it
 * prints {"error": {"name", "message", "status"}} and exits with status 1 (2 for bad usage). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "omr_error.h"
#include "../../services/tables/table_api.h"

static int usage (void)
{
    fprintf (stderr, "usage: omero-tabletool [--timeout S] [--no-row-numbers] PATH METHOD [JSON-ARGS | -]\n");
    return 2;
}

int main (int argc, char **argv)
{
    tbl_api_opts_t opts = { .lock_timeout_s = 5.0 };
    int i = 1;
    for (; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
        if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc)
            opts.lock_timeout_s = atof (argv[++i]);
        else if (strcmp (argv[i], "--no-row-numbers") == 0)
            opts.omit_row_numbers = 1;
        else
            return usage ();
    }
    if (argc - i < 2 || argc - i > 3)
        return usage ();
    const char *path = argv[i], *method = argv[i + 1];
    const char *src = argc - i == 3 ? argv[i + 2] : "{}";
    json_error_t jerr;
    json_t *args = strcmp (src, "-") == 0 ? json_loadf (stdin, 0, &jerr)
                                          : json_loads (src, 0, &jerr);
    omr_err_t err;
    omr_err_clear (&err);
    json_t *res = NULL;
    if (!args)
        omr_err_set (&err, OMR_E_API, 400, "Bad JSON arguments: %s (line %d)", jerr.text, jerr.line);
    else
        res = tbl_api_call (path, method, args, &opts, &err);
    int rc = 0;
    if (!res) {
        res = json_pack ("{s:{s:s,s:s,s:i}}", "error", "name", err.name[0] ? err.name : OMR_E_INTERNAL,
                         "message", err.msg, "status", err.status);
        rc = 1;
    }
    json_dumpf (res, stdout, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (17));
    fputc ('\n', stdout);
    json_decref (res);
    json_decref (args);
    return rc;
}
