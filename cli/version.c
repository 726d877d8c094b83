/* version: `omero version` prints the OMERO version this command line implements. */
#include "cli.h"
#include "omero.h"
#include <stdio.h>
#include <string.h>

/* `omero version`. */
int
cli_version (cli_t *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help")) {
            printf ("usage: omero version [-h]\n\nVersion number\n\n"
                    "Optional Arguments:\n"
                    "  In addition to any higher level options\n\n"
                    "  -h, --help  show this help message and exit\n");
            return 0;
        }
        fprintf (stderr, "usage: omero version [-h]\nomero version: error: unrecognized arguments: %s\n",
                 argv[i]);
        return 2;
    }
    printf ("%s\n", omero_version ());
    return 0;
}
