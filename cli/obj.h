/* obj: `omero obj` (create, update and inspect any model object) and the helpers `omero hql`
 * shares with it to print model objects the way OMERO's CLI does. */
#ifndef CLI_OBJ_H
#define CLI_OBJ_H
#include "cli.h"
#include <jansson.h>

/* The class name of a model object's "@type" ("…#Project" -> "Project"). */
const char *cli_obj_class (const json_t *obj);
/* A JSON value as the CLI prints it (malloc'ed): strings as they are, numbers and booleans as
 * Python prints them (1.0, True), references as "Class:ID" (suffix "I" on the class when
 * ice_names), quantities as "1.5 MICROMETER", map entries as "(key,value)" joined with ",",
 * null as "". */
char *cli_obj_value_text (const json_t *v, bool ice_names);
/* `omero obj`. */
int cli_obj (cli_t *cli, int argc, char **argv);
#endif
