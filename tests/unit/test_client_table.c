/* Unit tests of cli/table: OMERO's sql, csv, plain and json table styles. */
/* UNIT_LINK: cli */
#include "../../cli/table.h"
#include "unit.h"
#include <stdlib.h>

static cli_table_t *
sample (void)
{
    const char *h[] = {"id", "name", "perms", NULL};
    cli_table_t *t = cli_table_new (h);
    cli_table_row (t, "0", "system", "rw----");
    cli_table_row (t, "53", "lab, \"A\"", "rwr---");
    return t;
}

static void
test_sql (void)
{
    cli_table_t *t = sample ();
    char *s = cli_table_render (t);
    CHECK_STR (s, " id | name     | perms  \n"
                  "----+----------+--------\n"
                  " 0  | system   | rw---- \n"
                  " 53 | lab, \"A\" | rwr--- \n"
                  "(2 rows)");
    free (s);
    cli_table_set_align (t, "r");
    cli_table_page (t, 0, 25, 100);
    s = cli_table_render (t);
    CHECK (strstr (s, "  0 | system") != NULL);
    CHECK (strstr (s, "(2 rows, starting at 0 of approx. 100)") != NULL);
    free (s);
    cli_table_destroy (&t);
    CHECK (t == NULL);
}

static void
test_one_row_and_empty (void)
{
    const char *h[] = {"a", NULL};
    cli_table_t *t = cli_table_new (h);
    char *s = cli_table_render (t);
    CHECK_STR (s, " a \n---\n(0 rows)");
    free (s);
    cli_table_row (t, "é");
    s = cli_table_render (t);
    /* Width counts characters, not bytes. */
    CHECK_STR (s, " a \n---\n é \n(1 row)");
    free (s);
    cli_table_set_style (t, CLI_STYLE_JSON);
    s = cli_table_render (t);
    CHECK_STR (s, "[{\"a\": \"\\u00e9\"}]");
    free (s);
    cli_table_destroy (&t);
    t = cli_table_new (h);
    cli_table_set_style (t, CLI_STYLE_JSON);
    s = cli_table_render (t);
    CHECK_STR (s, "[]");
    free (s);
    cli_table_destroy (&t);
}

static void
test_csv_plain_json (void)
{
    cli_table_t *t = sample ();
    cli_table_set_style (t, CLI_STYLE_CSV);
    char *s = cli_table_render (t);
    CHECK_STR (s, "id,name,perms\n0,system,rw----\n53,\"lab, \"\"A\"\"\",rwr---");
    free (s);
    cli_table_set_style (t, CLI_STYLE_PLAIN);
    s = cli_table_render (t);
    CHECK_STR (s, "0,system,rw----\n53,\"lab, \"\"A\"\"\",rwr---");
    free (s);
    cli_table_set_style (t, CLI_STYLE_JSON);
    s = cli_table_render (t);
    CHECK_STR (s, "[{\"id\": \"0\", \"name\": \"system\", \"perms\": \"rw----\"},\n"
                  "{\"id\": \"53\", \"name\": \"lab, \\\"A\\\"\", \"perms\": \"rwr---\"}]");
    free (s);
    cli_table_destroy (&t);
}

static void
test_style_names (void)
{
    cli_style_t st = CLI_STYLE_SQL;
    CHECK_INT (cli_style_parse ("csv", &st), 0);
    CHECK_INT (st, CLI_STYLE_CSV);
    CHECK_INT (cli_style_parse ("json", &st), 0);
    CHECK_INT (st, CLI_STYLE_JSON);
    CHECK_INT (cli_style_parse ("xml", &st), -1);
    CHECK_INT (st, CLI_STYLE_JSON);
    CHECK_INT (cli_style_parse (NULL, &st), -1);
}

int
main (void)
{
    RUN (test_sql);
    RUN (test_one_row_and_empty);
    RUN (test_csv_plain_json);
    RUN (test_style_names);
    return UNIT_DONE ();
}
